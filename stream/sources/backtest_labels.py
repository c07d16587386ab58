"""Backtest of model quality: predictions and delayed labels replayed in event-time order.

The predictions (the events file, read with the model fields of the config) and the label
events (``--labels``, JSONL/CSV/Parquet, timed by ``labels.time``) are merged into one
timeline, stable-sorted by event time (a prediction and a label at the same instant: the
prediction first), and fed to a :class:`~stream.performance.PerformanceTracker` run by run, so
each label is joined at its own time and credited to its PREDICTION's window and cohorts.
After the replay every window x cohort of the report gets its ``performance`` record and the
report gets ``input.labels`` with the join outcomes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from driftline.alerts.model import Measurement
from driftline.sketches.baseline import Baseline
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.decode.batchops import take
from driftline.stream.engine.cohorts import OTHER
from driftline.stream.performance.alerts import (
    adjusted,
    cohort_drop_measurements,
    drop_measurements,
)
from driftline.stream.performance.columns import (
    ID,
    ids,
    label_column,
    label_decoder,
    predicted_of,
    prediction_decoder,
    scores_of,
    segment_values,
    tracker_for,
)
from driftline.stream.performance.retraining import RetrainingTriggers
from driftline.stream.performance.tracker import PerformanceTracker
from driftline.stream.sources.files import read_events


class PerformanceReplay:
    """Predictions and labels of a backtest on one timeline, fed up to the engine's progress
    (:meth:`feed_until`), so estimated performance is known when a window closes and realized
    performance when its labels have come (:meth:`mature`)."""

    def __init__(self, *, config: DriftlineConfig, baseline: Baseline | None, events: Path | str,
                 labels: Path | str | None) -> None:
        if config.model is None:
            raise ValueError("model quality needs `model:` in the config (prediction and id)")
        if labels is not None and config.labels is None:
            raise ValueError("--labels needs `labels:` in the config (id, label, time)")
        if labels is not None and not config.label_source.time:
            raise ValueError("a backtest replays labels at their own time: set labels.time "
                             "(files carry no Kafka timestamps)")
        self.config = config
        self.tracker = tracker_for(config, baseline)
        self.version = baseline.version if baseline is not None else None
        p = read_events(Path(events), prediction_decoder(config))
        self.p = take(p, np.argsort(p.event_time, kind="stable"))
        self.info: dict[str, Any] = {"file": None, "events": 0, "dead_letters": {}}
        self.lab = None
        lab_times = np.empty(0)
        if labels is not None:
            lab = read_events(Path(labels), label_decoder(config))
            reasons: dict[str, int] = {}
            for dl in lab.dead_letters:
                reasons[dl.reason] = reasons.get(dl.reason, 0) + 1
            self.tracker.count_malformed(len(lab.dead_letters))
            self.info = {"file": Path(labels).name, "events": lab.n + len(lab.dead_letters),
                         "dead_letters": reasons}
            self.lab = take(lab, np.argsort(lab.event_time, kind="stable"))
            self.lid = ids(self.lab.categorical[ID])
            self.ly = label_column(self.lab, config.prediction_model.task)
            lab_times = self.lab.event_time
        # one timeline: kind 0 = prediction, 1 = label; ties put the prediction first
        times = np.concatenate([self.p.event_time, lab_times])
        kinds = np.concatenate([np.zeros(self.p.n, np.int8), np.ones(lab_times.shape[0], np.int8)])
        order = np.lexsort((kinds, times))
        self.times, self.kinds = times[order], kinds[order]
        self.finite = int(np.searchsorted(self.times, np.inf, side="left"))  # NaN/inf sort last
        self.done = 0
        self.pi = self.li = 0
        self.windows: list[dict[str, Any]] = []  # closed base windows waiting to mature
        self.triggers: RetrainingTriggers | None = None
        self.timeline: list[dict[str, Any]] = []

    def feed_until(self, t: float) -> None:
        """Feed every prediction and label at or before event time ``t``."""
        end = int(np.searchsorted(self.times, t, side="right"))
        k = self.kinds[self.done:end]
        if k.shape[0] == 0:
            return
        cuts = np.concatenate([[0], np.flatnonzero(np.diff(k)) + 1, [k.shape[0]]]) + self.done
        for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
            n = b - a
            if self.kinds[a] == 0:
                _feed_predictions(self.tracker, self.config, self.p, self.pi, self.pi + n)
                self.pi += n
            else:
                li = self.li
                self.tracker.add_labels(self.lab.event_time[li:li + n],  # type: ignore[union-attr]
                                        self.lid[li:li + n], self.ly[li:li + n])
                self.li += n
        self.done = end
        if min(end, self.finite) > 0:  # a replay has read every label up to now: its clock
            self.tracker.advance_labels(float(self.times[min(end, self.finite) - 1]))

    def drain(self, monitor: Any, step: float) -> None:
        """After the last prediction: feed the remaining labels in event-time steps, maturing
        windows as the clock passes them (so the timeline shows when each matured)."""
        if self.done >= self.times.shape[0]:
            return
        t = float(self.times[self.done])
        last = float(self.times[-1])
        while t < last:
            t = min(t + step, last)
            self.feed_until(t)
            self.mature(monitor)

    def finish(self) -> None:
        self.feed_until(math.inf)
        self.tracker.finish()

    def on_close(self, result: Any) -> list[Measurement]:
        """Estimated-performance measurements of a closed window (Monitor measurement source);
        base windows are kept to mature later."""
        recs = result.to_report()
        if result.tier == self.config.windows.tiers[0]:
            self.windows.append(recs)
            if self.triggers is not None:
                glob = self.tracker.record(result.start, result.end, "all", "all")
                shift = glob["prediction_drift"] or {}
                self.triggers.observe_closed(recs, shift.get("psi"))
        out: list[Measurement] = []
        for c, adm in _cohorts(recs):
            ms = drop_measurements(self.tracker, result.monitor, result.tier, result.start,
                                   result.end, c["segment"], c["cohort"], adm, "estimated",
                                   list(self.config.performance.metrics))
            out.extend(ms)
            self.tracker.publish("estimated", result.tier, result.start, result.end,
                                 c["segment"], c["cohort"], adm)
            if c["segment"] == "all":
                self.timeline.append(_point(result, "estimated", ms, self.tracker.join.clock))
        return adjusted(out, self.version)

    def mature(self, monitor: Any, final: bool = False) -> None:
        """Realized-performance measurements of the windows whose labels are in (max_delay past
        their end, or the end of the input) to the monitor's alerting."""
        clock, delay = self.tracker.join.clock, self.tracker.max_delay
        ready = [w for w in self.windows if final or w["end_ts"] + delay <= clock]
        self.windows = [w for w in self.windows if w not in ready]
        for w in ready:
            ms: list[Measurement] = []
            for c, adm in _cohorts(w):
                got = drop_measurements(self.tracker, self.config.monitor, w["tier"],
                                        w["start_ts"], w["end_ts"], c["segment"], c["cohort"],
                                        adm, "realized", list(self.config.performance.metrics))
                ms.extend(got)
                cmp = self.config.compare
                if cmp is not None and c["segment"] == cmp.segment:
                    ms.extend(cohort_drop_measurements(
                        self.tracker, self.config.monitor, w["tier"], w["start_ts"],
                        w["end_ts"], c["segment"], c["cohort"], cmp.reference, adm,
                        list(self.config.performance.metrics)))
                self.tracker.publish("realized", w["tier"], w["start_ts"], w["end_ts"],
                                     c["segment"], c["cohort"], adm)
                if c["segment"] == "all":
                    self.timeline.append(_point(w, "realized", got, clock))
            if self.triggers is not None:
                self.triggers.observe_matured(
                    w["start_ts"], w["end_ts"], w["tier"],
                    self.tracker.state_for(w["start_ts"], w["end_ts"], "all", "all"),
                    self.tracker._reference("all", "all")[0], clock)
            if ms and monitor.alerting is not None:
                monitor.observe_alert_events(
                    monitor.alerting.observe_window(adjusted(ms, self.version)))


