"""Native fast path of the Avro decoder: a chunk of records of one schema to columns in Rust.

:func:`compile_program` turns an Avro writer schema (parsed JSON, logical types dropped) and the
decoder's leaves into a table of nodes for ``stream.decode._jsoncols.AvroReader``, which reads each
record along the schema, skips what no column needs and writes the monitored values straight
into column buffers (the same buffers as the JSON fast path, :mod:`stream.decode.native`).

It gives exactly the columns of the exact path (fastavro, then ``Decoder.decode_objects``) or
nothing: the compiler returns ``None`` (the schema always goes the exact way) when a monitored
path crosses an array or map, ends at a record, array or map, or reads a type whose
canonicalization the native reader does not reproduce (a boolean or text as a number, a float
as a category, bytes); the reader declines a chunk (``None``) when a record is truncated, has
bytes left over, a bad union branch or enum index, invalid UTF-8 in a category, or NaN or an
infinity in a monitored number. Recursive named types are left to the exact path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from driftline.sketches.column import Column
from driftline.stream.decode.categories import CategoricalCodes
from driftline.stream.decode.native import FastChunk

try:
    from driftline.stream.decode._jsoncols import AvroReader as _AvroReader
except ImportError:  # built without a Rust toolchain, or an older build
    _AvroReader = None

Leaf = tuple[str, str, tuple[str, ...]]  # (name, kind, keys), as the decoder's leaves
_PRIMITIVE = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
# which Avro types each column kind reads natively (others: the exact path)
_READS = {"numeric": {"null", "int", "long", "float", "double"},
          "category": {"null", "boolean", "int", "long", "string", "enum"},
          "time": {"null", "int", "long", "float", "double"}}
_KIND = {"numeric": "numeric", "categorical": "category", "segment": "category", "time": "time"}
Node = tuple[str, int, list[int], list[str], list[tuple[str, int]]]


class _Fallback(Exception):
    """The schema is left to the exact path."""


class _Compiler:
    def __init__(self, leaves: Sequence[Leaf]) -> None:
        self.nodes: list[Node] = []
        self.named: dict[str, Any] = {}
        self.active: set[str] = set()
        numeric = [lf for lf in leaves if _KIND[lf[1]] == "numeric"]
        category = [lf for lf in leaves if _KIND[lf[1]] == "category"]
        self.captures: dict[tuple[str, ...], list[tuple[str, int]]] = {}
        for cols, kind in ((numeric, "numeric"), (category, "category")):
            for i, (_, _, keys) in enumerate(cols):
                self.captures.setdefault(tuple(keys), []).append((kind, i))
        for _, kind, keys in leaves:
            if kind == "time":
                self.captures.setdefault(tuple(keys), []).append(("time", 0))
        self.prefixes = {keys[:i] for keys in self.captures for i in range(len(keys))}

    def compile(self, schema: Any, path: tuple[str, ...] | None, ns: str) -> int:
        caps = self.captures.get(path, []) if path is not None else []
        crossing = path is not None and path in self.prefixes
        if isinstance(schema, list):
            return self._add("union", 0, [self.compile(s, path, ns) for s in schema], [], [])
        if isinstance(schema, str) and schema not in _PRIMITIVE:
            full = schema if "." in schema or not ns else f"{ns}.{schema}"
            target = self.named.get(full, self.named.get(schema))
            if target is None or full in self.active:
                raise _Fallback(schema)  # unknown or recursive
            self.active.add(full)
            try:
                return self.compile(target, path, full.rpartition(".")[0])
            finally:
                self.active.discard(full)
        t = schema if isinstance(schema, str) else schema.get("type")
        if isinstance(t, (dict, list)):  # {"type": {...}} wraps a type
            return self.compile(t, path, ns)
        if t not in _PRIMITIVE and not isinstance(schema, dict):
            raise _Fallback(str(t))
        if t in ("record", "error", "enum", "fixed"):
            name = schema["name"]
            sub_ns = schema.get("namespace", ns) if "." not in name else name.rpartition(".")[0]
            full = name if "." in name or not sub_ns else f"{sub_ns}.{name}"
            self.named.setdefault(full, schema)
            ns = sub_ns
        for kind, _ in caps:
            if (t if t in ("enum",) or t in _PRIMITIVE else "container") not in _READS[kind]:
                raise _Fallback(f"{t} read as {kind}")
        if t in ("record", "error"):
            if caps:
                raise _Fallback("a record as a value")
            self.active.add(full)
            try:
                fields = [self.compile(f["type"], path + (f["name"],) if path is not None
                                      else None, ns) for f in schema["fields"]]
            finally:
                self.active.discard(full)
            return self._add("record", 0, fields, [], [])
        if t in ("array", "map"):
            if caps or crossing:
                raise _Fallback(f"a monitored path crosses an {t}")
            item = schema["items"] if t == "array" else schema["values"]
            return self._add(t, 0, [self.compile(item, None, ns)], [], [])
        if t == "enum":
            return self._add("enum", 0, [], [str(s) for s in schema["symbols"]], caps)
        if t == "fixed":
            return self._add("fixed", int(schema["size"]), [], [], caps)
        return self._add(str(t), 0, [], [], caps)

    def _add(self, op: str, size: int, children: list[int], symbols: list[str],
             caps: list[tuple[str, int]]) -> int:
        self.nodes.append((op, size, children, symbols, list(caps)))
        return len(self.nodes) - 1


class NativeRecordsReader:
    """Columns from a native reader (an Avro schema's or a Protobuf type's), or None."""

    def __init__(self, reader: Any, leaves: Sequence[Leaf]) -> None:
        self._reader = reader
        self._numeric = [name for name, kind, _ in leaves if _KIND[kind] == "numeric"]
        self._categories = [name for name, kind, _ in leaves if _KIND[kind] == "category"]

    def read(self, records: list[bytes], offset: int) -> FastChunk | None:
        """Columns of ``records`` (each read from ``offset``), or None (decode them exactly)."""
        return self._chunk(self._reader.read(records, offset), len(records))

    def read_block(self, data: bytes, count: int) -> FastChunk | None:
        """Columns of ``count`` records written one after another in ``data`` (a container
        file's block, decompressed), or None."""
        return self._chunk(self._reader.read_block(data, count), count)

    def _chunk(self, got: Any, n: int) -> FastChunk | None:
        if got is None:
            return None
        num_buf, code_buf, labels, time_buf = got
        values = np.frombuffer(num_buf, dtype=np.float64).reshape(len(self._numeric), n)
        null, invalid = np.isnan(values), np.zeros(values.shape, dtype=bool)
        numeric = {name: Column(values[i], null[i], invalid[i])
                   for i, name in enumerate(self._numeric)}
        codes = np.frombuffer(code_buf, dtype=np.int32).reshape(len(self._categories), n)
        missing, inv = codes < 0, np.zeros(codes.shape, dtype=bool)
        categories = {name: CategoricalCodes(codes[i], labels[i], missing[i], inv[i])
                      for i, name in enumerate(self._categories)}
        return FastChunk(numeric, categories, np.frombuffer(time_buf, dtype=np.float64))


def compile_program(schema: Any, leaves: Sequence[Leaf]) -> NativeRecordsReader | None:
    """A native reader for records written with ``schema``, or None (the exact path then)."""
    if _AvroReader is None:
        return None
    if not (isinstance(schema, dict) and schema.get("type") in ("record", "error")):
        return None  # the exact path dead-letters non-records
    c = _Compiler(leaves)
    try:
        root = c.compile(schema, (), "")
    except (_Fallback, KeyError, TypeError, ValueError, AttributeError):
        return None
    n_numeric = sum(1 for _, kind, _ in leaves if _KIND[kind] == "numeric")
    n_category = sum(1 for _, kind, _ in leaves if _KIND[kind] == "category")
    return NativeRecordsReader(_AvroReader(c.nodes, root, n_numeric, n_category), leaves)
