"""Native fast path of the decoder: a chunk of JSON records to columns in one Rust pass.

``stream.decode._jsoncols`` (Rust, ``stream/decode/jsoncols/``, built by ``pip install``) scans
each record with a strict JSON scanner that reads only the monitored key paths, validates and
skips the rest, and writes numeric columns (float64), category codes in order of first appearance
with their canonical labels, and the event time straight into buffers: no Python object per value,
and without holding the GIL (the consumer's fetch thread runs meanwhile; one reader is used by one
thread at a time).

It answers only when its result is exactly what the msgspec path (:mod:`stream.decode.decoder`)
gives; otherwise :meth:`NativeReader.read` returns ``None`` and the caller decodes the chunk the
exact way, which also finds every bad record with its reason. It declines a chunk when a record

* is not one JSON object with valid UTF-8 (anything a dead letter could come from);
* has a value of another type than the exact path reads without conversion: a string, boolean,
  object or array in a numeric field, an object or array in a categorical one, a number in a
  categorical field that is not an integer (``2.5``, ``1e20``), ``NaN``/``Infinity``, a
  number out of float range, the integer ``-0`` as a number (the exact path reads the int 0,
  +0.0), a boolean, object or array as the event time;
* repeats a monitored key in one object, has a non-object (``null`` included) where a nested
  path's parent should be, a lone surrogate escape, or nesting deeper than 64 levels.

Without the extension (no Rust toolchain at install time) :func:`native_available` is False and
every chunk goes the exact way: the same results, about twice the decoding time.

>>> r = NativeReader([("x", "numeric", ("x",)), ("k", "categorical", ("k",)),
...                   ("__time__", "time", ("ts",))])
>>> c = r.read([b'{"ts": 1, "x": 2.5, "k": "a"}', b'{"ts": 2, "k": "b"}'])
>>> c.numeric["x"].values.tolist()[0], c.categories["k"].labels, c.time_raw.tolist()
(2.5, ['a', 'b'], [1.0, 2.0])
>>> r.read([b'{"ts": 1, "x": NaN}']) is None
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.sketches.column import Column
from driftline.stream.decode.categories import CategoricalCodes

try:
    from driftline.stream.decode._jsoncols import Reader as _Reader
    from driftline.stream.decode._jsoncols import longest as _longest
except ImportError:  # built without a Rust toolchain
    _Reader = _longest = None

Leaf = tuple[str, str, tuple[str, ...]]  # (name, kind, JSON keys)
_KIND = {"numeric": "numeric", "categorical": "category", "segment": "category", "time": "time"}


def native_available() -> bool:
    """Whether the extension was built (the decoder then uses the fast path)."""
    return _Reader is not None


def longest(records: list[Any]) -> int | None:
    """The length of the longest record, or None (one is not ``bytes``, or no extension)."""
    return None if _longest is None else _longest(records)


@dataclass(slots=True)
class FastChunk:
    """Columns of one chunk, all of whose records are valid objects.

    ``time_raw`` is a float array (NaN where the event time is null or missing), or a list of
    ``float | str | None`` when some event time is a string (ISO-8601)."""

    numeric: dict[str, Column]
    categories: dict[str, CategoricalCodes]
    time_raw: Any


class NativeReader:
    """Decode whole chunks natively, or decline (``None``) when the result could differ."""

    def __init__(self, leaves: Sequence[Leaf]) -> None:
        if _Reader is None:
            raise RuntimeError(
                "stream.decode._jsoncols is not built (no Rust toolchain at install)")
        self._leaves = list(leaves)
        self._numeric = [name for name, kind, _ in leaves if kind == "numeric"]
        self._categories = [name for name, kind, _ in leaves if _KIND[kind] == "category"]
        self._reader = _Reader([(_KIND[kind], list(keys)) for _, kind, keys in leaves])

    def read(self, chunk: list[bytes]) -> FastChunk | None:
        """Columns of ``chunk``, or None: decode it the exact way (see the module doc)."""
        got = self._reader.read(chunk)
        if got is None:
            return None
        num_buf, code_buf, labels, time_raw = got
        n = len(chunk)
        # one numpy call per block of columns, not per column; each column gets its rows
        values = np.frombuffer(num_buf, dtype=np.float64).reshape(len(self._numeric), n)
        null, invalid = np.isnan(values), np.zeros(values.shape, dtype=bool)
        numeric = {name: Column(values[i], null[i], invalid[i])
                   for i, name in enumerate(self._numeric)}
        codes = np.frombuffer(code_buf, dtype=np.int32).reshape(len(self._categories), n)
        missing, invalid = codes < 0, np.zeros(codes.shape, dtype=bool)
        categories = {name: CategoricalCodes(codes[i], labels[i], missing[i], invalid[i])
                      for i, name in enumerate(self._categories)}
        if isinstance(time_raw, bytearray):
            time_raw = np.frombuffer(time_raw, dtype=np.float64)
        return FastChunk(numeric, categories, time_raw)