def _cohorts(w: dict[str, Any]) -> list[tuple[dict[str, Any], set[str]]]:
    admitted: dict[str, set[str]] = {}
    for c in w["cohorts"]:
        if c["cohort"] != OTHER:
            admitted.setdefault(c["segment"], set()).add(c["cohort"])
    return [(c, admitted.get(c["segment"], set())) for c in w["cohorts"]]


def _point(w: Any, kind: str, ms: list[Measurement], clock: float) -> dict[str, Any]:
    start = w["start_ts"] if isinstance(w, dict) else w.start
    return {"window_start": start, "kind": kind, "at": clock if math.isfinite(clock) else None,
            **{m.metric: m.details["current"] for m in ms}}


def _feed_predictions(tracker: PerformanceTracker, config: DriftlineConfig, d: Any, lo: int, hi: int
                      ) -> None:
    part = take(d, np.arange(lo, hi))
    tracker.add_predictions(part.event_time, ids(part.categorical[ID]), scores_of(part),
                            predicted_of(part, config), segment_values(part, config.segments))


def attach_performance(windows: list[dict[str, Any]], tracker: PerformanceTracker) -> None:
    """Add ``performance`` to every cohort entry of the report's windows."""
    for w in windows:
        for c, adm in _cohorts(w):
            c["performance"] = tracker.record(w["start_ts"], w["end_ts"], c["segment"],
                                              c["cohort"], adm)
