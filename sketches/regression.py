"""Estimated regression error before labels: a baseline error map over prediction bins.

Direct loss estimation in its simplest mergeable form. At baseline time the labelled reference
rows give, for each bin of the **predicted value**, the expected absolute error ``E[|e| | b]``,
squared error ``E[e^2 | b]`` and fourth power ``E[e^4 | b]`` (for the significance of a rise);
that is the :class:`ErrorMap`. Its bins (:class:`ValueGrid`) are quantiles of the baseline's
predictions, so they are the same on every worker and a window's prediction histogram over
them merges by addition. A window's estimate is the error map averaged over its prediction
histogram ``c_b``::

    MAE_est = sum_b c_b E[|e| | b] / n    MSE_est = sum_b c_b E[e^2 | b] / n
    RMSE_est = sqrt(MSE_est)

It holds when P(y | prediction) is unchanged (covariate shift seen through the prediction):
predictions that move into a region where the model erred more on the baseline raise the
estimate before any label. It cannot see concept drift (the error in a region changes), nor a
covariate shift that leaves the prediction distribution unchanged; the realized error, once
labels come, is the check. Predictions beyond the baseline's range take the end bin's error
(no extrapolation). The global map's bins hold at least ``MIN_ROWS_PER_BIN`` rows on average
and take their own means (an empty bin, possible only with tied predictions, takes its nearest
non-empty neighbour's); a cohort's bins shrink toward the global bin with ``SHRINK``
pseudo-rows, so sparse cohorts stay stable.

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(0, 1, 50_000); y = x + rng.normal(0, 0.05 + x, 50_000)
    >>> emap = ErrorMap.fit(x, y, bins=32)
    >>> round(emap.estimate(emap.grid.histogram(x[x < 0.2]))["mae"], 2)
    0.12
    >>> round(emap.estimate(emap.grid.histogram(x[x > 0.8]))["mae"], 2)
    0.74
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from driftline.sketches.codec import Kind, Reader, SketchFormatError, Writer, frame, unframe

SHRINK = 10.0  # pseudo-rows pulling a bin's expected errors toward its parent
MIN_ROWS_PER_BIN = 50  # the grid never has fewer baseline rows per bin (on average)


class ValueGrid:
    """Bins of a predicted value: ``len(cuts) + 1`` bins split at the sorted ``cuts`` (a value
    equal to a cut goes to the bin above; the end bins take everything beyond).

    >>> g = ValueGrid(cuts=np.array([0.0, 10.0]))
    >>> g.index(np.array([-5.0, 0.0, 3.0, 99.0])).tolist(), g.bins
    ([0, 1, 1, 2], 3)
    """

    __slots__ = ("cuts",)

    def __init__(self, *, cuts: np.ndarray) -> None:
        c = np.asarray(cuts, dtype=np.float64)
        if c.ndim != 1 or not np.isfinite(c).all() or (c.size > 1 and np.any(np.diff(c) <= 0)):
            raise ValueError("value grid cuts must be finite and strictly increasing")
        self.cuts = c

    @classmethod
    def quantiles(cls, values: np.ndarray, bins: int) -> ValueGrid:
        """At most ``bins`` bins at the quantiles of ``values`` (ties merged)."""
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size == 0 or bins < 2:
            return cls(cuts=np.empty(0))
        q = np.quantile(v, np.arange(1, bins) / bins)
        return cls(cuts=np.unique(q))

    @property
    def bins(self) -> int:
        return int(self.cuts.size) + 1

    def index(self, values: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.cuts, np.asarray(values, dtype=np.float64), side="right")

    def histogram(self, values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(self.index(values), weights=weights, minlength=self.bins).astype(
            np.float64)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ValueGrid) and np.array_equal(other.cuts, self.cuts)

    def __hash__(self) -> int:
        return hash(self.cuts.tobytes())


def _moments(grid: ValueGrid, pred: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-bin weighted sums [w, w|e|, w e^2, w e^4] (4 x bins)."""
    e = pred - y
    a = np.abs(e)
    idx = grid.index(pred)
    return np.stack([np.bincount(idx, weights=v, minlength=grid.bins)
                     for v in (w, w * a, w * a * a, w * (a * a) ** 2)])


