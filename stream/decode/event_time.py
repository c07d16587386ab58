"""Event time of a batch: numbers (seconds or milliseconds) or ISO-8601 strings -> float seconds.

``unit="auto"`` reads numbers above 1e11 as milliseconds (1e11 s is the year 5138, 1e11 ms is
1973) and strings as ISO-8601 (``Z``/offset honoured; no offset means UTC).

A time must lie between the years 1 and 9999 (``MIN_EVENT_TIME`` .. ``MAX_EVENT_TIME``, the
range every window label and result can be written in); anything else -- an integer of 400
digits, ``1e297``, a microsecond epoch read as milliseconds, ``-1e20`` -- is
``invalid_event_time`` ("out of range"). How far a valid time may lie from the stream's clock
is the aggregator's business (``implausible_event_time``, :mod:`stream.engine.plausible`).

>>> t, bad = EventTimeParser("auto").parse([1700000000, 1700000000500, "2023-11-14T22:13:20Z"])
>>> t.tolist(), bad
([1700000000.0, 1700000000.5, 1700000000.0], [])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_MS_THRESHOLD = 1e11
MIN_EVENT_TIME = -62135596800.0  # 0001-01-01T00:00:00Z
MAX_EVENT_TIME = 253402214400.0  # 9999-12-31T00:00:00Z

Bad = tuple[int, str, str]
_NUMBER_TYPES = {float, int}


class EventTimeParser:
    """Vectorized event-time parsing with per-record reasons for what cannot be parsed."""

    def __init__(self, unit: str = "auto") -> None:
        if unit not in ("auto", "s", "ms", "iso8601"):
            raise ValueError(f"unknown event time unit {unit!r}")
        self.unit = unit

    def _numbers(self, t: np.ndarray) -> np.ndarray:
        if self.unit == "ms":
            return t / 1000.0
        if self.unit == "auto":
            return np.where(np.abs(t) > _MS_THRESHOLD, t / 1000.0, t)
        return t

    def parse(self, raw: list[Any] | np.ndarray) -> tuple[np.ndarray, list[Bad]]:
        """Return seconds per row and ``(row, reason, detail)`` for rows without a usable time
        (``raw``: JSON values, or a float array with NaN for null)."""
        n = len(raw)
        if isinstance(raw, np.ndarray) and raw.dtype == np.float64:
            if self.unit != "iso8601":
                t = self._numbers(raw)
                if _in_range(t).all():
                    return t, []
            raw = [None if np.isnan(v) else v for v in raw.tolist()]
        elif self.unit != "iso8601" and set(map(type, raw)) <= _NUMBER_TYPES:
            t = self._numbers(_floats(raw))  # numpy would also take "1", True
            if _in_range(t).all():
                return t, []
        out = np.zeros(n, dtype=np.float64)
        bad: list[Bad] = []
        kinds = np.fromiter(map(_kind, raw), dtype=np.int8, count=n)
        for i in np.flatnonzero(kinds == 0).tolist():
            bad.append((i, "missing_event_time", "no event-time value"))
        for i in np.flatnonzero(kinds == 3).tolist():
            bad.append((i, "invalid_event_time", f"{type(raw[i]).__name__} value"))
        num = np.flatnonzero(kinds == 1)
        if num.shape[0]:
            if self.unit == "iso8601":
                for i in num.tolist():
                    bad.append((i, "invalid_event_time", "a number, expected ISO-8601"))
            else:
                t = _floats([raw[i] for i in num.tolist()])
                finite = np.isfinite(t)
                secs = self._numbers(np.where(finite, t, 0.0))
                out[num] = secs
                for i in num[~finite].tolist():
                    bad.append((i, "invalid_event_time", "not a finite number"))
                for i in num[finite & ~_in_range(secs)].tolist():
                    bad.append((i, "invalid_event_time", _OUT_OF_RANGE))
        strs = np.flatnonzero(kinds == 2)
        if strs.shape[0]:
            if self.unit in ("s", "ms"):
                for i in strs.tolist():
                    bad.append((i, "invalid_event_time", f"a string, expected {self.unit}"))
            else:
                values = [raw[i] for i in strs.tolist()]
                secs, ok = parse_iso(values)
                out[strs] = secs
                inside = _in_range(secs)
                for i, good, fits in zip(strs.tolist(), ok.tolist(), inside.tolist(),
                                         strict=True):
                    if not good:
                        bad.append((i, "invalid_event_time", f"not ISO-8601: {raw[i]!r:.60}"))
                    elif not fits:
                        bad.append((i, "invalid_event_time", _OUT_OF_RANGE))
        bad.sort()
        return out, bad


_OUT_OF_RANGE = "out of range (years 1 to 9999)"


def _in_range(t: np.ndarray) -> np.ndarray:
    """Times in [MIN_EVENT_TIME, MAX_EVENT_TIME] (NaN is not)."""
    return (t >= MIN_EVENT_TIME) & (t <= MAX_EVENT_TIME)


def _floats(values: Any) -> np.ndarray:
    """Numbers as float64 in one C pass; an integer beyond float range (309+ digits) is ±inf."""
    try:
        return np.fromiter(values, dtype=np.float64, count=len(values))
    except OverflowError:
        return np.array([_float(v) for v in values], dtype=np.float64)


def _float(v: Any) -> float:
    try:
        return float(v)
    except OverflowError:
        return float("inf") if v > 0 else float("-inf")


def _kind(v: Any) -> int:
    if v is None:
        return 0
    t = type(v)
    if t is float or t is int:
        return 1
    if t is str:
        return 2
    return 3


def _cast(values: list[str]) -> np.ndarray:
    arr = pa.array(values, type=pa.string())
    try:
        ts = pc.cast(arr, pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:
        ts = pc.cast(arr, pa.timestamp("us"))
    return ts.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64) / 1e6


def parse_iso(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """ISO-8601 strings -> (seconds, ok mask); one vectorized cast, per value only on failure."""
    try:
        return _cast(values), np.ones(len(values), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeEncodeError):
        pass
    out = np.zeros(len(values), dtype=np.float64)
    ok = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        try:
            out[i] = _cast([v])[0]
            ok[i] = True
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeEncodeError):
            pass
    return out, ok
