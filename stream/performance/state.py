"""Checkpoint of a :class:`~stream.performance.PerformanceTracker`: the join table (pending
predictions, held labels, labelled ids and their expiry schedule), the join counters and every
window x cohort performance state, in one versioned frame (:mod:`stream.engine.framing`).

Restoring a snapshot and feeding the rest of the input gives exactly what feeding everything
at once gives (the tests check it), so a worker that checkpoints the snapshot with the input
offsets it covers restarts after a crash with nothing lost or counted twice.

>>> from driftline.stream.config.labels import LabelsConfig, ModelConfig
>>> import numpy as np
>>> def make():
...     return PerformanceTracker(model=ModelConfig(prediction="s", id="i"),
...                               labels=LabelsConfig(id="i", label="y"), window_size=60.0)
>>> a = make(); a.add_predictions(np.array([1.0]), ["p"], np.array([0.7]), None, {})
>>> b = make(); restore(b, snapshot(a)); b.add_labels(np.array([2.0]), ["p"], np.array([1.0]))
>>> b.counters()["joined"], b.record(0.0, 60.0, "all", "all")["labeled"]
(1, 1)
"""

from __future__ import annotations

import heapq
from collections import Counter

from driftline.sketches.performance import PerformanceState
from driftline.stream.engine.framing import pack, unpack
from driftline.stream.performance.join import Pending
from driftline.stream.performance.tracker import PerformanceTracker

_MAGIC = b"DLPF"
_VERSION = 1


def snapshot(t: PerformanceTracker) -> bytes:
    """The tracker's whole state as bytes."""
    j = t.join
    keys = list(j.pending)
    ps = [j.pending[k] for k in keys]
    states = sorted(t.states.items())
    meta = {
        "task": t.task, "bins": t.grid.bins, "clock": j.clock if j.clock > -1e308 else None,
        "pred_clock": j.pred_clock if j.pred_clock > -1e308 else None,
        "counts": dict(j.counts), "without_id": t.without_id, "seq": j._seq,
        "lag": [j.lag_counts, j.lag_sum],
        "pending": [keys, [p.time for p in ps], [p.window for p in ps], [p.score for p in ps],
                    [p.predicted for p in ps], [p.weight for p in ps], [list(p.keys) for p in ps]],
        "early": [[k, v[0], v[1]] for k, v in j.early.items()],
        "done": [[k, v] for k, v in j.done.items()],
        "expiry": [list(e) for e in (*j._expiry, *j._early_expiry)],
        "states": [[w, seg, value] for (w, seg, value), _ in states],
    }
    return pack(_MAGIC, _VERSION, meta, [st.to_bytes() for _, st in states])


def restore(t: PerformanceTracker, data: bytes) -> None:
    """Load a :func:`snapshot` into a tracker built from the same config."""
    _, meta, blobs = unpack(data, _MAGIC, {_VERSION})
    if meta["task"] != t.task or meta["bins"] != t.grid.bins:
        raise ValueError("the performance checkpoint was written for another model config "
                         f"(task {meta['task']}, score_bins {meta['bins']})")
    j = t.join
    j.clock = float("-inf") if meta["clock"] is None else float(meta["clock"])
    pred_clock = meta.get("pred_clock", meta["clock"])  # one clock before pred_clock was kept
    j.pred_clock = float("-inf") if pred_clock is None else float(pred_clock)
    j.counts = Counter({k: int(v) for k, v in meta["counts"].items()})
    j._seq = int(meta["seq"])
    j.lag_counts, j.lag_sum = [int(x) for x in meta["lag"][0]], float(meta["lag"][1])
    t.without_id = int(meta["without_id"])
    keys, times, wins, scores, pred, weights, segs = meta["pending"]
    j.pending = {k: Pending(time=float(a), window=float(b), score=float(c), predicted=bool(d),
                            weight=float(e), keys=tuple(f))
                 for k, a, b, c, d, e, f in zip(keys, times, wins, scores, pred, weights, segs,
                                                strict=True)}
    j.early = {k: (float(a), float(b)) for k, a, b in meta["early"]}
    j.done = {k: float(v) for k, v in meta["done"]}
    expiry = [(float(d), int(s), str(kind), str(k)) for d, s, kind, k in meta["expiry"]]
    j._expiry = [e for e in expiry if e[2] != "early"]
    j._early_expiry = [e for e in expiry if e[2] == "early"]
    heapq.heapify(j._expiry)
    heapq.heapify(j._early_expiry)
    t.states = {(float(w), str(seg), str(value)): PerformanceState.from_bytes(blob)
                for (w, seg, value), blob in zip(meta["states"], blobs, strict=True)}
    if any(st.values != t.values for st in t.states.values()):
        raise ValueError("the performance checkpoint was written with another baseline's "
                         "regression error map (prediction bins); start from an empty state")
    t.reindex()
