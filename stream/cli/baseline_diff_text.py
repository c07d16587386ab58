"""The human text of ``driftline baseline diff`` (the ``--json`` output is ``to_dict()``).

>>> import numpy as np
>>> from driftline.sketches.baseline import Baseline
>>> from driftline.sketches.baseline_diff import diff_baselines
>>> from driftline.sketches.column import Column
>>> from driftline.sketches.schema import NumericSpec
>>> b = Baseline.build([NumericSpec("x")], {"x": Column(np.arange(2000.0))})
>>> print(render(diff_baselines(b, b), b, b).splitlines()[-1])
no change: the same baseline
"""

from __future__ import annotations

from driftline.sketches.baseline import Baseline
from driftline.sketches.baseline_diff import BaselineDiff, FeatureDiff
from driftline.sketches.evaluate import QUANTILE_LEVELS


def _g(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _side(name: str, b: Baseline) -> str:
    return (f"{name}: version {b.version}, built {b.created_at.isoformat()}, {b.rows} rows, "
            f"{len(b.schema)} features, {len(b.cohorts)} own cohorts ({b.location})")


def _feature_line(f: FeatureDiff) -> str:
    scores = " ".join(f"{m}={_g(v)}" for m, v in f.scores.items())
    parts = [f"  {f.feature:<20} {f.segment}={f.cohort:<14} n {f.n_old} -> {f.n_new}  {scores}"]
    if f.type == "numeric":
        parts.append(f"mean {_g(f.mean_old)} -> {_g(f.mean_new)}")
        if f.quantiles_old and f.quantiles_new:
            shifts = ", ".join(
                f"p{round(q * 100)} {_g(a)} -> {_g(b)}" for q, a, b in
                zip(QUANTILE_LEVELS, f.quantiles_old, f.quantiles_new, strict=True))
            parts.append(shifts)
    if f.added_categories:
        parts.append("new categories: " + ", ".join(f.added_categories))
    if f.removed_categories:
        parts.append("removed categories: " + ", ".join(f.removed_categories))
    if f.bins_changed:
        parts.append("bins changed")
    return "  ".join(parts)


def render(d: BaselineDiff, old: Baseline, new: Baseline) -> str:
    lines = [_side("old", old), _side("new", new)]
    if d.identical:
        lines.append("no change: the same baseline")
        return "\n".join(lines)
    for what, names in (("features added", d.added_features),
                        ("features removed", d.removed_features),
                        ("features with another type", d.retyped_features),
                        ("segments added", d.added_segments),
                        ("segments removed", d.removed_segments),
                        ("cohorts added", d.added_cohorts),
                        ("cohorts removed", d.removed_cohorts)):
        if names:
            lines.append(f"{what}: {', '.join(names)}")
    if d.meta:
        lines.append("metadata:")
        lines += [f"  {k}: {a!r} -> {b!r}" for k, (a, b) in d.meta.items()]
    if d.features:
        lines.append("features (scores of new against old):")
        lines += [_feature_line(f) for f in d.features]
    if d.incompatibilities:
        lines.append("a running worker rejects new: " + "; ".join(d.incompatibilities))
    else:
        lines.append("new can replace old in a running worker")
    return "\n".join(lines)
