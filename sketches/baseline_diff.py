"""What changed between two baselines: structure, metadata and every feature's distribution.

``diff_baselines(old, new)`` compares, for the global population and for every cohort both have
their own profile for: the counts, means and quantiles of each feature, PSI/KS/JS of ``new``
measured against ``old`` (the same drift code the stream uses, ``old`` in the baseline's role,
so numeric bins are ``old``'s edges) and the categories one vocabulary has and the other has
not. ``incompatibilities(old, new)`` is what keeps ``new`` from replacing ``old`` in a running
worker: different features, feature types or segments.

Example:
    >>> import numpy as np
    >>> from driftline.sketches.baseline import Baseline
    >>> from driftline.sketches.column import Column
    >>> from driftline.sketches.schema import NumericSpec
    >>> rng = np.random.default_rng(0)
    >>> old = Baseline.build([NumericSpec("x")], {"x": Column(rng.normal(0, 1, 5000))})
    >>> new = Baseline.build([NumericSpec("x")], {"x": Column(rng.normal(1, 1, 5000))})
    >>> d = diff_baselines(old, new)
    >>> d.identical, d.incompatibilities, d.features[0].scores["psi"] > 0.5
    (False, [], True)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from driftline.sketches.baseline import GLOBAL, Baseline
from driftline.sketches.categorical import CategoricalSketch
from driftline.sketches.drift import compare
from driftline.sketches.evaluate import QUANTILE_LEVELS
from driftline.sketches.numeric import NumericSketch
from driftline.sketches.profile import CohortProfile

DIFF_METRICS = ("psi", "ks", "js")
# meta entries too large to show as a change (their per-cohort counts are in the cohort diffs)
_BULKY_META = ("segment_rows", "model_quality")


@dataclass(frozen=True)
class FeatureDiff:
    """One feature of one cohort (``all``/``all`` = the global population) in both baselines."""

    feature: str
    type: str
    segment: str
    cohort: str
    n_old: int
    n_new: int
    scores: dict[str, float | None]
    mean_old: float | None = None
    mean_new: float | None = None
    quantiles_old: list[float | None] | None = None
    quantiles_new: list[float | None] | None = None
    bins_changed: bool = False
    added_categories: list[str] = field(default_factory=list)
    removed_categories: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BaselineDiff:
    """Everything :func:`diff_baselines` found; ``to_dict()`` is the ``--json`` output."""

    old_version: str
    new_version: str
    added_features: list[str]
    removed_features: list[str]
    retyped_features: list[str]
    added_segments: list[str]
    removed_segments: list[str]
    added_cohorts: list[str]
    removed_cohorts: list[str]
    meta: dict[str, list[Any]]
    features: list[FeatureDiff]

    @property
    def identical(self) -> bool:
        """Same content: the same version."""
        return self.old_version == self.new_version

    @property
    def incompatibilities(self) -> list[str]:
        out = []
        for what, names in (("features only in the old baseline", self.removed_features),
                            ("features only in the new baseline", self.added_features),
                            ("features of another type", self.retyped_features),
                            ("segments only in the old baseline", self.removed_segments),
                            ("segments only in the new baseline", self.added_segments)):
            if names:
                out.append(f"{what}: {', '.join(names)}")
        return out

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["identical"] = self.identical
        out["incompatibilities"] = self.incompatibilities
        return out


def incompatibilities(old: Baseline, new: Baseline) -> list[str]:
    """Why ``new`` cannot replace ``old`` in a running worker (empty: it can)."""
    return _structure(old, new).incompatibilities


def diff_baselines(old: Baseline, new: Baseline) -> BaselineDiff:
    """Compare two baselines; see the module doc."""
    d = _structure(old, new)
    common = [s for s in old.schema if s.name in new.schema and new.schema[s.name].kind == s.kind]
    keys = [(GLOBAL, GLOBAL), *(k for k in old.cohorts if new.has_own(*k))]
    for seg, cohort in keys:
        po = old.global_profile if seg == GLOBAL else old.profile_for(seg, cohort)
        pn = new.global_profile if seg == GLOBAL else new.profile_for(seg, cohort)
        for spec in common:
            d.features.append(_feature(spec.name, seg, cohort, po, pn, old, new))
    return d


def _structure(old: Baseline, new: Baseline) -> BaselineDiff:
    fo = {s.name: s.kind for s in old.schema}
    fn = {s.name: s.kind for s in new.schema}
    so, sn = _segments(old), _segments(new)
    co = {f"{s}={c}" for s, c in old.cohorts}
    cn = {f"{s}={c}" for s, c in new.cohorts}
    pairs: list[tuple[str, Any, Any]] = [
        ("built_at", old.created_at.isoformat(), new.created_at.isoformat()),
        ("rows", old.rows, new.rows),
        *((k, old.meta.get(k), new.meta.get(k)) for k in sorted(set(old.meta) | set(new.meta))
          if k not in _BULKY_META)]
    meta = {key: [a, b] for key, a, b in pairs if a != b}
    return BaselineDiff(
        old.version, new.version, sorted(set(fn) - set(fo)), sorted(set(fo) - set(fn)),
        sorted(n for n in set(fo) & set(fn) if fo[n] != fn[n]), sorted(sn - so),
        sorted(so - sn), sorted(cn - co), sorted(co - cn), meta, [])


def _segments(b: Baseline) -> set[str]:
    """The segments a baseline was built with (its training rows per segment value), plus those
    of its own cohorts."""
    return set(b.meta.get("segment_rows") or {}) | {s for s, _ in b.cohorts}


def _feature(name: str, segment: str, cohort: str, po: CohortProfile, pn: CohortProfile,
             old: Baseline, new: Baseline) -> FeatureDiff:
    so, sn = po[name], pn[name]
    scores = compare(sn, so, DIFF_METRICS, {}, min_samples=0) if so.n and sn.n else {}
    values = {m: _num(scores[m].value) if m in scores else None for m in DIFF_METRICS
              if isinstance(sn, NumericSketch) or m != "ks"}
    spec_old, spec_new = old.schema[name], new.schema[name]
    if isinstance(so, NumericSketch) and isinstance(sn, NumericSketch):
        return FeatureDiff(
            name, "numeric", segment, cohort, so.n, sn.n, values,
            _num(so.mean) if so.n else None, _num(sn.mean) if sn.n else None,
            _quantiles(so), _quantiles(sn),
            bins_changed=spec_old.to_dict().get("edges") != spec_new.to_dict().get("edges"))
    assert isinstance(so, CategoricalSketch) and isinstance(sn, CategoricalSketch)
    vo = set(getattr(spec_old, "vocabulary", None) or ())
    vn = set(getattr(spec_new, "vocabulary", None) or ())
    return FeatureDiff(name, "categorical", segment, cohort, so.n, sn.n, values,
                       bins_changed=vo != vn, added_categories=sorted(vn - vo),
                       removed_categories=sorted(vo - vn))


def _quantiles(s: NumericSketch) -> list[float | None] | None:
    if not s.n:
        return None
    return [_num(v) for v in s.kll_quantiles(QUANTILE_LEVELS)]


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None
