"""The report's numbers as columns: windows x features x cohorts, reduced to at most
``max_columns`` time columns, and their compact binary encoding for the HTML page.

A year of 5-minute windows is 105,120 windows; for 50 features and 20 cohorts that is 105 million
cells, too many for any page. The accumulator therefore folds consecutive windows into columns
(``bucket``): the column keeps the *worst* of its windows -- the largest drift score, the smallest
p-value, the worst status, the largest quality ratio -- and the events summed, so nothing that
fired disappears by zooming out. Windows are added in blocks (numpy arrays over windows), each
block reduced with ``ufunc.reduceat``: no Python loop per window or per value.

Encoding (see :func:`encode`): scores as uint16 in 1e-4 steps (capped at 6.5534; 65535 is "no
score"), p-values as uint8 tenths of a decade (``-10 log10 p``, 255 is "none"), statuses as uint8,
counts as float64, quality ratios (only the feature x cohort rows with a ratio above 0) and
other series as float32; the arrays are concatenated, gzip-compressed and base64-encoded, and
the page inflates them with the browser's own ``DecompressionStream``.

>>> import numpy as np
>>> acc = Accumulator(cohorts=["all=all"], features=[("x", "numeric")],
...                   starts=np.arange(6) * 60.0, max_columns=3)
>>> s = np.array([[[0.1, 0.5, 0.2, 0.0, 0.3, 0.05]]])
>>> acc.add(0, score=s, p=np.full_like(s, 0.5), status=np.full(s.shape, 2, np.uint8),
...         n=np.full((1, 6), 10.0), feature_n=np.full(s.shape, 10.0))
>>> acc.score[0, 0].tolist(), acc.n[0].tolist()
([0.5, 0.20000000298023224, 0.30000001192092896], [20.0, 20.0, 20.0])
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Sequence
from typing import Any

import numpy as np

# status codes in the page (0 = no data in the window)
STATUS = {"insufficient_data": 1, "ok": 2, "drift": 3}
SCORE_STEP = 1e-4
SCORE_NONE = 65535
P_NONE = 255


def _runs(buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets and bucket ids of the runs of equal (sorted) bucket ids."""
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    return starts, buckets[starts]


class Accumulator:
    """Per cohort, feature and time column: the worst score, p-value and status, quality
    ratios (max) and events (sum); per cohort and column, any extra series (mean), e.g. model
    quality. ``starts`` are the start times of all windows, in order."""

    def __init__(self, *, cohorts: Sequence[str], features: Sequence[tuple[str, str]],
                 starts: np.ndarray, max_columns: int = 1000) -> None:
        self.cohorts = list(cohorts)
        self.features = list(features)
        self.starts = np.asarray(starts, dtype=np.float64)
        w = len(self.starts)
        self.columns = max(1, min(w, max_columns))
        self.bucket_of = (np.arange(w, dtype=np.int64) * self.columns) // max(w, 1)
        c, f, b = len(self.cohorts), len(self.features), self.columns
        self.score = np.full((c, f, b), np.nan, np.float32)
        self.p = np.full((c, f, b), np.nan, np.float32)
        self.status = np.zeros((c, f, b), np.uint8)
        self.n = np.zeros((c, b), np.float64)
        self.quality: dict[str, np.ndarray] = {}
        self.series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.last_seen = np.full((c, f), -1, np.int64)
        self.empty_windows = np.zeros((c, f), np.int64)

    @property
    def column_starts(self) -> np.ndarray:
        """The start time of each column's first window."""
        first = np.flatnonzero(np.r_[True, self.bucket_of[1:] != self.bucket_of[:-1]])
        return self.starts[first] if len(self.starts) else np.zeros(1)

    def column(self, window: int) -> int:
        return int(self.bucket_of[window])

    def add(self, w0: int, *, score: np.ndarray, p: np.ndarray, status: np.ndarray,
            n: np.ndarray, feature_n: np.ndarray,
            quality: dict[str, np.ndarray] | None = None) -> None:
        """Windows ``w0 .. w0 + k``: ``score``/``p``/``status``/``feature_n`` are ``[C, F, k]``
        (NaN for no score), ``n`` is ``[C, k]`` events, ``quality`` maps a ratio name to
        ``[C, F, k]``."""
        k = score.shape[-1]
        starts, ids = _runs(self.bucket_of[w0:w0 + k])
        with np.errstate(invalid="ignore"):
            self.score[..., ids] = np.fmax(self.score[..., ids],
                                           np.fmax.reduceat(score, starts, axis=-1))
            self.p[..., ids] = np.fmin(self.p[..., ids], np.fmin.reduceat(p, starts, axis=-1))
        self.status[..., ids] = np.maximum(self.status[..., ids],
                                           np.maximum.reduceat(status, starts, axis=-1))
        self.n[:, ids] += np.add.reduceat(n, starts, axis=-1)
        seen = feature_n > 0
        idx = np.where(seen, np.arange(w0, w0 + k), -1).max(axis=-1)
        self.last_seen = np.maximum(self.last_seen, idx)
        self.empty_windows += (~seen & (n[:, None, :] > 0)).sum(axis=-1)
        for name, values in (quality or {}).items():
            red = np.fmax.reduceat(np.nan_to_num(values, nan=0.0), starts, axis=-1)
            if name not in self.quality:
                if not red.any():
                    continue  # a ratio that is zero everywhere so far is not stored
                self.quality[name] = np.zeros(self.score.shape, np.float32)
            self.quality[name][..., ids] = np.fmax(self.quality[name][..., ids], red)

    def add_series(self, name: str, w0: int, values: np.ndarray) -> None:
        """Windows ``w0 .. w0 + k`` of a per-cohort series: ``values`` is ``[C, k]``, NaN where
        absent; a column keeps the mean of its windows."""
        if name not in self.series:
            shape = (len(self.cohorts), self.columns)
            self.series[name] = (np.zeros(shape), np.zeros(shape))
        total, count = self.series[name]
        starts, ids = _runs(self.bucket_of[w0:w0 + values.shape[-1]])
        ok = np.isfinite(values)
        total[:, ids] += np.add.reduceat(np.where(ok, values, 0.0), starts, axis=-1)
        count[:, ids] += np.add.reduceat(ok.astype(np.float64), starts, axis=-1)


