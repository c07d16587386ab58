"""Feeding a decoded batch's rows to profiles: rows grouped by target with one stable sort,
then one vectorized update per feature for all targets (one KLL call per target), never a
Python loop per value.

>>> from driftline.sketches.schema import NumericSpec, ProfileSchema
>>> from driftline.stream.decode.decoder import Decoder, FieldSpec
>>> d = Decoder([FieldSpec("x", "numeric")], [], "ts").decode(
...     [b'{"ts": 1, "x": 1.0}', b'{"ts": 1, "x": 5.0}', b'{"ts": 1, "x": 3.0}'])
>>> schema = ProfileSchema((NumericSpec("x"),))
>>> a, b = CohortProfile(schema), CohortProfile(schema)
>>> feed(d, np.array([0, 1, 0]), [a, b])
>>> a.features["x"].mean, b.events
(2.0, 1)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from driftline.sketches.categorical import CategoricalSketch
from driftline.sketches.numeric import NumericSketch
from driftline.sketches.profile import CohortProfile
from driftline.stream.decode.decoder import DecodedBatch
from driftline.stream.engine.grouping import bounds, narrow


class _Cols:
    """The feature columns of a batch, optionally permuted, ready for slicing."""

    __slots__ = ("numeric", "categorical")

    def __init__(self, d: DecodedBatch, order: np.ndarray | None) -> None:
        self.numeric: list[tuple[str, np.ndarray, np.ndarray | None, np.ndarray | None,
                                 np.ndarray | None]] = []
        for name, col in d.numeric.items():
            v = col.values if order is None else col.values[order]
            null, inv = _mask(col.null, order), _mask(col.invalid, order)
            bad = null if inv is None else inv if null is None else null | inv
            valid = None if bad is None else ~bad
            self.numeric.append((name, v, valid, null, inv))
        self.categorical: list[tuple[str, np.ndarray, list[str], np.ndarray | None,
                                     np.ndarray | None]] = []
        for name, c in d.categorical.items():
            codes = c.codes if order is None else c.codes[order]
            # null/invalid rows have code -1 (bin 0 of the bincount, dropped): the masks are
            # only needed for their counts
            self.categorical.append((name, codes + 1, c.labels, _mask(c.null, order),
                                     _mask(c.invalid, order)))

    def update(self, profiles: list[CohortProfile], runs: list[tuple[int, int]]) -> None:
        """``profiles[i]`` takes rows ``runs[i]`` (ascending, adjacent ``(lo, hi)`` runs):
        one vectorized pass per feature for all of them, one KLL call per profile."""
        if not profiles:
            return
        lo, hi = runs[0][0], runs[-1][1]
        sizes = np.array([b - a for a, b in runs], dtype=np.int64)
        group = np.repeat(np.arange(len(profiles)), sizes)
        n_groups = len(profiles)

        def per_group(mask: np.ndarray | None) -> np.ndarray | None:
            return None if mask is None else np.bincount(group[mask[lo:hi]], minlength=n_groups)

        for name, v, valid, null, inv in self.numeric:
            sketches = [p.features[name] for p in profiles]
            if valid is None:
                NumericSketch.update_groups(sketches, v[lo:hi], group)  # type: ignore[arg-type]
            else:
                keep = valid[lo:hi]
                NumericSketch.update_groups(sketches, v[lo:hi][keep],  # type: ignore[arg-type]
                                            group[keep], per_group(null), per_group(inv))
        for name, codes1, labels, null, inv in self.categorical:
            width = len(labels) + 1
            counts = np.bincount(group * width + codes1[lo:hi],
                                 minlength=n_groups * width).reshape(n_groups, width)[:, 1:]
            CategoricalSketch.update_groups(
                [p.features[name] for p in profiles], labels, counts,  # type: ignore[misc]
                per_group(null), per_group(inv))
        for prof, size in zip(profiles, sizes.tolist(), strict=True):
            prof.events += size


def feed(d: DecodedBatch, group: np.ndarray,
         profiles: Sequence[CohortProfile | None]) -> None:
    """Row i goes to ``profiles[group[i]]`` (nowhere when None; groups may share a profile):
    rows grouped by profile with one stable sort, then one update per feature for all."""
    targets: list[CohortProfile] = []
    slot_of: dict[int, int] = {}
    slot = np.full(len(profiles), -1, dtype=np.int64)
    for j, p in enumerate(profiles):
        if p is not None:
            slot[j] = slot_of.setdefault(id(p), len(targets))
            if slot[j] == len(targets):
                targets.append(p)
    if not targets:
        return
    rows_slot = slot[group]
    if len(targets) == 1 and rows_slot.min() == 0:
        _Cols(d, None).update(targets, [(0, d.n)])
        return
    order = np.argsort(narrow(rows_slot + 1, len(targets) + 1), kind="stable")
    sk = rows_slot[order]
    runs = [(lo, hi) for lo, hi in bounds(sk) if sk[lo] >= 0]
    _Cols(d, order).update([targets[int(sk[lo])] for lo, _ in runs], runs)


def _mask(mask: np.ndarray | None, order: np.ndarray | None) -> np.ndarray | None:
    """A row mask in the permuted order, or None when no row is set (nothing to count)."""
    if mask is None or not mask.any():
        return None
    return mask if order is None else mask[order]


