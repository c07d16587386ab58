"""JSON record values (bytes) -> feature columns for a whole batch.

The fast path decodes the records with a msgspec decoder for a struct generated from the
config (a C-level ``map`` over the batch; unknown fields skipped in C, nested paths like
``model.score`` as nested structs), then builds each column with one C-level pass
(``np.fromiter`` over an ``attrgetter``). A chunk of 4,096 records with a schema violation is
decoded again untyped (still in C) and its columns canonicalized by
``sketches.canonical``; only a chunk with broken records is parsed one record at a time in
Python, to find each bad record and its reason:

============================  =====================================================
dead letter ``reason``        record
============================  =====================================================
``too_large``                 longer than ``max_bytes`` (default 1 MB)
``not_utf8``                  not valid UTF-8
``invalid_json``              not parseable JSON
``not_object``                JSON, but not an object
``missing_event_time``        the event-time field is absent or null
``invalid_event_time``        the event-time field is not a number / ISO-8601 string
============================  =====================================================

Schema violations inside a valid object (a string in a numeric field, an object in a
categorical one) do not drop the event: the feature counts it as ``invalid``. A missing feature
is a null. ``NaN``/``Infinity`` literals (as Python's ``json`` writes them) are accepted and
counted by the numeric sketch as NaN/inf.

>>> from stream.decode import Decoder, FieldSpec
>>> d = Decoder([FieldSpec("amount", "numeric"), FieldSpec("kind", "categorical")],
...             segments=["region"], event_time_field="ts")
>>> b = d.decode([b'{"ts": 10, "amount": 3.5, "kind": "a", "region": "eu"}', b'nope'])
>>> b.n, b.numeric["amount"].values.tolist(), b.dead_letters[0].reason
(1, [3.5], 'invalid_json')
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter, methodcaller
from typing import Any, Literal

import msgspec
import numpy as np

from sketches.canonical import canonical_numbers
from sketches.column import Column
from stream.categories import CategoricalCodes, encode_categories
from stream.event_time import EventTimeParser

DEAD_LETTER_REASONS = (
    "too_large",
    "not_utf8",
    "invalid_json",
    "not_object",
    "missing_event_time",
    "invalid_event_time",
)
DEFAULT_MAX_BYTES = 1_000_000
_CHUNK = 4096

Kind = Literal["numeric", "categorical", "segment", "time"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A feature to extract: ``name``, ``type`` (numeric|categorical), dotted ``path``."""

    name: str
    type: Literal["numeric", "categorical"]
    path: str | None = None

    @property
    def source_path(self) -> str:
        return self.path or self.name


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that cannot be monitored: its index in the batch and why (see module doc)."""

    index: int
    reason: str
    detail: str = ""


@dataclass(slots=True)
class DecodedBatch:
    """Columns of the valid records of one batch (``rows`` = their indices in the batch)."""

    rows: np.ndarray
    event_time: np.ndarray
    numeric: dict[str, Column]
    categorical: dict[str, CategoricalCodes]
    segments: dict[str, CategoricalCodes]
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.rows.shape[0])

    def columns(self) -> dict[str, Column]:
        """Every feature as a ``sketches.column.Column`` (categoricals as canonical labels)."""
        out: dict[str, Column] = dict(self.numeric)
        for name, codes in self.categorical.items():
            out[name] = codes.column()
        return out


@dataclass(slots=True)
class _Leaf:
    kind: Kind
    name: str
    attr: str  # attribute path in the generated struct
    attr_path: tuple[str, ...] = ()  # the JSON keys


class Decoder:
    """Decode JSON batches for a fixed set of features, segments and an event-time field."""

    def __init__(
        self,
        features: Sequence[FieldSpec],
        segments: Sequence[str] = (),
        event_time_field: str | None = None,
        event_time_unit: str = "auto",
        max_bytes: int = DEFAULT_MAX_BYTES,
        require_event_time: bool = True,
    ) -> None:
        self.features = list(features)
        self.require_event_time = require_event_time
        self.segments = list(segments)
        self.event_time_field = event_time_field
        self.max_bytes = max_bytes
        self._time = EventTimeParser(event_time_unit)
        leaves: list[tuple[str, Kind, str]] = [
            (f.source_path, f.type, f.name) for f in self.features
        ]
        leaves += [(s, "segment", s) for s in self.segments]
        if event_time_field:
            leaves.append((event_time_field, "time", "__time__"))
        self._struct, self._leaves = _build_struct(leaves)
        self._one_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(self._struct)
        self._getters = {leaf.name: attrgetter(leaf.attr) for leaf in self._leaves}
        self._numeric_leaves = [leaf for leaf in self._leaves if leaf.kind == "numeric"]
        self._object_leaves = [leaf for leaf in self._leaves if leaf.kind != "numeric"]
        self._dict_getters = {leaf.name: _dict_getter(leaf.attr_path) for leaf in self._leaves}

    @classmethod
    def from_config(cls, config: Any, require_event_time: bool = True) -> Decoder:
        """A decoder for a ``DriftlineConfig`` (``require_event_time=False`` keeps records
        without a usable event time, with time NaN: baseline building)."""
        specs = [FieldSpec(f.name, f.type, f.path) for f in config.features]
        src = config.source
        et = src.event_time
        return cls(specs, config.segments, et.field, et.unit, src.max_record_bytes,
                   require_event_time)

    # -- decoding ---------------------------------------------------------------------------
    def decode(
        self, values: Sequence[bytes], timestamps_ms: np.ndarray | Sequence[float] | None = None
    ) -> DecodedBatch:
        """Decode one batch; ``timestamps_ms`` (the Kafka timestamps) when there is no
        event-time field in the config."""
        n_in = len(values)
        dead: list[DeadLetter] = []
        lengths = np.fromiter(map(len, values), dtype=np.int64, count=n_in)
        ok_idx = np.flatnonzero(lengths <= self.max_bytes)
        if ok_idx.shape[0] < n_in:
            for i in np.flatnonzero(lengths > self.max_bytes).tolist():
                size = f"{int(lengths[i])} bytes > {self.max_bytes}"
                dead.append(DeadLetter(i, "too_large", size))
            vals = [values[i] for i in ok_idx.tolist()]
        else:
            vals = list(values)
        raw: dict[str, list[Any]] = {leaf.name: [] for leaf in self._object_leaves}
        nums: dict[str, list[Column]] = {leaf.name: [] for leaf in self._numeric_leaves}
        rows: list[int] = []
        lenient = False
        for start in range(0, len(vals), _CHUNK):
            chunk = vals[start : start + _CHUNK]
            try:  # 1. typed: every value has the expected JSON type (a C loop over records)
                structs = list(map(self._one_decoder.decode, chunk))
                for leaf in self._numeric_leaves:
                    nums[leaf.name].append(_typed_numbers(self._getters[leaf.name], structs))
                for leaf in self._object_leaves:
                    raw[leaf.name].extend(map(self._getters[leaf.name], structs))
                rows.extend(ok_idx[start : start + len(chunk)].tolist())
                continue
            except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, ValueError,
                    RecursionError):
                pass
            lenient = True
            try:  # 2. valid JSON with schema violations or non-objects: still a C loop
                objs = list(map(_ANY.decode, chunk))
                idx = ok_idx[start : start + len(chunk)].tolist()
            except (msgspec.DecodeError, UnicodeDecodeError, ValueError, RecursionError):
                objs, idx = [], []  # 3. one record at a time, to find the broken ones
                for j, one in enumerate(chunk):
                    obj = _parse_one(one, int(ok_idx[start + j]), dead)
                    if obj is not _BAD:
                        objs.append(obj)
                        idx.append(int(ok_idx[start + j]))
            self._collect(objs, idx, raw, nums, rows, dead)
        return self._columns(raw, nums, rows, lenient, dead, timestamps_ms)

    def _collect(self, objs: list[Any], idx: list[int], raw: dict[str, list[Any]],
                 nums: dict[str, list[Column]], rows: list[int],
                 dead: list[DeadLetter]) -> None:
        if not all(type(o) is dict for o in objs):
            keep = [k for k, o in enumerate(objs) if type(o) is dict]
            for k, o in enumerate(objs):
                if type(o) is not dict:
                    kind = "null" if o is None else type(o).__name__
                    dead.append(DeadLetter(idx[k], "not_object", f"JSON {kind}, not an object"))
            objs = [objs[k] for k in keep]
            idx = [idx[k] for k in keep]
        for leaf in self._numeric_leaves:
            values = np.fromiter(map(self._dict_getters[leaf.name], objs), dtype=object,
                                 count=len(objs))
            x, null, invalid = canonical_numbers(values)
            nums[leaf.name].append(Column(x, null, invalid & ~null))
        for leaf in self._object_leaves:
            raw[leaf.name].extend(map(self._dict_getters[leaf.name], objs))
        rows.extend(idx)

    def _columns(
        self,
        raw: dict[str, list[Any]],
        nums: dict[str, list[Column]],
        rows_in: list[int],
        lenient: bool,
        dead: list[DeadLetter],
        timestamps_ms: np.ndarray | Sequence[float] | None,
    ) -> DecodedBatch:
        rows = np.asarray(rows_in, dtype=np.int64)
        n = rows.shape[0]
        bad: list[tuple[int, str, str]] = []
        if self.event_time_field:
            times, bad = self._time.parse(raw["__time__"])
        else:
            if timestamps_ms is None:
                raise ValueError("no event-time field configured: pass the record timestamps")
            times = np.asarray(timestamps_ms, dtype=np.float64)[rows] / 1000.0
        if bad and not self.require_event_time:
            times[[pos for pos, _, _ in bad]] = np.nan
            bad = []
        numeric: dict[str, Column] = {}
        categorical: dict[str, CategoricalCodes] = {}
        segments: dict[str, CategoricalCodes] = {}
        for leaf in self._leaves:
            if leaf.kind == "numeric":
                numeric[leaf.name] = _concat_columns(nums[leaf.name])
                continue
            values = raw[leaf.name]
            if leaf.kind in ("categorical", "segment"):
                invalid = None
                if lenient:
                    invalid = np.fromiter(map(_is_container, values), dtype=bool, count=n)
                    if invalid.any():
                        values = [None if c else v
                                  for v, c in zip(values, invalid.tolist(), strict=True)]
                codes = encode_categories(values, invalid)
                (categorical if leaf.kind == "categorical" else segments)[leaf.name] = codes
        out = DecodedBatch(rows, times, numeric, categorical, segments, dead)
        if bad:
            keep = np.ones(n, dtype=bool)
            for pos, reason, detail in bad:
                keep[pos] = False
                dead.append(DeadLetter(int(rows[pos]), reason, detail))
            from stream.batchops import take

            out = take(out, np.flatnonzero(keep))
        out.dead_letters = sorted(dead, key=lambda d: d.index)
        return out


_BAD = object()
_ANY = msgspec.json.Decoder()


def _parse_one(one: bytes, idx: int, dead: list[DeadLetter]) -> Any:
    """One record, for the reason it breaks its chunk (NaN/Infinity literals are accepted)."""
    try:
        return msgspec.json.decode(one)
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError, RecursionError):
        pass
    try:
        text = bytes(one).decode("utf-8")
    except UnicodeDecodeError as exc:
        dead.append(DeadLetter(idx, "not_utf8", str(exc)[:200]))
        return _BAD
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        dead.append(DeadLetter(idx, "invalid_json", str(exc)[:200]))
        return _BAD


def _is_container(v: Any) -> bool:
    return type(v) is dict or type(v) is list


def _typed_numbers(getter: Any, structs: list[Any]) -> Column:
    """Typed records: floats and None only (JSON has no NaN on this path)."""
    n = len(structs)
    try:  # numpy reads None as NaN; msgspec rejects NaN/inf literals: here NaN means null
        col = np.fromiter(map(getter, structs), dtype=np.float64, count=n)
    except TypeError:
        col = np.array(list(map(getter, structs)), dtype=np.float64)
    return Column(col, np.isnan(col), np.zeros(n, dtype=bool))


def _concat_columns(parts: list[Column]) -> Column:
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return Column(np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
    return Column(np.concatenate([p.values for p in parts]),
                  np.concatenate([p.null for p in parts]),  # type: ignore[misc]
                  np.concatenate([p.invalid for p in parts]))  # type: ignore[misc]


# -- struct generation ----------------------------------------------------------------------
def _build_struct(leaves: list[tuple[str, Kind, str]]) -> tuple[type, list[_Leaf]]:
    """A msgspec struct type for the dotted paths (nested paths become nested structs)."""
    tree: dict[str, Any] = {}
    for path, kind, name in leaves:
        node = tree
        parts = path.split(".")
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if not isinstance(child, dict):
                raise ValueError(f"path {path!r} conflicts with the leaf field {p!r}")
            node = child
        if parts[-1] in node:
            raise ValueError(f"field path {path!r} is used twice")
        node[parts[-1]] = (kind, name)
    out: list[_Leaf] = []
    counter = [0]

    def make(node: dict[str, Any], prefix: str, keys: tuple[str, ...]) -> type:
        fields: list[tuple[str, Any, Any]] = []
        rename: dict[str, str] = {}
        for key, val in node.items():
            attr = f"f{len(fields)}"
            rename[attr] = key
            if isinstance(val, dict):
                sub = make(val, f"{prefix}{attr}.", (*keys, key))
                fields.append((attr, sub, msgspec.field(default_factory=sub)))
            else:
                kind, name = val
                typ: Any = {
                    "numeric": float | None,
                    "time": float | str | None,
                }.get(kind, str | int | float | bool | None)
                fields.append((attr, typ, None))
                out.append(_Leaf(kind, name, f"{prefix}{attr}", (*keys, key)))
        counter[0] += 1
        return msgspec.defstruct(
            f"_Record{counter[0]}", fields, rename=rename, gc=False, omit_defaults=False
        )

    root = make(tree, "", ())
    return root, out


def _dict_getter(keys: tuple[str, ...]) -> Any:
    if len(keys) == 1:
        return methodcaller("get", keys[0])
    return lambda obj: _lookup(obj, keys)


def _lookup(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    cur: Any = obj
    for k in keys:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(k)
        if cur is None:
            return None
    return cur
