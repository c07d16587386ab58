"""Mergeable model-performance state of one window x cohort: realized and estimated metrics.

One :class:`PerformanceState` per window x cohort keeps everything the performance metrics
need as sums, so states of partitions, workers and rollup tiers merge by addition and merging
equals computing on the union:

* **every prediction** (labelled or not): its count and, for binary classification, a score
  histogram split by the predicted class on a fixed grid (:class:`ScoreGrid`, uniform in
  log-odds). With the baseline's calibration map (:mod:`sketches.calibration`) it gives the
  confidence-based estimate of the confusion matrix and ROC AUC (CBPE) and the prediction
  distribution (prior shift).
* **every labelled prediction**, with a weight (1 for a full join, ``1/rate`` for a sampled
  one): weighted confusion counts at the threshold (or the model's own predicted class),
  class-conditional score histograms on the same grid (realized ROC AUC), sums of log loss and
  Brier score, ten equal-width calibration bins (expected calibration error), and the sums
  of weights and squared weights (effective sample size, Kish 1965). Regression keeps the
  weighted sums of errors, absolute errors, squared errors and their squares (MAE, RMSE, MSE,
  bias and the variance of the squared error) and, with the baseline's
  :class:`~sketches.regression.ValueGrid`, a histogram of every prediction over it (the
  estimated error, :mod:`sketches.regression`).

ROC AUC from the class histograms is the Mann-Whitney statistic with pairs in the same grid
bin counted one half; the pairs whose order the grid hides bound the error:
``|AUC_hist - AUC_exact| <= 0.5 * sum_b pos_b * neg_b / (P * N)`` (reported as
``roc_auc_error_bound``; exact when scores take at most one value per bin). On the default grid
(2,048 bins over log-odds [-10, 10]) the bound is below 0.002 for continuous scores of
a few thousand predictions (tests check it against the exact value, within 0.005, on random
datasets of many shapes).

Example:
    >>> import numpy as np
    >>> s = PerformanceState(task="binary_classification")
    >>> scores = np.array([0.9, 0.8, 0.3, 0.2]); pred = scores >= 0.5
    >>> s.add_predictions(scores, pred)
    >>> s.add_labels(scores, pred, np.array([1.0, 0.0, 1.0, 0.0]))
    >>> r = s.realized(); r["accuracy"], r["roc_auc"], r["precision"]
    (0.5, 0.75, 0.5)
    >>> PerformanceState.from_bytes(s.to_bytes()).merge(s).realized()["labeled"]
    8
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from driftline.sketches.codec import Kind, Reader, SketchFormatError, Writer, frame, unframe
from driftline.sketches.regression import ValueGrid

Task = Literal["binary_classification", "regression"]
TASKS: tuple[str, ...] = ("binary_classification", "regression")
DEFAULT_BINS = 2048
DEFAULT_LOGIT_RANGE = 10.0
ECE_BINS = 10
_EPS = 1e-15  # log-loss clipping, as scikit-learn's log_loss


class ScoreGrid:
    """Fixed bins for probability scores, uniform in log-odds over [-``logit_range``,
    ``logit_range``] (the two end bins also take everything beyond). Fine where classifier
    scores crowd (near 0 and 1), and the same on every worker, so histograms merge by addition.

    >>> g = ScoreGrid(bins=4, logit_range=2.0)
    >>> g.index(np.array([0.01, 0.4, 0.6, 0.99])).tolist()
    [0, 1, 2, 3]
    """

    __slots__ = ("bins", "logit_range")

    def __init__(self, *, bins: int = DEFAULT_BINS,
                 logit_range: float = DEFAULT_LOGIT_RANGE) -> None:
        if bins < 2 or bins > 1 << 20:
            raise ValueError("bins must be in [2, 1048576]")
        if not logit_range > 0:
            raise ValueError("logit_range must be > 0")
        self.bins = int(bins)
        self.logit_range = float(logit_range)

    def index(self, scores: np.ndarray) -> np.ndarray:
        """Bin of each score in [0, 1] (monotone non-decreasing in the score)."""
        s = np.clip(np.asarray(scores, dtype=np.float64), 1e-300, 1.0)
        with np.errstate(divide="ignore"):
            z = np.log(s) - np.log1p(-s)  # logit; +inf at 1.0
        pos = (z + self.logit_range) * (self.bins / (2.0 * self.logit_range))
        return np.clip(np.floor(np.nan_to_num(pos, posinf=self.bins, neginf=-1)), 0,
                       self.bins - 1).astype(np.int64)

    def centers(self) -> np.ndarray:
        """A representative score (the sigmoid of the log-odds centre) of each bin."""
        z = (np.arange(self.bins) + 0.5) * (2.0 * self.logit_range / self.bins) - self.logit_range
        return 1.0 / (1.0 + np.exp(-z))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ScoreGrid) and other.bins == self.bins
                and other.logit_range == self.logit_range)

    def __hash__(self) -> int:
        return hash((self.bins, self.logit_range))


def auc_from_histograms(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float]:
    """(ROC AUC, error bound) of class-conditional weight histograms over ordered bins: the
    Mann-Whitney statistic, ties (same bin) counted one half; NaN without both classes.

    >>> auc_from_histograms(np.array([0, 1, 2.0]), np.array([2, 1, 0.0]))
    (0.9444444444444444, 0.05555555555555555)
    """
    p_tot, n_tot = float(pos.sum()), float(neg.sum())
    if p_tot <= 0 or n_tot <= 0:
        return float("nan"), float("nan")
    below = np.cumsum(neg) - neg
    auc = float(np.dot(pos, below + 0.5 * neg)) / (p_tot * n_tot)
    bound = 0.5 * float(np.dot(pos, neg)) / (p_tot * n_tot)
    return min(max(auc, 0.0), 1.0), bound


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def classification_metrics(tp: float, fp: float, tn: float, fn: float) -> dict[str, float]:
    """Accuracy, precision, recall, specificity and F1 of (weighted) confusion counts."""
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {"accuracy": _ratio(tp + tn, tp + fp + tn + fn), "precision": precision,
            "recall": recall, "specificity": _ratio(tn, tn + fp),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn)}


class PerformanceState:
    """Performance sums of one window x cohort; see the module docstring. ``add_predictions``
    takes every prediction, ``add_labels`` every joined (prediction, label) pair."""

    __slots__ = ("task", "grid", "values", "predictions", "invalid", "pred_hist", "pred_sum",
                 "pred_sq",
                 "labeled", "w_sum", "w_sq", "label_hist", "confusion", "sums", "ece")

    def __init__(self, *, task: str = "binary_classification",
                 grid: ScoreGrid | None = None, values: ValueGrid | None = None) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        self.task = task
        self.grid = grid or ScoreGrid()
        binary = task == "binary_classification"
        self.values = None if binary else values  # regression: bins of the predicted value
        b = self.grid.bins if binary else 0
        self.predictions = 0  # valid predictions seen
        self.invalid = 0  # predictions whose score was missing / not a probability
        # binary: [predicted class, score bin] counts; regression: [0, value bin] counts
        self.pred_hist = np.zeros((2, b) if binary else (1, values.bins if values else 0))
        self.pred_sum = 0.0
        self.pred_sq = 0.0
        self.labeled = 0  # joined pairs (unweighted)
        self.w_sum = 0.0
        self.w_sq = 0.0
        self.label_hist = np.zeros((2, b))  # [true class, score bin] weights
        self.confusion = np.zeros(4)  # weighted tp, fp, tn, fn
        # binary: log loss, Brier, positives; regression: err, |err|, err^2, y, y^2, err^4
        self.sums = np.zeros(6)
        self.ece = np.zeros((3, ECE_BINS if binary else 0))  # weight, sum w*s, sum w*y

    @property
    def binary(self) -> bool:
        return self.task == "binary_classification"

    # -- updates ----------------------------------------------------------------------------
    def _valid(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        ok = np.isfinite(s)
        if self.binary:
            ok &= (s >= 0.0) & (s <= 1.0)
        return ok

    def add_predictions(self, scores: np.ndarray, predicted: np.ndarray | None = None) -> None:
        """Every prediction of a batch: scores (probabilities for binary classification) and
        the predicted class (bool; default: none needed for regression). Invalid scores (NaN,
        outside [0, 1] for binary) are counted in ``invalid`` only."""
        s = np.asarray(scores, dtype=np.float64)
        ok = self._valid(s)
        if not ok.all():
            self.invalid += int(s.shape[0] - np.count_nonzero(ok))
            s = s[ok]
            predicted = None if predicted is None else np.asarray(predicted)[ok]
        self.predictions += int(s.shape[0])
        self.pred_sum += float(s.sum())
        self.pred_sq += float(np.dot(s, s))
        if self.binary:
            if predicted is None:
                raise ValueError("binary classification needs the predicted class")
            idx = self.grid.index(s) + self.grid.bins * np.asarray(predicted, dtype=np.int64)
            self.pred_hist += np.bincount(idx, minlength=2 * self.grid.bins).reshape(2, -1)
        elif self.values is not None:
            self.pred_hist[0] += self.values.histogram(s)

    def add_labels(self, scores: np.ndarray, predicted: np.ndarray | None, labels: np.ndarray,
                   weights: np.ndarray | None = None) -> None:
        """Joined pairs: the prediction's score and predicted class, the label (0/1 for binary
        classification, a number for regression) and an optional weight per pair (``1/rate``
        of a join sample). Pairs with an invalid score or label are skipped (callers count
        them before)."""
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        w = np.ones_like(s) if weights is None else np.asarray(weights, dtype=np.float64)
        ok = self._valid(s) & np.isfinite(y) & np.isfinite(w) & (w > 0)
        if self.binary:
            ok &= (y == 0.0) | (y == 1.0)
        if not ok.all():
            s, y, w = s[ok], y[ok], w[ok]
            predicted = None if predicted is None else np.asarray(predicted)[ok]
        self.labeled += int(s.shape[0])
        self.w_sum += float(w.sum())
        self.w_sq += float(np.dot(w, w))
        if not self.binary:
            e = s - y
            e2 = e * e
            self.sums += [np.dot(w, e), np.dot(w, np.abs(e)), np.dot(w, e2), np.dot(w, y),
                          np.dot(w, y * y), np.dot(w, e2 * e2)]
            return
        if predicted is None:
            raise ValueError("binary classification needs the predicted class")
        yhat = np.asarray(predicted, dtype=bool)
        pos = y == 1.0
        b = self.grid.bins
        idx = self.grid.index(s) + b * pos.astype(np.int64)
        self.label_hist += np.bincount(idx, weights=w, minlength=2 * b).reshape(2, -1)
        cell = np.where(yhat, np.where(pos, 0, 1), np.where(pos, 3, 2))  # tp fp tn fn
        self.confusion += np.bincount(cell, weights=w, minlength=4)
        c = np.clip(s, _EPS, 1 - _EPS)
        loss = -np.where(pos, np.log(c), np.log1p(-c))
        self.sums[:3] += [np.dot(w, loss), np.dot(w, (y - s) ** 2), np.dot(w, y)]
        eb = np.minimum((s * ECE_BINS).astype(np.int64), ECE_BINS - 1)
        for row, vals in enumerate((w, w * s, w * y)):
            self.ece[row] += np.bincount(eb, weights=vals, minlength=ECE_BINS)

    def merge(self, other: PerformanceState) -> PerformanceState:
        """Add ``other`` into this state (in place) and return self."""
        if not isinstance(other, PerformanceState):
            raise TypeError(f"cannot merge PerformanceState with {type(other).__name__}")
        if (other.task != self.task or other.grid != self.grid
                or other.values != self.values):
            raise ValueError("cannot merge performance states of different tasks or grids")
        self.predictions += other.predictions
        self.invalid += other.invalid
        self.pred_hist += other.pred_hist
        self.pred_sum += other.pred_sum
        self.pred_sq += other.pred_sq
        self.labeled += other.labeled
        self.w_sum += other.w_sum
        self.w_sq += other.w_sq
        self.label_hist += other.label_hist
        self.confusion += other.confusion
        self.sums += other.sums
        self.ece += other.ece
        return self

    def copy(self) -> PerformanceState:
        return PerformanceState.from_bytes(self.to_bytes())

    # -- metrics ----------------------------------------------------------------------------
    @property
    def effective_n(self) -> float:
        """Kish's effective sample size of the labelled pairs, (sum w)^2 / sum w^2."""
        return self.w_sum * self.w_sum / self.w_sq if self.w_sq > 0 else 0.0

    def realized(self) -> dict[str, Any]:
        """Realized metrics of the labelled pairs (NaN where undefined), with ``labeled``,
        ``effective_n`` and, binary, ``positives`` (weighted) and ``roc_auc_error_bound``."""
        out: dict[str, Any] = {"labeled": self.labeled, "effective_n": self.effective_n}
        w = self.w_sum
        if not self.binary:
            e, ae, se, ys, _, _ = self.sums
            out.update(mae=_ratio(ae, w), rmse=float(np.sqrt(se / w)) if w > 0 else float("nan"),
                       mse=_ratio(se, w), bias=_ratio(e, w), label_mean=_ratio(ys, w))
            return out
        auc, bound = auc_from_histograms(self.label_hist[1], self.label_hist[0])
        out["roc_auc"], out["roc_auc_error_bound"] = auc, bound
        out.update(classification_metrics(*self.confusion.tolist()))
        out["log_loss"] = _ratio(self.sums[0], w)
        out["brier"] = _ratio(self.sums[1], w)
        out["positive_rate"] = _ratio(self.sums[2], w)
        out["calibration_error"] = (float(np.abs(self.ece[1] - self.ece[2]).sum()) / w
                                    if w > 0 else float("nan"))
        return out

    @property
    def prediction_mean(self) -> float:
        return _ratio(self.pred_sum, self.predictions)

    # -- bytes ------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Compact bytes: histograms stored sparse (non-empty bins only)."""
        w = Writer()
        w.text(self.task)
        w.u64(self.grid.bins)
        w.f64(self.grid.logit_range)
        w.u64(self.predictions)
        w.u64(self.invalid)
        w.u64(self.labeled)
        for v in (self.pred_sum, self.pred_sq, self.w_sum, self.w_sq):
            w.f64(v)
        for hist in (self.pred_hist, self.label_hist):
            flat = hist.ravel()
            nz = np.flatnonzero(flat)
            w.array(nz, "<u4")
            w.array(flat[nz], "<f8")
        w.array(self.confusion, "<f8")
        w.array(self.sums, "<f8")
        w.array(self.ece.ravel(), "<f8")
        if self.values is not None:  # optional trailing field (absent in older states)
            w.array(self.values.cuts, "<f8")
        return frame(Kind.PERFORMANCE, w.getvalue())

    @classmethod
    def from_bytes(cls, data: bytes) -> PerformanceState:
        r = Reader(unframe(data, Kind.PERFORMANCE), "performance state")
        task = r.text()
        if task not in TASKS:
            raise SketchFormatError(f"corrupt performance state: unknown task {task!r}")
        bins, lr = r.u64(), r.f64()
        try:
            out = cls(task=task, grid=ScoreGrid(bins=bins, logit_range=lr))
        except ValueError as exc:
            raise SketchFormatError(f"corrupt performance state: {exc}") from exc
        out.predictions, out.invalid, out.labeled = r.u64(), r.u64(), r.u64()
        out.pred_sum, out.pred_sq, out.w_sum, out.w_sq = r.f64(), r.f64(), r.f64(), r.f64()
        sparse = [(r.array("<u4"), r.array("<f8")) for _ in range(2)]
        out.confusion = _fixed(r.array("<f8"), out.confusion.shape)
        sums = r.array("<f8")
        out.sums = _fixed(np.concatenate([sums, np.zeros(1)]) if sums.size == 5 else sums,
                          out.sums.shape)  # older states had no sum of err^4
        out.ece = _fixed(r.array("<f8"), out.ece.shape)
        if not r.at_end():
            try:
                out.values = ValueGrid(cuts=r.array("<f8"))
            except ValueError as exc:
                raise SketchFormatError(f"corrupt performance state: {exc}") from exc
            out.pred_hist = np.zeros((1, out.values.bins))
        r.done()
        for hist, (nz, vals) in zip((out.pred_hist, out.label_hist), sparse, strict=True):
            if nz.shape != vals.shape or (nz.size and int(nz.max()) >= hist.size):
                raise SketchFormatError("corrupt performance state: histogram out of range")
            hist.ravel()[nz.astype(np.int64)] = vals
        return out

    def __repr__(self) -> str:
        return (f"PerformanceState(task={self.task}, predictions={self.predictions}, "
                f"labeled={self.labeled})")


def _fixed(a: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    if a.size != int(np.prod(shape)):
        raise SketchFormatError("corrupt performance state: array of the wrong size")
    return a.reshape(tuple(shape))
