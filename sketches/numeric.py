"""Mergeable sketch of one numeric feature.

KLL quantiles (datasketches, one vectorized call per batch), exact counters (rows, nulls,
NaN, ±inf, out-of-range, invalid), exact min/max, mean and variance merged with Chan's
formula, and -- when the spec has baseline bin edges -- exact bin counts over those edges.

Example:
    >>> import numpy as np
    >>> s = NumericSketch(NumericSpec("age", range=(0, 120), edges=(30.0, 50.0)))
    >>> s.update(np.array([25.0, 31.0, 47.0, 60.0, 130.0, np.nan]), nulls=2)
    >>> s.count, s.nulls, s.nan, s.out_of_range, s.n
    (8, 2, 1, 1, 5)
    >>> s.bin_counts.tolist(), s.min, s.max
    ([1, 2, 2], 25.0, 130.0)
    >>> t = NumericSketch.from_bytes(s.to_bytes()); t.quantiles([0.5]).tolist()
    [47.0]
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from typing import cast

import numpy as np
from datasketches import kll_doubles_sketch

from driftline.sketches.base import FeatureSketchBase
from driftline.sketches.codec import Kind, Reader, SketchFormatError, Writer
from driftline.sketches.kll_guard import check_kll_doubles, kll_items
from driftline.sketches.schema import NumericSpec

try:  # the Rust kernel (sketches/native/); optional, kll_quantiles per sketch is its reference
    from driftline.sketches._native import kll_quantiles as _native_kll_quantiles
except ImportError:  # pragma: no cover - installs without a Rust toolchain
    _native_kll_quantiles = None

_CHUNK = 16_384  # update() in slices of 128 KB of float64: its temporaries stay in L2
# Bin index of each value: one comparison pass per edge (a uint8 count of edges <= x) beats
# searchsorted's branchy binary search per value, up to this many edges.
_COMPARE_EDGES_MAX = 64
# the counters and moments at the start of a sketch's state (see _write_state)
_COUNTERS = struct.Struct("<6Q2d")


@functools.lru_cache(maxsize=1024)
def _edge_array(edges: tuple[float, ...]) -> np.ndarray:
    """A spec's bin edges as a (shared, read-only) float64 array."""
    a = np.asarray(edges, dtype=np.float64)
    a.flags.writeable = False
    return a


