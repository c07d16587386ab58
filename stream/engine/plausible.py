"""Plausible event times: how far from the stream's clock an event time may lie.

A parsed event time is already within the years 1 to 9999 (:mod:`stream.decode.event_time`). Before
it may move a partition's watermark it must also be *plausible*:

* not more than ``max_future_skew`` after the wall clock (the machine's clock, also in a
  replay: recorded data has no event from the future either; the simulated ``now`` that
  drives idle partitions plays no part), and
* not more than ``max_past_age`` before the latest event time accepted on its partition so far
  (a running maximum in offset order, like lateness, so the outcome does not depend on how
  records were cut into batches).

An implausible event is a dead letter (reason ``implausible_event_time``): it is counted, goes
to the DLQ in a Kafka run, and never moves the watermark, so one ``ts: 1e11`` cannot close
every window of its partition for good. ``None`` disables a bound.

:func:`repair_clock` applies the same rule to a restored watermark (a checkpoint written by a
version without these bounds may hold one at the end of time).

>>> p = PlausibleTimes(max_future_skew=60.0, max_past_age=3600.0, wall=lambda: 1000.0)
>>> bad, why = p.check(np.array([990.0, 5000.0, 995.0, -9000.0]), latest=-math.inf)
>>> bad.tolist(), why
([False, True, False, True], ['more than 1m after the wall clock', \
'more than 1h before the latest event time'])
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from driftline.stream.config.types import format_duration
from driftline.stream.decode.batchops import take
from driftline.stream.decode.decoder import DeadLetter, DecodedBatch
from driftline.stream.decode.event_time import MAX_EVENT_TIME, MIN_EVENT_TIME
from driftline.stream.engine.windows import WindowClock

REASON = "implausible_event_time"


class PlausibleTimes:
    """The two bounds of the module doc; ``wall`` is the clock used when no ``now`` is given."""

    def __init__(self, *, max_future_skew: float | None = 86400.0,
                 max_past_age: float | None = 30 * 86400.0,
                 wall: Callable[[], float] = time.time) -> None:
        self.max_future_skew = max_future_skew
        self.max_past_age = max_past_age
        self.wall = wall

    @classmethod
    def from_config(cls, config: object) -> PlausibleTimes:
        et = getattr(getattr(config, "source", None), "event_time", None)
        if et is None:
            return cls()
        return cls(max_future_skew=et.max_future_skew, max_past_age=et.max_past_age)

    def latest_allowed(self) -> float:
        """The latest plausible event time now."""
        if self.max_future_skew is None:
            return MAX_EVENT_TIME
        return min(MAX_EVENT_TIME, self.wall() + self.max_future_skew)

    def check(self, times: np.ndarray, latest: float) -> tuple[np.ndarray, list[str]]:
        """The implausible rows of ``times`` (in offset order) and why, one text per such row;
        ``latest`` is the partition's latest accepted event time before them."""
        t = np.asarray(times, dtype=np.float64)
        future = (t > self.latest_allowed()) | (t < MIN_EVENT_TIME)
        bad = future
        past = np.zeros(t.shape[0], dtype=bool)
        if self.max_past_age is not None and t.shape[0]:
            ok_t = np.where(future | np.isnan(t), -math.inf, t)
            running = np.maximum.accumulate(ok_t)
            before = np.empty_like(running)
            before[0] = latest
            np.maximum(running[:-1], latest, out=before[1:])
            past = ~future & (t < before - self.max_past_age)
            bad = future | past
        if not bad.any():
            return bad, []
        ahead = (f"more than {format_duration(self.max_future_skew)} after the wall clock"
                 if self.max_future_skew is not None else "out of range")
        behind = (f"more than {format_duration(self.max_past_age)} before the latest event time"
                  if self.max_past_age is not None else "")
        outside = ~((t >= MIN_EVENT_TIME) & (t <= MAX_EVENT_TIME))
        texts = {0: behind, 1: ahead, 3: "out of range (years 1 to 9999)"}
        code = future.astype(np.int8) + 2 * outside.astype(np.int8)
        why = [texts[c] for c in code[bad].tolist()]
        return bad, why


def repair_clock(clock: WindowClock, plausible: PlausibleTimes) -> bool:
    """Reset a restored watermark that lies beyond the latest plausible event time (a
    checkpoint of an older version): the partition's clock starts afresh from its next
    plausible event. True when it was repaired."""
    limit = plausible.latest_allowed()
    if clock.max_event_time <= limit and clock.watermark <= limit:
        return False
    clock.max_event_time = -math.inf
    clock.watermark = -math.inf
    return True


def drop_implausible(d: DecodedBatch, plausible: PlausibleTimes, latest: float
                     ) -> DecodedBatch:
    """``d`` without its implausible events, which become dead letters (by batch index)."""
    bad, why = plausible.check(d.event_time, latest)
    if not why:
        return d
    rows = d.rows[bad].tolist()
    letters = [DeadLetter(int(r), REASON, w) for r, w in zip(rows, why, strict=True)]
    out = take(d, np.flatnonzero(~bad))
    out.dead_letters = sorted(d.dead_letters + letters, key=lambda dl: dl.index)
    return out


def repair_aggregator(agg: Any) -> bool:
    """After a restore (a :class:`stream.engine.aggregator.PartitionAggregator`): a clock past the
    latest plausible event time is reset, the open windows beyond that bound are dropped and
    their events move from ``events`` to ``implausible_event_time`` (the counts stay exact)."""
    if not repair_clock(agg.clock, agg.plausible):
        return False
    limit = agg.plausible.latest_allowed()
    first = agg.segments[0] if agg.segments else "all"
    for idx in [i for i in agg.windows if i * agg.clock.size > limit]:
        w = agg.windows.pop(idx)
        if w.cells is not None:
            dropped = sum(p.events for p in w.cells.values())
        else:
            dropped = sum(p.events for k, p in w.profiles.items() if k[0] == first)
        agg.events -= dropped
        agg.invalid[REASON] = agg.invalid.get(REASON, 0) + dropped
    agg.last_seen = {k: t for k, t in agg.last_seen.items() if t <= limit}
    return True


def repair_merger(merger: Any, plausible: PlausibleTimes) -> bool:
    """After a restore (a :class:`stream.engine.merger.Merger`): source watermarks, the frontier,
    pending partials and rollups past the latest plausible event time (a checkpoint of a
    version without bounds) are dropped, so windows close again on plausible watermarks."""
    limit = plausible.latest_allowed()
    bad = {s for s, w in merger.watermarks.items() if w > limit}
    if not bad and merger.frontier <= limit:
        return False
    for s in bad:
        merger.watermarks.pop(s)
    if merger.frontier > limit:
        sane = [w for w in merger.watermarks.values() if math.isfinite(w)]
        merger.frontier = max(sane, default=-math.inf)
    merger.pending = {s: p for s, p in merger.pending.items() if s <= limit}
    merger.acc = {r: {s: p for s, p in acc.items() if s <= limit}
                  for r, acc in merger.acc.items()}
    return True
