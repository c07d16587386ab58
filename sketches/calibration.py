"""Calibration map of a baseline and confidence-based performance estimation (CBPE).

:class:`Calibration` is the isotonic regression (pool-adjacent-violators, weighted) of the
label on the score, fit on the baseline's labelled class histograms over the
:class:`~sketches.performance.ScoreGrid` bins: one calibrated probability ``p_b`` per bin,
non-decreasing in the score. It is what the estimator needs from the baseline.

:func:`estimate` is CBPE (NannyML's confidence-based performance estimation, after
Platt-calibrated expected confusion matrices): under covariate shift (P(y | x) unchanged) a
prediction in bin ``b`` is a positive with probability ``p_b``, so a window's expected
confusion matrix is ``E[TP] = sum_b c1_b p_b``, ``E[FP] = sum_b c1_b (1 - p_b)``,
``E[FN] = sum_b c0_b p_b``, ``E[TN] = sum_b c0_b (1 - p_b)`` (``c1``/``c0``: predictions per bin
with predicted class 1/0), and the expected ROC AUC is the weighted Mann-Whitney statistic with
weights ``c_b p_b`` (positives) and ``c_b (1 - p_b)`` (negatives). Everything comes from the
window's mergeable score histogram, so it merges across partitions and tiers. It fails under
concept drift (P(y | x) changes), which is when realized performance must disagree with it.

:func:`prediction_shift` and :func:`label_shift` compare a window with the baseline's state:
the PSI of the score distribution over the baseline's score deciles (prediction drift) and the
positive rate / label mean with a two-sample z-test (label drift, prior shift).

Example:
    >>> import numpy as np
    >>> from driftline.sketches.performance import PerformanceState
    >>> rng = np.random.default_rng(1)
    >>> s = rng.uniform(0, 1, 20_000); y = (rng.uniform(0, 1, 20_000) < s).astype(float)
    >>> ref = PerformanceState(); ref.add_predictions(s, s >= 0.5); ref.add_labels(s, s >= 0.5, y)
    >>> cal = Calibration.fit(ref)
    >>> est = estimate(ref, cal)
    >>> abs(est["accuracy"] - ref.realized()["accuracy"]) < 1e-9
    True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from driftline.sketches.codec import Kind, Reader, SketchFormatError, Writer, frame, unframe
from driftline.sketches.performance import (
    PerformanceState,
    ScoreGrid,
    auc_from_histograms,
    classification_metrics,
)


def isotonic_bins(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted isotonic (non-decreasing) regression of ``y`` with weights ``w`` by
    pool-adjacent-violators (Barlow et al. 1972); zero-weight entries take the value of the
    block before them (the first block's value before the first weighted entry).

    >>> isotonic_bins(np.array([0.25, 0.0, 0.5, 0.0]), np.array([1.0, 1.0, 1.0, 0.0])).tolist()
    [0.125, 0.125, 0.5, 0.5]
    """
    idx = np.flatnonzero(w > 0)
    if idx.size == 0:
        return np.full(y.shape[0], float("nan"))
    vals: list[float] = []
    wts: list[float] = []
    ends: list[int] = []
    for i, yi, wi in zip(range(idx.size), y[idx].tolist(), w[idx].tolist(), strict=True):
        vals.append(yi)
        wts.append(wi)
        ends.append(i)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            v, wt = vals.pop(), wts.pop()
            ends.pop()
            total = wts[-1] + wt
            vals[-1] = (vals[-1] * wts[-1] + v * wt) / total
            wts[-1] = total
            ends[-1] = i
    fitted = np.repeat(vals, np.diff(np.concatenate([[-1], ends])))
    out = np.empty(y.shape[0])
    pos = np.searchsorted(idx, np.arange(y.shape[0]), side="right") - 1
    out[:] = fitted[np.maximum(pos, 0)]
    return out


