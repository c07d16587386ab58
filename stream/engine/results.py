"""WindowResult: one evaluated window (a base window or a rollup) with every cohort in it.

``to_json_records()`` gives one JSON-ready record per window x cohort (the results topic);
``to_report()`` gives the backtest shape of DESIGN.md (field names fixed, extra fields added).
Every feature record carries ``reference``: ``training`` for the cohort's ``features`` (against
the training baseline); the cohort's ``references`` list holds one entry per other reference
(``trailing``, ``seasonal``, ``cohort:<value>``) with the reference's events and its own
feature records.

>>> r = WindowResult("m", 0.0, 300.0, "5m", [])
>>> r.to_report()["tier"], r.label
('5m', '5m@1970-01-01T00:00:00Z')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from driftline.sketches.drift import DriftScore
from driftline.sketches.evaluate import QUANTILE_LEVELS, FeatureEvaluation, ProfileEvaluation
from driftline.sketches.profile import CohortProfile
from driftline.stream.config.references import TRAINING

ALL_METRICS = ("psi", "ks", "js", "wasserstein", "chi2")
_STATUS_RANK = {"insufficient_data": 0, "ok": 1, "drift": 2}


def iso(ts: float) -> str:
    """``2023-11-14T22:13:20Z``; a time beyond what ``datetime`` holds (years 1 to 9999, which
    the decoder enforces for event times) still gets a label instead of an exception."""
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return f"@{ts:.0f}" if math.isfinite(ts) else f"@{ts}"


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(slots=True)
class ReferenceResult:
    """A cohort evaluated against a reference other than the training baseline."""

    reference: str
    evaluation: ProfileEvaluation
    primary_metrics: tuple[str, ...] = ("psi",)


@dataclass(slots=True)
class CohortResult:
    """One cohort of one window: its events, profile and evaluation against its baseline."""

    segment: str
    cohort: str
    n: int
    evaluation: ProfileEvaluation
    profile: CohortProfile
    own_baseline: bool = False
    expected_events: float | None = None
    references: list[ReferenceResult] = field(default_factory=list)

    @property
    def features(self) -> dict[str, FeatureEvaluation]:
        return self.evaluation.features


@dataclass(slots=True)
class WindowResult:
    """An evaluated window. ``tier`` is the window label ("5m", "1h"); ``complete`` is False for
    a rollup closed early at the end of the input."""

    monitor: str
    start: float
    end: float
    tier: str
    cohorts: list[CohortResult]
    primary_metrics: tuple[str, ...] = ("psi",)
    complete: bool = True
    sources: int = 0
    evaluation_seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] | None = None  # version, built_at, location of the baseline used

    @property
    def label(self) -> str:
        return f"{self.tier}@{iso(self.start)}"

    def cohort(self, segment: str, cohort: str) -> CohortResult | None:
        for c in self.cohorts:
            if c.segment == segment and c.cohort == cohort:
                return c
        return None

    # -- serialization ----------------------------------------------------------------------
    def feature_record(self, fe: FeatureEvaluation, reference: str = TRAINING,
                       primary_metrics: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The backtest/results record of one feature (names from DESIGN.md, plus extras)."""
        rec: dict[str, Any] = {"name": fe.name, "type": fe.type, "n": fe.n, "m": fe.m,
                               "null_ratio": _num(fe.quality.null_ratio)}
        for metric in ALL_METRICS:
            s = fe.scores.get(metric)
            rec[metric] = None if s is None else _num(s.value)
        primary = self.primary_score(fe, primary_metrics)
        rec["p_value"] = None if primary is None else _num(primary.p_value)
        rec["metric"] = None if primary is None else primary.metric
        rec["status"] = self.status(fe, primary_metrics)
        rec["reference"] = reference
        rec["quality"] = {k: _num(v) for k, v in fe.quality.to_dict().items() if k != "n"}
        rec["scores"] = {
            k: {"value": _num(s.value), "p_value": _num(s.p_value), "status": s.status,
                "error_bound": _num(s.error_bound),
                "contributions": [[c[0], _num(c[1]), _num(c[2]), _num(c[3])]
                                  for c in s.contributions]}
            for k, s in fe.scores.items()
        }
        if fe.quantiles_current is not None:
            rec["quantiles"] = {
                "levels": list(QUANTILE_LEVELS),
                "current": [_num(v) for v in fe.quantiles_current],
                "baseline": [_num(v) for v in fe.quantiles_baseline or ()],
            }
        if fe.bins is not None:  # the distribution on the baseline's bins, both sides
            rec["bins"] = {"labels": list(fe.bins.labels),
                           "baseline": [round(v, 6) for v in fe.bins.baseline],
                           "current": [round(v, 6) for v in fe.bins.current],
                           "exact": fe.bins.exact, "share_error": _num(fe.bins.share_error)}
        return rec

    def primary_score(self, fe: FeatureEvaluation,
                      primary_metrics: tuple[str, ...] | None = None) -> DriftScore | None:
        for metric in (*(primary_metrics or self.primary_metrics), "psi"):
            if metric in fe.scores:
                return fe.scores[metric]
        return None

    def status(self, fe: FeatureEvaluation, primary_metrics: tuple[str, ...] | None = None
               ) -> str:
        """The worst status over the configured metrics that apply to the feature's type."""
        primary = primary_metrics or self.primary_metrics
        statuses = [fe.scores[m].status for m in primary if m in fe.scores]
        if not statuses:
            s = self.primary_score(fe, primary)
            return "insufficient_data" if s is None else s.status
        return max(statuses, key=lambda s: _STATUS_RANK.get(s, 0))

    def _window_fields(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "start": iso(self.start), "end": iso(self.end),
                "start_ts": self.start, "end_ts": self.end, "tier": self.tier,
                "complete": self.complete, "baseline": self.baseline}

    def to_json_records(self) -> list[dict[str, Any]]:
        """One record per window x cohort, for the results topic."""
        out = []
        for c in self.cohorts:
            rec = self._window_fields()
            rec.update(self._cohort_dict(c))
            out.append(rec)
        return out

    def _cohort_dict(self, c: CohortResult) -> dict[str, Any]:
        out = {"segment": c.segment, "cohort": c.cohort, "n": c.n,
               "own_baseline": c.own_baseline, "expected_events": _num(c.expected_events),
               "features": [self.feature_record(fe) for fe in c.features.values()]}
        if c.references:
            out["references"] = [
                {"reference": r.reference, "n": r.evaluation.baseline_events,
                 "features": [self.feature_record(fe, r.reference, r.primary_metrics)
                              for fe in r.evaluation.features.values()]}
                for r in c.references]
        return out

    def to_report(self) -> dict[str, Any]:
        """The window entry of the backtest report."""
        rec = self._window_fields()
        rec["cohorts"] = [self._cohort_dict(c) for c in self.cohorts]
        return rec

    def drifting(self) -> list[tuple[str, str, str]]:
        """(segment, cohort, feature) whose status against the training baseline is ``drift``."""
        return [(c.segment, c.cohort, name) for c in self.cohorts
                for name, fe in c.features.items() if self.status(fe) == "drift"]
