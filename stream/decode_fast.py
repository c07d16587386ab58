"""Polars fast path of the decoder: one ``polars.read_ndjson`` call per chunk of records.

A chunk of records is joined with newlines and parsed by polars' Rust NDJSON reader with an
explicit schema generated from the config (numeric features ``Float64``, categoricals and
segments ``String``, dotted paths as nested ``Struct`` columns, the event time ``Float64`` or
``String`` for ISO-8601; with ``unit: auto`` the decoder keeps one reader of each and tries
first the one that read the previous chunk). Columns come out as NumPy arrays and dictionary
codes in C, with no Python object per value.

The fast path only answers when its result is exactly what the msgspec path
(:mod:`stream.decode`) would produce for the same chunk; otherwise :meth:`FastReader.read`
returns ``None`` and the caller decodes the chunk the exact way, which also finds every bad
record with its reason. It declines when:

* a record contains a raw carriage return, or a raw newline that makes more lines than
  records (NDJSON framing), or a JSON surrogate escape (``\\ud800``..., which polars and
  msgspec treat differently);
* polars raises for any reason: invalid JSON, not an object, ``NaN``/``Infinity`` literals,
  a string or boolean in a numeric field, invalid UTF-8, a non-object at a nested path, ...;
* a category label is one polars may have made from a non-string JSON value in a way that
  differs from ``sketches.canonical``: an object or array (polars writes its JSON text, the
  exact path counts it invalid) or a number other than a plain integer of at most 15 digits
  (``2.5``, ``-0``, ``1e20``); booleans and small integers give the canonical labels already;
* a nested parent (``model`` of ``model.score``) may be a literal ``null`` in some record
  (polars reads it like a missing parent, the exact path does not): some record lacks the
  parent and the chunk has a ``"model": null`` or any backslash escape;
* an ISO-8601 event time does not parse, or looks like a number.

Known difference, by design: within ONE JSON object that repeats a monitored key
(``{"x": 1, "x": 2}``; RFC 8259 leaves its meaning open), polars keeps the first value and
msgspec the last. Detecting repeated keys costs more than the whole fast path saves, so a
decoder built with ``fast=False`` is the choice for producers that emit them.

>>> r = FastReader([("x", "numeric", ("x",)), ("k", "categorical", ("k",)),
...                 ("__time__", "time", ("ts",))])
>>> c = r.read([b'{"ts": 1, "x": 2.5, "k": "a"}', b'{"ts": 2, "k": "b"}'])
>>> c.numeric["x"].values.tolist()[0], c.categories["k"].labels, c.time_raw.tolist()
(2.5, ['a', 'b'], [1.0, 2.0])
>>> r.read([b'{"ts": 1, "x": NaN}']) is None
True
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sketches.column import Column
from stream.categories import CategoricalCodes

# labels that a non-string JSON value may have produced differently from sketches.canonical
_NUMBERISH = re.compile(r"[-+]?(?:[0-9.eE+-]+|inf|infinity|nan)", re.IGNORECASE)
_PLAIN_INT = re.compile(r"0|-?[1-9][0-9]{0,14}")
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")

Leaf = tuple[str, str, tuple[str, ...]]  # (name, kind, JSON keys)


@dataclass(slots=True)
class FastChunk:
    """Columns of one chunk, all of whose records are valid objects.

    ``time_raw`` is a float array (NaN where the event time is null) for numeric event times,
    or a list of ``str | None`` for ISO-8601 ones."""

    numeric: dict[str, Column]
    categories: dict[str, CategoricalCodes]
    time_raw: Any


def _polars() -> Any:
    import polars

    return polars


def fast_available() -> bool:
    """Whether polars can be imported (the decoder then uses the fast path)."""
    try:
        _polars()
    except ImportError:
        return False
    return True


class FastReader:
    """Parse whole chunks with polars, or decline (``None``) when the result could differ."""

    def __init__(self, leaves: Sequence[Leaf], time_text: bool = False) -> None:
        pl = _polars()
        self._pl = pl
        self._leaves = list(leaves)
        self.time_text = time_text  # the event time as a string column (ISO-8601)
        tree: dict[str, Any] = {}
        for _name, kind, keys in self._leaves:
            node = tree
            for k in keys[:-1]:
                node = node.setdefault(k, {})
            if kind == "numeric" or (kind == "time" and not time_text):
                node[keys[-1]] = pl.Float64
            else:
                node[keys[-1]] = pl.String
        self.schema = {k: _dtype(pl, v) for k, v in tree.items()}
        parents = sorted({keys[:i] for _, _, keys in self._leaves for i in range(1, len(keys))})
        self._parents = [(keys, re.compile(b'"' + re.escape(keys[-1].encode()) + rb'"\s*:\s*null'))
                         for keys in parents]
        self._errors: tuple[type[BaseException], ...] = (Exception, pl.exceptions.PanicException)

    def read(self, chunk: Sequence[bytes]) -> FastChunk | None:
        """Columns of ``chunk``, or None: decode it the exact way (see the module doc)."""
        n = len(chunk)
        blob = b"\n".join(chunk)
        if blob.find(b"\r") >= 0 or (not _all_open_brace(chunk) and blob.count(b"\n") != n - 1):
            return None  # a record with a raw newline could shift rows (see _all_open_brace)
        if blob.find(b"\\") >= 0 and _SURROGATE.search(blob):
            return None
        try:
            df = self._pl.read_ndjson(io.BytesIO(blob), schema=self.schema)
        except self._errors:
            return None
        if df.height != n:
            return None
        for keys, null_literal in self._parents:
            if self._series(df, keys).null_count() and (
                    blob.find(b"\\") >= 0 or null_literal.search(blob)):
                return None  # maybe a literal null parent, not just a missing one
        numeric: dict[str, Column] = {}
        cats: dict[str, CategoricalCodes] = {}
        time_raw: Any = None
        for name, kind, keys in self._leaves:
            s = self._series(df, keys)
            if kind == "numeric":
                v = s.to_numpy(writable=True).astype(np.float64, copy=False)
                numeric[name] = Column(v, np.isnan(v), np.zeros(n, dtype=bool))
            elif kind == "time":
                if self.time_text:
                    if s.str.contains(r"^\s*[-+0-9.eE]*\s*$").any():
                        return None
                    time_raw = s.to_list()
                else:
                    time_raw = s.to_numpy(writable=True).astype(np.float64, copy=False)
            else:
                codes = _dictionary_codes(s)
                if codes is None:
                    return None
                cats[name] = codes
        return FastChunk(numeric, cats, time_raw)

    @staticmethod
    def _series(df: Any, keys: tuple[str, ...]) -> Any:
        s = df.get_column(keys[0])
        for k in keys[1:]:
            s = s.struct.field(k)
        return s


def _all_open_brace(chunk: Sequence[bytes]) -> bool:
    """Whether every record starts with ``{``. Then each gives polars one line or more that is
    not blank, so ``height == len(chunk)`` proves that none was split in two (a line ending
    inside an object fails to parse; trailing blank lines are whitespace to both parsers)."""
    try:
        return all(map(bytes.startswith, chunk, repeat(b"{")))
    except TypeError:  # not bytes (bytearray, memoryview): count the newlines instead
        return False


def _dtype(pl: Any, node: Any) -> Any:
    if isinstance(node, dict):
        return pl.Struct({k: _dtype(pl, v) for k, v in node.items()})
    return node


def _dictionary_codes(s: Any) -> CategoricalCodes | None:
    """Codes in order of first appearance (as ``encode_categories``), or None when a label
    may stand for a non-string JSON value whose canonical label differs."""
    arr = s.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    enc = pc.dictionary_encode(arr)
    labels: list[str] = enc.dictionary.to_pylist()
    for lab in labels:
        if lab[:1] in ("{", "[") or (_NUMBERISH.fullmatch(lab) and not _PLAIN_INT.fullmatch(lab)):
            return None
    idx = enc.indices
    null = np.zeros(len(arr), dtype=bool) if idx.null_count == 0 else np.array(
        idx.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    codes = np.array(idx.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int32)
    return CategoricalCodes(codes, labels, null, np.zeros(len(arr), dtype=bool))
