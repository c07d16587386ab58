"""Evaluate merged cohort profiles of a window against the baseline -> WindowResult.

Every cohort is compared with its own baseline when the baseline has one for it, else with the
global baseline (``Baseline.profile_for``). All drift metrics that apply to a feature's type
are computed (psi, ks, js, wasserstein for numeric; psi, js, chi2 for categorical); the
configured ones (``drift.metric``/``metrics``) decide each feature's ``status``. Expected
events per window (the volume check) come from the baseline's training rate when it was built
with a time span (``meta["span_seconds"]``, see :mod:`stream.sources.baselines`).

Live references (``live``: the trailing and seasonal profiles of each cohort, from
:class:`~stream.engine.references.ReferenceHistory`; and with ``compare``, the reference cohort
of the same window for every other cohort of its segment) are evaluated the same way, one
batched call per reference with the reference's own rules, into ``CohortResult.references``.
Both sides are then samples: the tests already are two-sample ones (docs/statistics.md).

>>> from driftline.sketches.schema import NumericSpec, ProfileSchema
>>> ev = WindowEvaluator("m", ProfileSchema((NumericSpec("x"),)), None)
>>> ev.evaluate(0.0, 300.0, "5m", {}).tier
'5m'
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from driftline.sketches.baseline import Baseline
from driftline.sketches.drift import DEFAULT_THRESHOLDS
from driftline.sketches.evaluate_batch import evaluate_profiles
from driftline.sketches.profile import CohortProfile
from driftline.sketches.schema import ProfileSchema
from driftline.stream.config.alerts import DriftConfig
from driftline.stream.config.references import (
    COHORT_PREFIX,
    CompareConfig,
    ReferencesConfig,
    other_references,
    reference_drift,
)
from driftline.stream.engine.cohorts import GLOBAL
from driftline.stream.engine.partial import CohortKey
from driftline.stream.engine.results import (
    ALL_METRICS,
    CohortResult,
    ReferenceResult,
    WindowResult,
)


class _Rules:
    """What the evaluation of one reference needs from its drift rules."""

    __slots__ = ("primary", "min_samples", "alpha", "thresholds")

    def __init__(self, drift: DriftConfig | None) -> None:
        if drift is None:
            self.primary: tuple[str, ...] = ("psi",)
            self.min_samples = 500
            self.alpha = 0.01
            self.thresholds: dict[str, float] = dict(DEFAULT_THRESHOLDS)
            return
        self.primary = tuple(drift.metric_names)
        self.min_samples = int(drift.min_samples)
        self.alpha = float(drift.alpha)
        self.thresholds = {}
        for m in ALL_METRICS:
            tiers = drift.tiers(m)
            self.thresholds[m] = (tiers.warning if tiers.warning is not None
                                  else DEFAULT_THRESHOLDS.get(m, 0.1))


class WindowEvaluator:
    """Turns ``{(segment, cohort): profile}`` of one window into a :class:`WindowResult`."""

    def __init__(
        self,
        monitor: str,
        schema: ProfileSchema,
        baseline: Baseline | None,
        drift: DriftConfig | None = None,
        *,
        references: ReferencesConfig | None = None,
        compare: CompareConfig | None = None,
    ) -> None:
        self.monitor = monitor
        self.schema = schema
        self._empty = CohortProfile(schema)
        rules = _Rules(drift)
        self.primary = rules.primary
        self.min_samples = rules.min_samples
        self.alpha = rules.alpha
        self.thresholds = rules.thresholds
        base = drift or DriftConfig()
        self.rules = {name: _Rules(reference_drift(base, ref)) for name, ref in
                      other_references(references or ReferencesConfig(), compare).items()}
        self.compare = compare
        self.use(baseline)

    def use(self, baseline: Baseline | None) -> None:
        """Evaluate the windows closed from now on against ``baseline`` (a swap)."""
        self.baseline = baseline
        meta = baseline.meta if baseline is not None else {}
        self.span = float(meta.get("span_seconds") or 0.0)
        self.segment_rows: dict[str, dict[str, int]] = dict(meta.get("segment_rows") or {})
        self.baseline_info = None if baseline is None else baseline_info(baseline)

    def baseline_for(self, key: CohortKey) -> tuple[CohortProfile, bool]:
        if self.baseline is None:
            return self._empty, False
        if key == GLOBAL:
            return self.baseline.global_profile, True
        return self.baseline.profile_for(*key), self.baseline.has_own(*key)

    def expected(self, key: CohortKey, seconds: float) -> float | None:
        if self.baseline is None or self.span <= 0:
            return None
        rows: int | None = (self.baseline.rows if key == GLOBAL
                            else self.segment_rows.get(key[0], {}).get(key[1]))
        return None if rows is None else rows / self.span * seconds

    def evaluate(self, start: float, end: float, tier: str,
                 profiles: Mapping[CohortKey, CohortProfile], complete: bool = True,
                 sources: int = 0,
                 live: Mapping[str, Mapping[CohortKey, CohortProfile]] | None = None
                 ) -> WindowResult:
        t0 = time.perf_counter()
        keys = sorted(profiles, key=lambda k: (k != GLOBAL, k))
        bases = [self.baseline_for(key) for key in keys]
        evals = evaluate_profiles([(profiles[k], b[0]) for k, b in zip(keys, bases, strict=True)],
                                  ALL_METRICS, self.thresholds, self.min_samples, self.alpha)
        cohorts = [CohortResult(key[0], key[1], profiles[key].events, ev, profiles[key], own,
                                self.expected(key, end - start))
                   for key, (_, own), ev in zip(keys, bases, evals, strict=True)]
        refs = dict(live or {})
        if self.compare is not None:
            ref_key = (self.compare.segment, self.compare.reference)
            if ref_key in profiles:
                refs[COHORT_PREFIX + self.compare.reference] = {
                    k: profiles[ref_key] for k in keys
                    if k[0] == ref_key[0] and k != ref_key}
        for name, by_key in refs.items():
            rules = self.rules.get(name)
            todo = [(i, by_key[k]) for i, k in enumerate(keys) if k in by_key]
            if rules is None or not todo:
                continue
            done = evaluate_profiles([(profiles[keys[i]], ref) for i, ref in todo], ALL_METRICS,
                                     rules.thresholds, rules.min_samples, rules.alpha)
            for (i, _), ev in zip(todo, done, strict=True):
                cohorts[i].references.append(ReferenceResult(name, ev, rules.primary))
        return WindowResult(self.monitor, start, end, tier, cohorts, self.primary, complete,
                            sources, time.perf_counter() - t0, baseline=self.baseline_info)


def baseline_info(baseline: Baseline) -> dict[str, Any]:
    """What every result says about the baseline it was evaluated against: the content
    ``version``, when it was ``built_at`` and the ``location`` it was loaded from (None for a
    baseline built in memory)."""
    return {"version": baseline.version, "built_at": baseline.created_at.isoformat(),
            "location": baseline.location}