class ErrorMap:
    """Expected |e|, e^2 and e^4 per :class:`ValueGrid` bin, fit on a labelled baseline;
    see the module docstring."""

    __slots__ = ("grid", "weights", "expected")

    def __init__(self, *, grid: ValueGrid, weights: np.ndarray, expected: np.ndarray) -> None:
        w = np.asarray(weights, dtype=np.float64)
        ex = np.asarray(expected, dtype=np.float64)
        if w.shape != (grid.bins,) or ex.shape != (3, grid.bins):
            raise ValueError(f"error map needs {grid.bins} bins, got {w.shape} / {ex.shape}")
        self.grid = grid
        self.weights = w  # baseline rows per bin
        self.expected = ex  # rows: E|e|, E[e^2], E[e^4] per bin

    @property
    def rows(self) -> float:
        return float(self.weights.sum())

    @classmethod
    def fit(cls, predictions: np.ndarray, labels: np.ndarray, *, bins: int = 64,
            grid: ValueGrid | None = None, parent: ErrorMap | None = None,
            weights: np.ndarray | None = None) -> ErrorMap:
        """Fit on labelled rows (non-finite pairs skipped). Without ``grid``, at most ``bins``
        quantile bins with at least ``MIN_ROWS_PER_BIN`` rows each on average; with
        ``parent`` (the global map, same grid) bins shrink toward the parent's."""
        p = np.asarray(predictions, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=np.float64)
        ok = np.isfinite(p) & np.isfinite(y) & np.isfinite(w) & (w > 0)
        p, y, w = p[ok], y[ok], w[ok]
        if p.size == 0:
            raise ValueError("an error map needs labelled rows")
        if grid is None:
            grid = ValueGrid.quantiles(p, max(1, min(bins, p.size // MIN_ROWS_PER_BIN)))
        m = _moments(grid, p, y, w)
        if parent is not None:
            if parent.grid != grid:
                raise ValueError("a cohort's error map needs its parent's grid")
            expected = (m[1:] + SHRINK * parent.expected) / (m[0] + SHRINK)
        else:  # own means; an empty bin takes its nearest non-empty neighbour's
            full = np.flatnonzero(m[0] > 0)
            at = np.arange(grid.bins)
            right = np.minimum(np.searchsorted(full, at), full.size - 1)
            left = np.maximum(right - 1, 0)
            near = np.where(np.abs(full[left] - at) <= np.abs(full[right] - at),
                            full[left], full[right])
            expected = m[1:, near] / m[0, near]
        return cls(grid=grid, weights=m[0], expected=expected)

    def estimate(self, counts: np.ndarray) -> dict[str, float]:
        """Expected MAE, MSE and RMSE of predictions with histogram ``counts`` over the grid,
        with ``sq_sq`` (expected e^4; with the MSE, expected e^2, the per-row second moments
        behind the significance tests); empty without predictions."""
        c = np.asarray(counts, dtype=np.float64)
        n = float(c.sum())
        if n <= 0 or c.shape != (self.grid.bins,):
            return {}
        mae, mse, quad = (self.expected @ c / n).tolist()
        return {"mae": mae, "rmse": math.sqrt(mse), "mse": mse, "sq_sq": quad}

    def to_bytes(self) -> bytes:
        wr = Writer()
        wr.array(self.grid.cuts, "<f8")
        wr.array(self.weights, "<f8")
        wr.array(self.expected.ravel(), "<f8")
        return frame(Kind.ERROR_MAP, wr.getvalue())

    @classmethod
    def from_bytes(cls, data: bytes) -> ErrorMap:
        r = Reader(unframe(data, Kind.ERROR_MAP), "error map")
        cuts, w, ex = r.array("<f8"), r.array("<f8"), r.array("<f8")
        r.done()
        try:
            grid = ValueGrid(cuts=cuts)
            return cls(grid=grid, weights=w, expected=ex.reshape(3, -1))
        except ValueError as exc:
            raise SketchFormatError(f"corrupt error map: {exc}") from exc


def error_rise_p(current: float, second: float, n: float, reference: float,
                 ref_second: float, n_ref: float) -> float:
    """One-sided p-value that a mean loss (|e| or e^2) ``current`` of ``n`` rows is above the
    reference's, a Welch z-test with each side's per-row variance ``second - mean^2``
    (``second``: the mean of the squared loss); NaN when undefined.

    >>> round(error_rise_p(1.1, 2.0, 1000, 1.0, 1.8, 20000), 4)
    0.0003
    """
    if n < 2 or n_ref < 2 or not all(math.isfinite(v) for v in
                                      (current, second, reference, ref_second)):
        return math.nan
    var = max(second - current * current, 0.0) / n + max(
        ref_second - reference * reference, 0.0) / n_ref
    if var <= 0:
        return 0.0 if current > reference else 1.0
    return float(stats.norm.sf((current - reference) / math.sqrt(var)))
