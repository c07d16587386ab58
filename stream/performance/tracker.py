"""Model quality per window x cohort: predictions in, delayed labels joined, performance out.

:class:`PerformanceTracker` keeps one :class:`~sketches.performance.PerformanceState` per
(base window, segment, raw segment value) plus one per window for the whole population. A
prediction updates the state of ITS window and cohorts at once (the score histogram the
estimate needs); when its label arrives, whenever that is, the joined pair updates the same
states (:mod:`stream.performance.join`), so a window "matures" as its labels come. At report time
raw values map to the cohorts the window admitted (the rest merge into ``__other__``) and base
windows merge into rollups, like the feature profiles. It does no I/O: the backtest and the
Kafka worker feed it columns.

The per-cohort ``performance`` record (names are a contract)::

    {"predictions", "labeled", "coverage", "realized": {roc_auc, accuracy, precision, recall,
     f1, log_loss, brier, calibration_error, ...}, "estimated": {roc_auc, accuracy, precision,
     recall, f1, ...}, "status", "effective_n", "label_drift", "prediction_drift"}

(regression: ``realized`` has mae, rmse, mse, bias, label_mean; ``estimated`` has mae, rmse
and mse from the baseline's error map, :mod:`sketches.regression`). ``status``:
``no_predictions``, ``pending`` (no label yet), ``maturing`` (labels arriving),
``matured`` (max_delay has passed the window's end) or ``unlabeled`` (matured, no label).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from driftline.sketches.calibration import Calibration, estimate, label_shift, prediction_shift
from driftline.sketches.performance import PerformanceState, ScoreGrid
from driftline.sketches.regression import ErrorMap
from driftline.stream.engine.cohorts import MISSING, OTHER
from driftline.stream.performance.join import Joined, LabelJoin, Pending

ALL = "all"
REALIZED_BINARY = ("roc_auc", "accuracy", "precision", "recall", "f1", "log_loss", "brier",
                   "calibration_error", "specificity", "positive_rate", "roc_auc_error_bound")
REALIZED_REGRESSION = ("mae", "rmse", "mse", "bias", "label_mean")
ESTIMATED_REGRESSION = ("mae", "rmse", "mse")
StateKey = tuple[float, str, str]


def _num(x: Any) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _groups(codes: np.ndarray) -> list[np.ndarray]:
    """Row indices of each distinct code (one stable sort)."""
    if codes.shape[0] == 0:
        return []
    order = np.argsort(codes, kind="stable")
    cuts = np.flatnonzero(np.diff(codes[order])) + 1
    return np.split(order, cuts)


def time_runs(first: np.ndarray, second: np.ndarray, width: float
              ) -> list[tuple[int, np.ndarray]]:
    """Two batches (predictions, labels) on one event-time timeline at a resolution of
    ``width`` seconds: runs of ``(batch, row indices)``, bucket by bucket, the first batch's
    rows before the second's within a bucket, each batch's rows in their own order there.
    Non-finite times go first.

    >>> [(k, r.tolist()) for k, r in time_runs(np.array([0.0, 5.0, 25.0]),
    ...                                        np.array([3.0, 12.0]), 10.0)]
    [(0, [0, 1]), (1, [0, 1]), (0, [2])]
    """
    a = np.nan_to_num(np.asarray(first, np.float64), nan=-np.inf, posinf=np.inf)
    b = np.nan_to_num(np.asarray(second, np.float64), nan=-np.inf, posinf=np.inf)
    times = np.concatenate([a, b])
    kinds = np.concatenate([np.zeros(a.shape[0], np.int8), np.ones(b.shape[0], np.int8)])
    with np.errstate(invalid="ignore"):
        bucket = np.floor(times / width) if math.isfinite(width) and width > 0 else (
            np.zeros(times.shape[0]))
    bucket = np.nan_to_num(bucket, nan=-np.inf)
    order = np.lexsort((np.arange(times.shape[0]), kinds, bucket))
    k = kinds[order]
    out = []
    for run in np.split(order, np.flatnonzero(np.diff(k)) + 1):
        if run.shape[0]:
            kind = int(kinds[run[0]])
            out.append((kind, run - (a.shape[0] if kind else 0)))
    return out


class PerformanceTracker:
    """States per window x cohort and the label join; see the module doc."""

    def __init__(self, *, model: Any, labels: Any | None, window_size: float,
                 segments: Sequence[str] = (),
                 reference: Mapping[tuple[str, str], PerformanceState] | None = None,
                 calibration: Mapping[tuple[str, str], Calibration] | None = None,
                 errors: Mapping[tuple[str, str], ErrorMap] | None = None) -> None:
        self.task: str = model.task
        self.grid = ScoreGrid(bins=model.score_bins)
        self.threshold = float(model.threshold)
        self.estimate_enabled = bool(model.estimate)
        self.size = float(window_size)
        self.segments = list(segments)
        self.labels = labels
        self.max_delay = float(labels.max_delay) if labels is not None else math.inf
        self.negative_when_silent = labels is not None and labels.unlabeled_as == "negative"
        self.join = LabelJoin(
            max_delay=self.max_delay,
            sample_rate=labels.sample_rate if labels is not None else 1.0,
            keep_above=labels.keep_above if labels is not None else None)
        self.states: dict[StateKey, PerformanceState] = {}
        # (segment, window start) -> its state keys, so a record does not scan every state
        self._index: dict[tuple[str, float], list[StateKey]] = {}
        self.reference = dict(reference or {})
        self.calibration = dict(calibration or {})
        self.errors = dict(errors or {})
        glob = self.errors.get((ALL, ALL))
        # regression: every state's prediction histogram uses the global error map's bins
        self.values = glob.grid if glob is not None and self.task == "regression" else None
        self.without_id = 0
        # newest published record per (tier, segment, cohort, kind): kind "estimated" at
        # window close, "realized" once matured (what the Prometheus collector renders)
        self.latest: dict[tuple[str, str, str, str], tuple[float, dict[str, Any]]] = {}

    def evict(self, retention: float) -> int:
        """Drop the states of windows that matured (end + max_delay) more than ``retention``
        ago in event time; returns how many were dropped."""
        limit = self.join.clock - self.max_delay - retention - self.size
        old = [k for k in self.states if k[0] < limit]
        for k in old:
            del self.states[k]
        if old:
            self.reindex()
        return len(old)

    def reindex(self) -> None:
        """Rebuild the lookup index after ``states`` was replaced (a restore)."""
        self._index = {}
        for key in self.states:
            self._index.setdefault((key[1], key[0]), []).append(key)

    def new_state(self) -> PerformanceState:
        return PerformanceState(task=self.task, grid=self.grid, values=self.values)

    def _state(self, key: StateKey) -> PerformanceState:
        st = self.states.get(key)
        if st is None:
            st = self.states[key] = self.new_state()
            self._index.setdefault((key[1], key[0]), []).append(key)
        return st

    def _keyed_groups(self, win: np.ndarray, seg: Mapping[str, np.ndarray]
                      ) -> list[tuple[StateKey, np.ndarray]]:
        """(state key, rows) for the global cohort and every segment value of every window."""
        out: list[tuple[StateKey, np.ndarray]] = []
        wins, winv = np.unique(win, return_inverse=True)
        for rows in _groups(winv):
            out.append(((float(wins[winv[rows[0]]]), ALL, ALL), rows))
        for name in self.segments:
            vals = np.asarray(seg[name], dtype=object)
            vals = np.where(vals == None, MISSING, vals)  # noqa: E711 (elementwise)
            uniq, vinv = np.unique(vals.astype(str), return_inverse=True)
            for rows in _groups(winv.astype(np.int64) * len(uniq) + vinv):
                r0 = rows[0]
                out.append(((float(wins[winv[r0]]), name, str(uniq[vinv[r0]])), rows))
        return out

    # -- input ------------------------------------------------------------------------------
    def predicted_class(self, scores: np.ndarray, predicted: np.ndarray | None) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        if predicted is not None:
            return np.asarray(predicted, dtype=bool)
        with np.errstate(invalid="ignore"):
            return s >= self.threshold

    def add_predictions(self, times: np.ndarray, ids: Sequence[str | None], scores: np.ndarray,
                        predicted: np.ndarray | None, segments: Mapping[str, np.ndarray]
                        ) -> None:
        """A batch of predictions in event-time order: ``ids`` (None = no id), scores,
        predicted classes (None: score >= threshold) and raw segment values."""
        t = np.asarray(times, dtype=np.float64)
        s = np.asarray(scores, dtype=np.float64)
        yhat = self.predicted_class(s, predicted)
        win = np.floor(t / self.size) * self.size
        for key, rows in self._keyed_groups(win, segments):
            self._state(key).add_predictions(s[rows], yhat[rows] if self.binary else None)
        if self.labels is None:
            return
        seg_cols = [np.asarray(segments[n], dtype=object) for n in self.segments]
        joined: list[Joined] = []
        valid = np.isfinite(s)
        for i, pid in enumerate(ids):
            if pid is None:
                self.without_id += 1
                continue
            if not valid[i]:
                continue
            self.join.advance_predictions(float(t[i]))
            weight = self.join.weight_for(pid, float(s[i]))
            if weight is None:
                self.join.counts["unsampled"] += 1
                continue
            keys = tuple(MISSING if c[i] is None else str(c[i]) for c in seg_cols)
            joined += self.join.add_prediction(pid, Pending(
                time=float(t[i]), window=float(win[i]), score=float(s[i]),
                predicted=bool(yhat[i]), weight=weight, keys=keys))
        self._apply(joined)

    def add_labels(self, times: np.ndarray, ids: Sequence[str | None], labels: np.ndarray
                   ) -> None:
        """A batch of label events in event-time order; NaN labels, None ids and non-finite
        times are malformed (counted)."""
        t = np.asarray(times, dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        ok = np.isfinite(t) & np.isfinite(y)
        if self.binary:
            ok &= (y == 0.0) | (y == 1.0)
        joined: list[Joined] = []
        for i, lid in enumerate(ids):
            if lid is None or not ok[i]:
                self.join.counts["malformed"] += 1
                continue
            self.advance_labels(float(t[i]))
            joined += self.join.add_label(lid, float(t[i]), float(y[i]))
        self._apply(joined)

    def count_malformed(self, n: int) -> None:
        """Label records that could not be decoded at all (dead letters)."""
        self.join.counts["malformed"] += int(n)

    def advance_labels(self, now: float) -> None:
        """Move the labels' clock only (expiring pending predictions): the labels' own times,
        or a replay's "now" (it has read every label up to then)."""
        if now <= self.join.clock:
            return
        expired = self.join.advance(now)
        if expired and self.negative_when_silent:
            self._apply([(p, 0.0) for p in expired])

    def advance(self, now: float) -> None:
        """Move both event-time clocks (expiring pending predictions and held labels)."""
        self.join.advance_predictions(now)
        self.advance_labels(now)

    def finish(self) -> None:
        self.join.finish()

    def _apply(self, joined: list[Joined]) -> None:
        if not joined:
            return
        ps = [p for p, _ in joined]
        win = np.fromiter((p.window for p in ps), np.float64, len(ps))
        s = np.fromiter((p.score for p in ps), np.float64, len(ps))
        yhat = np.fromiter((p.predicted for p in ps), bool, len(ps))
        w = np.fromiter((p.weight for p in ps), np.float64, len(ps))
        y = np.fromiter((lab for _, lab in joined), np.float64, len(ps))
        seg = {n: np.array([p.keys[j] for p in ps], dtype=object)
               for j, n in enumerate(self.segments)}
        for key, rows in self._keyed_groups(win, seg):
            self._state(key).add_labels(s[rows], yhat[rows] if self.binary else None, y[rows],
                                        w[rows])

    @property
    def binary(self) -> bool:
        return self.task == "binary_classification"

    # -- output -----------------------------------------------------------------------------
    def state_for(self, start: float, end: float, segment: str, cohort: str,
                  admitted: set[str] | None = None) -> PerformanceState:
        """The merged state of a window (any tier) and cohort; ``__other__`` merges the raw
        values outside ``admitted``."""
        out = self.new_state()
        step = self.size
        for k in range(math.floor(start / step), math.ceil(end / step)):
            w = k * step  # the same float as a prediction's floor(t / size) * size
            if not start <= w < end:
                continue
            for key in self._index.get((segment, w), ()):
                value = key[2]
                if value == cohort or (cohort == OTHER and value not in (admitted or set())):
                    out.merge(self.states[key])
        return out

    def _reference(self, segment: str, cohort: str) -> tuple[PerformanceState | None,
                                                             Calibration | None]:
        key = (segment, cohort)
        glob = (ALL, ALL)
        return (self.reference.get(key, self.reference.get(glob)),
                self.calibration.get(key, self.calibration.get(glob)))

    def error_map(self, segment: str, cohort: str) -> ErrorMap | None:
        """The cohort's regression error map, else the global one (None: no estimate)."""
        return self.errors.get((segment, cohort), self.errors.get((ALL, ALL)))

    def estimated(self, st: PerformanceState, segment: str, cohort: str) -> dict[str, float]:
        """The estimate of a window x cohort state (CBPE or the regression error map; the
        regression one also carries the second moments its tests need)."""
        if not self.estimate_enabled:
            return {}
        if self.binary:
            cal = self._reference(segment, cohort)[1]
            return estimate(st, cal) if cal is not None else {}
        emap = self.error_map(segment, cohort)
        if emap is None or st.values != emap.grid:
            return {}
        return emap.estimate(st.pred_hist[0])

    def record(self, start: float, end: float, segment: str, cohort: str,
               admitted: set[str] | None = None) -> dict[str, Any]:
        """The ``performance`` entry of one window x cohort (see the module doc)."""
        st = self.state_for(start, end, segment, cohort, admitted)
        ref = self._reference(segment, cohort)[0]
        real = st.realized()
        names = REALIZED_BINARY if self.binary else REALIZED_REGRESSION
        est = self.estimated(st, segment, cohort)
        if not self.binary:
            est = {k: v for k, v in est.items() if k in ESTIMATED_REGRESSION}
        coverage = min(st.w_sum / st.predictions, 1.0) if st.predictions else None
        if st.predictions == 0:
            status = "no_predictions"
        elif self.join.clock >= end + self.max_delay:
            status = "matured" if st.labeled else "unlabeled"
        else:
            status = "maturing" if st.labeled else "pending"
        rec: dict[str, Any] = {
            "predictions": st.predictions, "labeled": st.labeled, "coverage": _num(coverage),
            "realized": {k: _num(real.get(k)) for k in names},
            "estimated": {k: _num(v) for k, v in est.items()}, "status": status,
            "effective_n": _num(st.effective_n), "invalid_predictions": st.invalid,
            "reference": None, "label_drift": None, "prediction_drift": None}
        if ref is not None:
            rr = ref.realized()
            rec["reference"] = {k: _num(rr.get(k)) for k in names}
            rec["label_drift"] = {k: _num(v) if isinstance(v, float) else v
                                  for k, v in label_shift(st, ref).items()}
            rec["prediction_drift"] = {k: _num(v) if isinstance(v, float) else v
                                       for k, v in prediction_shift(st, ref).items()}
        return rec

    def publish(self, kind: str, tier: str, start: float, end: float, segment: str,
                cohort: str, admitted: set[str] | None = None) -> dict[str, Any]:
        """Compute a window x cohort's record and keep it as the newest of its ``kind``."""
        rec = self.record(start, end, segment, cohort, admitted)
        key = (tier, segment, cohort, kind)
        if start >= self.latest.get(key, (-math.inf, {}))[0]:
            self.latest[key] = (start, rec)
        return rec

    def counters(self) -> dict[str, int]:
        """Join outcomes (see :mod:`stream.performance.join`) plus pending/held sizes."""
        out = {k: int(self.join.counts.get(k, 0)) for k in
               ("joined", "joined_early", "duplicate", "unknown_id", "malformed",
                "never_labeled", "duplicate_prediction", "unsampled",
                "undecodable_prediction")}
        out["prediction_without_id"] = self.without_id
        out["pending"] = len(self.join.pending)
        out["held_labels"] = len(self.join.early)
        return out