class Calibration:
    """Calibrated P(y = 1) per score-grid bin (isotonic); see the module docstring."""

    __slots__ = ("grid", "probabilities", "rows")

    def __init__(self, *, grid: ScoreGrid, probabilities: np.ndarray, rows: float) -> None:
        p = np.asarray(probabilities, dtype=np.float64)
        if p.shape != (grid.bins,):
            raise ValueError(f"calibration needs {grid.bins} probabilities, got {p.shape}")
        self.grid = grid
        self.probabilities = p
        self.rows = float(rows)

    @classmethod
    def fit(cls, reference: PerformanceState) -> Calibration:
        """Fit on a labelled reference state (the baseline's); needs both classes."""
        if not reference.binary:
            raise ValueError("calibration applies to binary classification")
        pos, neg = reference.label_hist[1], reference.label_hist[0]
        w = pos + neg
        if pos.sum() <= 0 or neg.sum() <= 0:
            raise ValueError("calibration needs labelled positives and negatives")
        rate = np.divide(pos, w, out=np.zeros_like(w), where=w > 0)
        return cls(grid=reference.grid, probabilities=isotonic_bins(rate, w),
                   rows=float(w.sum()))

    def to_bytes(self) -> bytes:
        wr = Writer()
        wr.u64(self.grid.bins)
        wr.f64(self.grid.logit_range)
        wr.f64(self.rows)
        wr.array(self.probabilities, "<f8")
        return frame(Kind.CALIBRATION, wr.getvalue())

    @classmethod
    def from_bytes(cls, data: bytes) -> Calibration:
        r = Reader(unframe(data, Kind.CALIBRATION), "calibration")
        bins, lr, rows = r.u64(), r.f64(), r.f64()
        p = r.array("<f8")
        r.done()
        try:
            return cls(grid=ScoreGrid(bins=bins, logit_range=lr), probabilities=p, rows=rows)
        except ValueError as exc:
            raise SketchFormatError(f"corrupt calibration: {exc}") from exc


def estimate(state: PerformanceState, calibration: Calibration) -> dict[str, float]:
    """CBPE: expected accuracy, precision, recall, specificity, F1, ROC AUC and positive rate
    of the window's predictions (labelled or not) under the calibration; empty for
    regression or when the grids differ."""
    if not state.binary or state.grid != calibration.grid or state.predictions == 0:
        return {}
    p = calibration.probabilities
    c0, c1 = state.pred_hist[0], state.pred_hist[1]
    tp, fp = float(np.dot(c1, p)), float(np.dot(c1, 1 - p))
    fn, tn = float(np.dot(c0, p)), float(np.dot(c0, 1 - p))
    out = classification_metrics(tp, fp, tn, fn)
    c = c0 + c1
    out["roc_auc"] = auc_from_histograms(c * p, c * (1 - p))[0]
    out["positive_rate"] = (tp + fn) / float(c.sum())
    return out


def _psi(cur: np.ndarray, ref: np.ndarray, eps: float = 1e-4) -> float:
    a = cur / cur.sum() + eps
    e = ref / ref.sum() + eps
    return float(np.sum((a - e) * np.log(a / e)))


def prediction_shift(state: PerformanceState, reference: PerformanceState,
                     groups: int = 10) -> dict[str, Any]:
    """Prediction drift: PSI of the window's score distribution over the baseline's score
    quantile groups (shares smoothed by 1e-4; regression: over the error map's value bins),
    and the mean prediction of both."""
    out: dict[str, Any] = {"n": state.predictions, "mean": _nan(state.prediction_mean),
                           "baseline_mean": _nan(reference.prediction_mean), "psi": None}
    if (state.pred_hist.size > 0 and state.pred_hist.shape == reference.pred_hist.shape
            and state.grid == reference.grid and state.values == reference.values
            and state.predictions > 0 and reference.predictions > 0):
        ref = reference.pred_hist.sum(axis=0)
        cum = np.cumsum(ref) / ref.sum()
        cuts = np.unique(np.searchsorted(cum, np.arange(1, groups) / groups, side="left"))
        g = np.searchsorted(cuts, np.arange(ref.shape[0]), side="left")
        k = int(g.max()) + 1
        cur = np.bincount(g, weights=state.pred_hist.sum(axis=0), minlength=k)
        out["psi"] = _psi(cur, np.bincount(g, weights=ref, minlength=k))
    return out


def label_shift(state: PerformanceState, reference: PerformanceState) -> dict[str, Any]:
    """Label drift (prior shift): the labelled positive rate (binary) or label mean
    (regression) against the baseline's, with a two-sided z-test p-value on effective sample
    sizes (two proportions; Welch-style for means). None where either side has no labels."""
    out: dict[str, Any] = {"n": state.labeled, "value": None, "baseline": None,
                           "p_value": None}
    if state.w_sum <= 0 or reference.w_sum <= 0:
        return out
    n1, n2 = state.effective_n, reference.effective_n
    if state.binary:
        a, b = state.sums[2] / state.w_sum, reference.sums[2] / reference.w_sum
        pooled = (a * n1 + b * n2) / (n1 + n2)
        var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    else:
        a, b = state.sums[3] / state.w_sum, reference.sums[3] / reference.w_sum
        va = max(state.sums[4] / state.w_sum - a * a, 0.0)
        vb = max(reference.sums[4] / reference.w_sum - b * b, 0.0)
        var = va / n1 + vb / n2
    out["value"], out["baseline"] = float(a), float(b)
    if var > 0:
        out["p_value"] = float(2 * stats.norm.sf(abs(a - b) / math.sqrt(var)))
    return out


def _nan(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)
