"""Tumbling event-time windows with a per-partition watermark.

Window ``i`` covers ``[i * size, (i + 1) * size)`` (Unix seconds). The watermark of a source
partition is ``max event time seen - allowed_lateness``; a window is *closed* once the
watermark reaches its end. An event whose window is already closed when it arrives is *late*:
it is counted and never mixed into a window. Lateness is decided event by event in offset
order (a running maximum over the batch), so the outcome does not depend on how the records
were cut into batches — replaying a partition from a checkpoint gives the same windows.

Idle partitions: a partition that receives nothing for ``idle_timeout`` seconds of processing
time (while caught up) advances its watermark as if event time kept pace with the wall clock:
``watermark = max_event_time + (now - last_record_wall_time) - allowed_lateness``. A quiet
partition therefore closes its windows at most ``idle_timeout`` after the wall clock passed
their end plus the lateness, instead of holding them open forever.

>>> clock = WindowClock(size=60, allowed_lateness=20)
>>> idx, late = clock.assign(np.array([5.0, 70.0, 75.0, 30.0, 2.0]))
>>> idx.tolist(), late.tolist(), clock.watermark
([0, 1, 1, 0, 0], [False, False, False, False, False], 55.0)
>>> idx, late = clock.assign(np.array([130.0, 50.0]))
>>> late.tolist(), clock.closed_before(60.0), clock.closed_before(120.0)
([False, True], True, False)
"""

from __future__ import annotations

import math

import numpy as np

_MAX_INDEX = float(2**53)


class WindowClock:
    """Window assignment, lateness and the watermark of one source partition."""

    __slots__ = ("size", "allowed_lateness", "idle_timeout", "max_event_time", "watermark",
                 "last_record_wall")

    def __init__(self, size: float, allowed_lateness: float = 0.0, idle_timeout: float = 30.0
                 ) -> None:
        if size <= 0:
            raise ValueError("window size must be positive")
        self.size = float(size)
        self.allowed_lateness = float(allowed_lateness)
        self.idle_timeout = float(idle_timeout)
        self.max_event_time = -math.inf
        self.watermark = -math.inf
        self.last_record_wall: float | None = None

    def start_of(self, index: int) -> float:
        return index * self.size

    def end_of(self, index: int) -> float:
        return (index + 1) * self.size

    def assign(self, times: np.ndarray, wall_now: float | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Window index per event and the late mask; advances the watermark."""
        t = np.asarray(times, dtype=np.float64)
        # event times are within the years 1..9999 (stream.decode.event_time); the clip only keeps
        # the index an int64 whatever the window size
        idx = np.clip(np.floor(t / self.size), -_MAX_INDEX, _MAX_INDEX).astype(np.int64)
        if t.shape[0] == 0:
            return idx, np.zeros(0, dtype=bool)
        running = np.maximum.accumulate(t)
        before = np.empty_like(running)
        before[0] = self.max_event_time
        np.maximum(running[:-1], self.max_event_time, out=before[1:])
        wm_before = np.maximum(before - self.allowed_lateness, self.watermark)
        late = (idx + 1) * self.size <= wm_before
        self.max_event_time = max(self.max_event_time, float(running[-1]))
        self.watermark = max(self.watermark, self.max_event_time - self.allowed_lateness)
        if wall_now is not None:
            self.last_record_wall = wall_now
        return idx, late

    def touch(self, wall_now: float) -> None:
        """Records arrived (maybe all invalid): the partition is not idle."""
        self.last_record_wall = wall_now

    def advance_idle(self, wall_now: float) -> bool:
        """Advance the watermark of an idle partition (see the module doc); True if it moved."""
        if self.last_record_wall is None or not math.isfinite(self.max_event_time):
            return False
        idle = wall_now - self.last_record_wall
        if idle < self.idle_timeout:
            return False
        target = self.max_event_time + idle - self.allowed_lateness
        if target > self.watermark:
            self.watermark = target
            return True
        return False

    def closed_before(self, end: float) -> bool:
        """True when a window ending at ``end`` is closed."""
        return end <= self.watermark

    def force(self, watermark: float) -> None:
        """Move the watermark forward (end of input: ``math.inf`` closes everything)."""
        self.watermark = max(self.watermark, watermark)

    def state(self) -> dict[str, float | None]:
        return {"max_event_time": _enc(self.max_event_time), "watermark": _enc(self.watermark),
                "last_record_wall": self.last_record_wall}

    def load(self, state: dict[str, float | None]) -> None:
        self.max_event_time = _dec(state.get("max_event_time"))
        self.watermark = _dec(state.get("watermark"))
        self.last_record_wall = None  # processing time does not survive a restart


def _enc(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _dec(x: float | None) -> float:
    return -math.inf if x is None else float(x)