class NumericSketch(FeatureSketchBase[NumericSpec]):
    """Sketch of one numeric feature; see the module docstring.

    Example:
        >>> import numpy as np
        >>> a, b = NumericSketch(NumericSpec("x")), NumericSketch(NumericSpec("x"))
        >>> a.update(np.arange(100.0)); b.update(np.arange(100.0, 200.0))
        >>> m = a.merge(b); m.n, m.mean, float(m.quantiles([0.5])[0])
        (200, 99.5, 99.0)
    """

    KIND = Kind.NUMERIC
    SPEC = NumericSpec
    LABEL = "numeric sketch"
    __slots__ = ("_kll", "_n", "_nan", "_inf", "_oor", "_mean", "_m2", "_bins", "_view")

    def __init__(self, spec: NumericSpec) -> None:
        super().__init__(spec)
        self._kll = kll_doubles_sketch(spec.k)
        self._n = 0  # the KLL's n, kept here: read per series, a call into the KLL costs more
        self._nan = 0
        self._inf = 0
        self._oor = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._bins: np.ndarray | None = (None if spec.edges is None
                                         else np.zeros(len(spec.edges) + 1, dtype=np.int64))
        self._view: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ update / merge
    def update(self, values: np.ndarray, nulls: int = 0, invalid: int = 0) -> None:
        """Add a batch. ``values`` are the non-null values (NaN/±inf allowed: counted, kept out
        of KLL, moments and bins); ``nulls``/``invalid`` count rows without a usable value."""
        if nulls < 0 or invalid < 0:
            raise ValueError("nulls and invalid must be >= 0")
        x = np.asarray(values)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"feature {self.spec.name!r}: numeric values must be a numeric "
                            f"array, got dtype {x.dtype} (convert with canonical_numbers)")
        x = x.astype(np.float64, copy=False).ravel()
        counts = np.array([nulls]), np.array([invalid])
        one = np.zeros(min(x.shape[0], _CHUNK), dtype=np.intp)
        for start in range(0, max(x.shape[0], 1), _CHUNK):  # temporaries stay in cache
            part = x[start:start + _CHUNK]
            NumericSketch.update_groups([self], part, one[:part.shape[0]],
                                        *(counts if start == 0 else (None, None)))

    @staticmethod
    def update_groups(sketches: Sequence[NumericSketch], values: np.ndarray, group: np.ndarray,
                      nulls: np.ndarray | None = None,
                      invalid: np.ndarray | None = None) -> None:
        """``sketches[g].update(values[group == g], nulls[g], invalid[g])`` for every g, with
        the counters, moments and bin counts of all groups computed in a few vectorized passes
        (many small groups cost one KLL call each, not a dozen NumPy calls each). ``group``
        must be non-decreasing; all sketches must share one spec. ``update`` is the case of
        one group.

            >>> a, b = NumericSketch(NumericSpec("x")), NumericSketch(NumericSpec("x"))
            >>> NumericSketch.update_groups([a, b], np.array([1.0, 2.0, 9.0, np.nan]),
            ...                             np.array([0, 0, 1, 1]), nulls=np.array([0, 3]))
            >>> (a.n, a.mean, b.n, b.nan, b.nulls, b.count)
            (2, 1.5, 1, 1, 3, 5)
        """
        n_groups = len(sketches)
        if n_groups == 0:
            return
        spec = sketches[0].spec
        x = np.asarray(values, dtype=np.float64)
        rows = np.bincount(group, minlength=n_groups)
        nan = inf = None
        finite = np.isfinite(x)
        if not finite.all():
            is_nan = np.isnan(x)
            nan = np.bincount(group[is_nan], minlength=n_groups)
            inf = np.bincount(group[~finite & ~is_nan], minlength=n_groups)
            x, group = x[finite], group[finite]
        size = np.bincount(group, minlength=n_groups)
        ends = np.cumsum(size)
        starts = ends - size
        full = size > 0
        sums = np.zeros(n_groups)
        if x.shape[0]:
            sums[full] = np.add.reduceat(x, starts[full])
        means = np.divide(sums, size, out=np.zeros(n_groups), where=full)
        for g in np.flatnonzero(~np.isfinite(sums)).tolist():  # finite values whose sum
            means[g] = float(np.sum(x[starts[g]:ends[g]] / size[g]))  # overflows (|x| ~ 1e308)
        d = x - np.repeat(means, size)
        m2 = np.zeros(n_groups)
        if x.shape[0]:
            with np.errstate(over="ignore"):  # |deviations| past ~1e154: the variance is inf
                m2[full] = np.add.reduceat(d * d, starts[full])
        oor = None
        if spec.range is not None:
            oor = np.bincount(group[(x < spec.range[0]) | (x > spec.range[1])],
                              minlength=n_groups)
        bins = None
        if spec.edges is not None:
            edges = _edge_array(spec.edges)
            nb = edges.shape[0] + 1
            if edges.shape[0] <= _COMPARE_EDGES_MAX:  # bin = number of edges <= x
                b: np.ndarray = np.zeros(x.shape[0], dtype=np.uint8)
                for e in edges.tolist():
                    np.add(b, x >= e, out=b, casting="unsafe")
            else:
                b = np.searchsorted(edges, x, side="right")
            bins = np.bincount(group * nb + b, minlength=n_groups * nb).reshape(n_groups, nb)
        for g, sk in enumerate(sketches):
            sk._count += int(rows[g])
            if nulls is not None:
                sk._nulls += int(nulls[g])
                sk._count += int(nulls[g])
            if invalid is not None:
                sk._invalid += int(invalid[g])
                sk._count += int(invalid[g])
            if nan is not None and inf is not None:
                sk._nan += int(nan[g])
                sk._inf += int(inf[g])
            if not size[g]:
                continue
            if oor is not None:
                sk._oor += int(oor[g])
            if bins is not None and sk._bins is not None:
                sk._bins += bins[g]
            sk._kll.update(x[starts[g]:ends[g]])
            sk._n += int(size[g])
            sk._view = None
            sk._add_moments(int(size[g]), float(means[g]), float(m2[g]))

    def _add_moments(self, nb: int, mean_b: float, m2_b: float) -> None:
        na = self._n - nb  # the counts already include the new values
        if na == 0:
            self._mean, self._m2 = mean_b, m2_b
            return
        n = na + nb
        delta = mean_b - self._mean
        self._mean += delta * nb / n
        self._m2 += m2_b + delta * delta * na * nb / n

    def merge(self, other: NumericSketch) -> NumericSketch:
        """Merge ``other`` into this sketch (in place) and return self."""
        if not isinstance(other, NumericSketch):
            raise TypeError(f"cannot merge NumericSketch with {type(other).__name__}")
        if other.spec is not self.spec and other.spec != self.spec:
            raise ValueError(f"cannot merge sketches of different specs: {self.spec} vs "
                             f"{other.spec}")
        nb = other.n
        if nb:  # else nothing to merge but the counters (bins count the finite values only)
            self._kll.merge(other._kll)
            self._n += nb
            self._view = None
            self._add_moments(nb, other._mean, other._m2)
            if self._bins is not None and other._bins is not None:
                self._bins += other._bins
        self._count += other._count
        self._nulls += other._nulls
        self._invalid += other._invalid
        self._nan += other._nan
        self._inf += other._inf
        self._oor += other._oor
        return self

    # ------------------------------------------------------------------ properties
    @property
    def n(self) -> int:
        """Finite values in the sketch (the sample size of every drift statistic)."""
        return self._n

    @property
    def nan(self) -> int:
        return self._nan

    @property
    def inf(self) -> int:
        return self._inf

    @property
    def out_of_range(self) -> int:
        """Finite values outside ``spec.range`` (0 without a range)."""
        return self._oor

    @property
    def min(self) -> float:
        return float(self._kll.get_min_value()) if self.n else float("nan")

    @property
    def max(self) -> float:
        return float(self._kll.get_max_value()) if self.n else float("nan")

    @property
    def mean(self) -> float:
        return self._mean if self.n else float("nan")

    @property
    def variance(self) -> float:
        """Population variance of the finite values (NaN when empty)."""
        return self._m2 / self.n if self.n else float("nan")

    @property
    def std(self) -> float:
        return float(np.sqrt(self.variance))

    @property
    def bin_counts(self) -> np.ndarray | None:
        """Exact counts per bin over ``spec.edges`` (a copy), or None without edges."""
        return None if self._bins is None else self._bins.copy()

    @property
    def is_exact(self) -> bool:
        """True while the KLL still holds every value (no rank error yet)."""
        return not self._kll.is_estimation_mode()

    @property
    def rank_error(self) -> float:
        """Normalized single-rank error bound of the KLL (0 while exact), ~99% confidence."""
        return 0.0 if self.is_exact else float(self._kll.normalized_rank_error(False))

    def quantiles(self, qs: Sequence[float] | np.ndarray) -> np.ndarray:
        """Approximate quantiles (inclusive definition); NaN when the sketch is empty."""
        q = np.asarray(qs, dtype=np.float64)
        if np.any((q < 0) | (q > 1)):
            raise ValueError("quantile levels must be within [0, 1]")
        if not self.n:
            return np.full(q.shape, np.nan)
        items, cum = self.sorted_view()
        idx = np.searchsorted(cum, q * cum[-1], side="left")
        return items[np.minimum(idx, items.shape[0] - 1)]

    def kll_quantiles(self, levels: Sequence[float]) -> tuple[float, ...]:
        """:meth:`quantiles` at valid ``levels`` computed by the KLL itself (the same inclusive
        definition over the same retained items, so the same values), without extracting the
        sorted view: ~50x cheaper for the small sketches of short windows."""
        if not self.n:
            return (float("nan"),) * len(levels)
        return tuple(self._kll.get_quantiles(list(levels), True))

    @staticmethod
    def kll_quantiles_many(sketches: Sequence[NumericSketch], levels: Sequence[float],
                           native: bool = True) -> list[tuple[float, ...]]:
        """``[s.kll_quantiles(levels) for s in sketches]`` (the same values, bit for bit) by
        one call of the Rust kernel ``sketches._native.kll_quantiles`` over the serialized
        KLLs, instead of one datasketches call per sketch: the window evaluation's quantiles.
        Per sketch without the kernel (or with ``native=False``).

            >>> a, b = NumericSketch(NumericSpec("x")), NumericSketch(NumericSpec("x"))
            >>> a.update(np.arange(1.0, 11.0))
            >>> NumericSketch.kll_quantiles_many([a, b], [0.0, 0.5, 0.95])
            [(1.0, 5.0, 10.0), (nan, nan, nan)]
        """
        if _native_kll_quantiles is None or not native or not sketches or not len(levels):
            return [s.kll_quantiles(levels) for s in sketches]
        rows: list[tuple[float, ...] | None] = _native_kll_quantiles(
            [s._kll.serialize() for s in sketches], np.ascontiguousarray(levels, np.float64))
        if None in rows:  # the rare sketch datasketches must answer itself: a zero answer
            # while it holds both -0.0 and +0.0 (see sketches/native/src/kll.rs)
            return [s.kll_quantiles(levels) if r is None else r
                    for r, s in zip(rows, sketches, strict=True)]
        return cast(list[tuple[float, ...]], rows)

    def cdf(self, points: Sequence[float] | np.ndarray) -> np.ndarray:
        """Approximate ``P(X <= x)`` at each point; NaN when the sketch is empty."""
        p = np.asarray(points, dtype=np.float64)
        if not self.n:
            return np.full(p.shape, np.nan)
        items, cum = self.sorted_view()
        idx = np.searchsorted(items, p, side="right")
        return np.concatenate(([0.0], cum))[idx] / cum[-1]

    def sorted_view(self) -> tuple[np.ndarray, np.ndarray]:
        """The KLL's retained items sorted, with their cumulative weights (sums to ``n``)."""
        if self._view is None:
            items, weights = kll_items(self._kll.serialize())
            order = np.argsort(items, kind="stable")
            self._view = (items[order], np.cumsum(weights[order]).astype(np.float64))
        return self._view

    # ------------------------------------------------------------------ bytes
    def _write_state(self) -> bytes:
        w = Writer()
        for v in (self._count, self._nulls, self._invalid, self._nan, self._inf, self._oor):
            w.u64(v)
        w.f64(self._mean)
        w.f64(self._m2)
        w.blob(self._kll.serialize())
        w.u8(self._bins is not None)
        if self._bins is not None:
            w.array(self._bins, "<i8")
        return w.getvalue()

    def _read_state(self, r: Reader) -> None:
        (self._count, self._nulls, self._invalid, self._nan, self._inf, self._oor, self._mean,
         self._m2) = r.fields(_COUNTERS)
        raw = r.blob()
        check_kll_doubles(raw, self.spec.k, f"numeric sketch {self.spec.name!r}")
        try:
            kll = kll_doubles_sketch.deserialize(raw)
        except Exception as exc:  # datasketches raises RuntimeError/ValueError variants
            raise SketchFormatError(f"corrupt numeric sketch {self.spec.name!r}: {exc}") from exc
        if kll.k != self.spec.k:
            raise SketchFormatError(f"numeric sketch {self.spec.name!r}: KLL k={kll.k}, "
                                    f"spec says {self.spec.k}")
        self._kll = kll
        self._n = int(kll.n)
        self._view = None
        has_bins = r.u8()
        if bool(has_bins) != (self._bins is not None):
            raise SketchFormatError(f"numeric sketch {self.spec.name!r}: bin counts do not "
                                    "match the spec's edges")
        if has_bins:
            bins = r.array("<i8")
            if bins.shape != self._bins.shape or np.any(bins < 0):  # type: ignore[union-attr]
                raise SketchFormatError(f"numeric sketch {self.spec.name!r}: bad bin counts")
            self._bins = bins
        accounted = self.n + self._nulls + self._invalid + self._nan + self._inf
        if accounted != self._count or (self._bins is not None and
                                        int(self._bins.sum()) != self.n):
            raise SketchFormatError(f"numeric sketch {self.spec.name!r}: inconsistent counters")

    def __repr__(self) -> str:
        return (f"NumericSketch({self.spec.name!r}, count={self.count}, n={self.n}, "
                f"min={self.min:g}, max={self.max:g})")