class Blob:
    """Typed arrays packed into one byte string, each aligned to 8 bytes; ``spec`` tells the
    page where each one is."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.spec: dict[str, list[Any]] = {}
        self.size = 0

    def put(self, name: str, arr: np.ndarray) -> None:
        data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False)
        raw = data.tobytes()
        self.spec[name] = [str(data.dtype.name), self.size, int(data.size)]
        pad = (-len(raw)) % 8
        self.parts.append(raw + b"\0" * pad)
        self.size += len(raw) + pad

    def encode(self) -> str:
        return base64.b64encode(gzip.compress(b"".join(self.parts), 6, mtime=0)).decode()


def quantize_score(x: np.ndarray) -> np.ndarray:
    q = np.rint(np.clip(np.nan_to_num(x, nan=-1.0), -1, 6.5534) / SCORE_STEP)
    return np.where(np.isfinite(x), q, SCORE_NONE).astype(np.uint16)


def quantize_p(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.rint(-10.0 * np.log10(np.clip(p, 1e-300, 1.0)))
    return np.where(np.isfinite(p), np.clip(q, 0, 254), P_NONE).astype(np.uint8)


def encode(acc: Accumulator) -> tuple[dict[str, Any], str]:
    """The column arrays as ``(spec, base64 gzip blob)``."""
    blob = Blob()
    blob.put("score", quantize_score(acc.score))
    blob.put("p", quantize_p(acc.p))
    blob.put("status", acc.status)
    blob.put("n", acc.n)
    blob.put("t", acc.column_starts.astype(np.float64))
    blob.put("wpc", np.bincount(acc.bucket_of, minlength=acc.columns).astype(np.uint32))
    for name, arr in acc.quality.items():  # only the feature x cohort rows that are not all 0
        rows = np.flatnonzero(arr.reshape(-1, acc.columns).any(axis=1))
        blob.put("qi:" + name, rows.astype(np.uint32))
        blob.put("q:" + name, arr.reshape(-1, acc.columns)[rows].astype(np.float32))
    for name, (total, count) in acc.series.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            blob.put("s:" + name, (total / count).astype(np.float32))
    return blob.spec, blob.encode()


def decode(spec: dict[str, Any], blob: str) -> dict[str, np.ndarray]:
    """The arrays of :func:`encode` back (what the page does, for tests and tools)."""
    raw = gzip.decompress(base64.b64decode(blob))
    return {name: np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"), count=count,
                                offset=offset)
            for name, (dtype, offset, count) in spec.items()}
