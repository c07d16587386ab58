"""Evaluate a whole cohort profile against its baseline profile: drift scores, quality rates
and quantile overlays for every feature.

Example:
    >>> import numpy as np
    >>> from driftline.sketches.baseline import Baseline
    >>> from driftline.sketches.column import Column
    >>> from driftline.sketches.schema import NumericSpec
    >>> rng = np.random.default_rng(3)
    >>> b = Baseline.build([NumericSpec("x")], {"x": Column(rng.normal(size=20_000))})
    >>> cur = CohortProfile(b.schema)
    >>> cur.update({"x": Column(rng.normal(1.0, 1.0, 2_000))}, events=2_000)
    >>> ev = evaluate_profile(cur, b.global_profile, ["psi", "ks"], {"psi": 0.2}, min_samples=500)
    >>> ev.features["x"].scores["psi"].status, ev.events
    ('drift', 2000)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np

from driftline.sketches.bins import bin_table
from driftline.sketches.categorical import CategoricalSketch
from driftline.sketches.drift import DriftScore, compare, metrics_for, with_status
from driftline.sketches.numeric import NumericSketch
from driftline.sketches.profile import CohortProfile
from driftline.sketches.quality import QualityRates

QUANTILE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class BinShares:
    """The distribution of a feature on the baseline's bins, both sides: raw shares (counts over
    the side's total, no smoothing) of the current window and of the baseline. ``exact`` is
    False when a side was re-binned from its quantile sketch; ``share_error`` then bounds the
    error of any single share (see :class:`~sketches.bins.BinTable`)."""

    labels: tuple[str, ...]
    current: tuple[float, ...]
    baseline: tuple[float, ...]
    exact: bool
    share_error: float


class FeatureEvaluation(NamedTuple):
    """One feature of one cohort: drift scores by metric, quality rates and (numeric only)
    current/baseline quantiles at :data:`QUANTILE_LEVELS`. ``in_baseline`` is False when the
    baseline has no such feature: every score is then ``insufficient_data`` with ``m = 0``.
    An immutable record (a window builds hundreds: a named tuple is built 4x faster than a
    frozen dataclass)."""

    name: str
    type: Literal["numeric", "categorical"]
    n: int
    m: int
    scores: dict[str, DriftScore]
    quality: QualityRates
    quantiles_current: tuple[float, ...] | None
    quantiles_baseline: tuple[float, ...] | None
    in_baseline: bool = True
    bins: BinShares | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "n": self.n, "m": self.m,
                "in_baseline": self.in_baseline,
                "scores": {k: v.to_dict() for k, v in self.scores.items()},
                "quality": self.quality.to_dict(),
                "quantiles_current": self.quantiles_current,
                "quantiles_baseline": self.quantiles_baseline}


@dataclass(frozen=True)
class ProfileEvaluation:
    """All features of one cohort profile, plus its event count."""

    events: int
    baseline_events: int
    features: dict[str, FeatureEvaluation] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"events": self.events, "baseline_events": self.baseline_events,
                "features": {k: v.to_dict() for k, v in self.features.items()}}


def evaluate_profile(current: CohortProfile, baseline: CohortProfile, metrics: Iterable[str],
                     thresholds: Mapping[str, float], min_samples: int, alpha: float = 0.05
                     ) -> ProfileEvaluation:
    """Score every feature of ``current`` against ``baseline`` (see :func:`compare`)."""
    metrics = tuple(metrics)
    out: dict[str, FeatureEvaluation] = {}
    for name, cur in current.features.items():
        base = baseline.features.get(name)
        out[name] = evaluate_feature(cur, base, metrics, thresholds, min_samples, alpha)
    return ProfileEvaluation(current.events, baseline.events, out)


def evaluate_feature(cur: NumericSketch | CategoricalSketch,
                     base: NumericSketch | CategoricalSketch | None, metrics: Iterable[str],
                     thresholds: Mapping[str, float], min_samples: int, alpha: float = 0.05
                     ) -> FeatureEvaluation:
    """One feature; ``base=None`` (feature missing from the baseline) gives a defined result."""
    kind: Literal["numeric", "categorical"] = (
        "numeric" if isinstance(cur, NumericSketch) else "categorical")
    metrics = tuple(metrics)
    if base is not None and type(base) is not type(cur):
        raise TypeError(f"feature {cur.spec.name!r} is {kind} here but "
                        f"{type(base).__name__} in the baseline")
    shares: BinShares | None = None
    if base is None:
        scores = {
            m: with_status(DriftScore(m, float("nan"), cur.n, 0, float("nan"),
                                      "insufficient_data", 0.0), 0.0, min_samples, alpha)
            for m in metrics if m in metrics_for(cur)}
    else:
        table = bin_table(cur, base) if cur.n and base.n else None
        scores = compare(cur, base, metrics, thresholds, min_samples, alpha, table)
        if table is not None:
            shares = BinShares(table.labels, bin_shares(table.current), bin_shares(table.baseline),
                               table.exact, table.share_error)
    qc = qb = None
    if isinstance(cur, NumericSketch):
        qc = tuple(float(v) for v in cur.quantiles(QUANTILE_LEVELS))
        qb = (tuple(float(v) for v in base.quantiles(QUANTILE_LEVELS))
              if isinstance(base, NumericSketch) else tuple([float(np.nan)] * 5))
    return FeatureEvaluation(cur.spec.name, kind, cur.n, 0 if base is None else base.n, scores,
                             QualityRates.of(cur), qc, qb, base is not None, shares)


def bin_shares(counts: np.ndarray) -> tuple[float, ...]:
    """Counts over their total (all zeros when there are none)."""
    total = float(counts.sum())
    return tuple((counts / total).tolist()) if total > 0 else tuple([0.0] * len(counts))
