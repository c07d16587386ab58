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

from pathlib import Path
from typing import Any

import numpy as np

from stream.batchops import take
from stream.cohorts import OTHER
from stream.performance import PerformanceTracker
from stream.performance_io import (
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
from stream.sources.files import read_events


def replay_performance(config: Any, baseline: Any, events: Path | str,
                       labels: Path | str | None) -> tuple[PerformanceTracker, dict[str, Any]]:
    """Replay predictions (and labels) through a tracker; returns it and the label input
    counts."""
    if config.model is None:
        raise ValueError("model quality needs `model:` in the config (prediction and id)")
    if labels is not None and config.labels is None:
        raise ValueError("--labels needs `labels:` in the config (id, label, time)")
    if labels is not None and not config.labels.time:
        raise ValueError("a backtest replays labels at their own time: set labels.time "
                         "(files carry no Kafka timestamps)")
    tracker = tracker_for(config, baseline)
    p = read_events(Path(events), prediction_decoder(config))
    p = take(p, np.argsort(p.event_time, kind="stable"))
    info: dict[str, Any] = {"file": None, "events": 0, "dead_letters": {}}
    if labels is None:
        _feed_predictions(tracker, config, p, 0, p.n)
        return tracker, info
    lab = read_events(Path(labels), label_decoder(config))
    reasons: dict[str, int] = {}
    for dl in lab.dead_letters:
        reasons[dl.reason] = reasons.get(dl.reason, 0) + 1
    tracker.count_malformed(len(lab.dead_letters))
    info = {"file": Path(labels).name, "events": lab.n + len(lab.dead_letters),
            "dead_letters": reasons}
    lab = take(lab, np.argsort(lab.event_time, kind="stable"))
    lid, ly = ids(lab.categorical[ID]), label_column(lab, config.model.task)
    # one timeline: kind 0 = prediction, 1 = label; ties put the prediction first
    times = np.concatenate([p.event_time, lab.event_time])
    kinds = np.concatenate([np.zeros(p.n, np.int8), np.ones(lab.n, np.int8)])
    order = np.lexsort((kinds, times))
    k = kinds[order]
    cuts = np.concatenate([[0], np.flatnonzero(np.diff(k)) + 1, [k.shape[0]]])
    pi = li = 0
    for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):
        n = b - a
        if k[a] == 0:
            _feed_predictions(tracker, config, p, pi, pi + n)
            pi += n
        else:
            tracker.add_labels(lab.event_time[li:li + n], lid[li:li + n], ly[li:li + n])
            li += n
    tracker.finish()
    return tracker, info


def _feed_predictions(tracker: PerformanceTracker, config: Any, d: Any, lo: int, hi: int
                      ) -> None:
    part = take(d, np.arange(lo, hi))
    tracker.add_predictions(part.event_time, ids(part.categorical[ID]), scores_of(part),
                            predicted_of(part, config), segment_values(part, config.segments))


def attach_performance(windows: list[dict[str, Any]], tracker: PerformanceTracker) -> None:
    """Add ``performance`` to every cohort entry of the report's windows."""
    for w in windows:
        admitted: dict[str, set[str]] = {}
        for c in w["cohorts"]:
            if c["cohort"] != OTHER:
                admitted.setdefault(c["segment"], set()).add(c["cohort"])
        for c in w["cohorts"]:
            c["performance"] = tracker.record(w["start_ts"], w["end_ts"], c["segment"],
                                              c["cohort"], admitted.get(c["segment"]))
