"""JSON record values (bytes) -> feature columns for a whole batch.

The fast path decodes the batch in ONE msgspec call into a struct generated from the config
(unknown fields skipped in C, nested paths like ``model.score`` as nested structs), then builds
each column with one C-level pass (``np.fromiter`` over an ``attrgetter``). Only a chunk that
fails as a whole falls back to one record at a time, to find each bad record and its reason:

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
from operator import attrgetter
from typing import Any, Literal

import msgspec
import numpy as np

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
_CHUNK = 2048

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
        self._batch_decoder = msgspec.json.Decoder(list[self._struct])  # type: ignore[name-defined]
        self._one_decoder = msgspec.json.Decoder(self._struct)
        self._getters = {leaf.name: attrgetter(leaf.attr) for leaf in self._leaves}

    @classmethod
    def from_config(cls, config: Any, max_bytes: int = DEFAULT_MAX_BYTES,
                    require_event_time: bool = True) -> Decoder:
        """A decoder for a ``DriftlineConfig`` (``require_event_time=False`` keeps records
        without a usable event time, with time NaN: baseline building)."""
        specs = [FieldSpec(f.name, f.type, f.path) for f in config.features]
        et = config.source.event_time
        return cls(specs, config.segments, et.field, et.unit, max_bytes, require_event_time)

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
        structs: list[Any] = []
        rows: list[int] = []
        patches: list[tuple[int, str, str]] = []  # (position in structs, leaf, "invalid"|"nan")
        for start in range(0, len(vals), _CHUNK):
            chunk = vals[start : start + _CHUNK]
            try:
                structs.extend(self._batch_decoder.decode(b"[" + b",".join(chunk) + b"]"))
                rows.extend(ok_idx[start : start + len(chunk)].tolist())
                continue
            except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, ValueError):
                pass
            for j, raw in enumerate(chunk):
                self._decode_one(raw, int(ok_idx[start + j]), structs, rows, patches, dead)
        return self._columns(structs, rows, patches, dead, timestamps_ms)

    def _decode_one(
        self,
        raw: bytes,
        idx: int,
        structs: list[Any],
        rows: list[int],
        patches: list[tuple[int, str, str]],
        dead: list[DeadLetter],
    ) -> None:
        try:
            structs.append(self._one_decoder.decode(raw))
            rows.append(idx)
            return
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, ValueError):
            pass
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            dead.append(DeadLetter(idx, "not_utf8", str(exc)[:200]))
            return
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            dead.append(DeadLetter(idx, "invalid_json", str(exc)[:200]))
            return
        if not isinstance(obj, dict):
            dead.append(DeadLetter(idx, "not_object", f"JSON {type(obj).__name__}, not an object"))
            return
        pos = len(structs)
        values: dict[str, Any] = {}
        for leaf in self._leaves:
            v = _lookup(obj, leaf.attr_path)
            if leaf.kind == "numeric":
                if v is None:
                    pass
                elif isinstance(v, bool) or not isinstance(v, int | float):
                    patches.append((pos, leaf.name, "invalid"))
                    v = None
                else:
                    v = float(v)
                    if v != v:
                        patches.append((pos, leaf.name, "nan"))
            elif leaf.kind in ("categorical", "segment"):
                if isinstance(v, dict | list):
                    patches.append((pos, leaf.name, "invalid"))
                    v = None
            elif v is not None and (isinstance(v, bool) or not isinstance(v, int | float | str)):
                dead.append(DeadLetter(idx, "invalid_event_time", f"{type(v).__name__} value"))
                return
            values[leaf.name] = v
        structs.append(_make_struct(self._struct, self._leaves, values))
        rows.append(idx)

    def _columns(
        self,
        structs: list[Any],
        rows_in: list[int],
        patches: list[tuple[int, str, str]],
        dead: list[DeadLetter],
        timestamps_ms: np.ndarray | Sequence[float] | None,
    ) -> DecodedBatch:
        rows = np.asarray(rows_in, dtype=np.int64)
        if self.event_time_field:
            raw_times = list(map(self._getters["__time__"], structs))
            times, bad = self._time.parse(raw_times)
        else:
            if timestamps_ms is None:
                raise ValueError("no event-time field configured: pass the record timestamps")
            ts = np.asarray(timestamps_ms, dtype=np.float64)[rows]
            times, bad = ts / 1000.0, []
        if bad and not self.require_event_time:
            times[[pos for pos, _, _ in bad]] = np.nan
            bad = []
        if bad:
            keep = np.ones(len(structs), dtype=bool)
            for pos, reason, detail in bad:
                keep[pos] = False
                dead.append(DeadLetter(int(rows[pos]), reason, detail))
            remap = np.cumsum(keep) - 1
            structs = [s for s, k in zip(structs, keep.tolist(), strict=True) if k]
            patches = [(int(remap[p]), nm, k) for p, nm, k in patches if keep[p]]
            rows, times = rows[keep], times[keep]
        n = len(structs)
        by_leaf: dict[str, list[tuple[int, str]]] = {}
        for pos, name, kind in patches:
            by_leaf.setdefault(name, []).append((pos, kind))
        numeric: dict[str, Column] = {}
        categorical: dict[str, CategoricalCodes] = {}
        segments: dict[str, CategoricalCodes] = {}
        for leaf in self._leaves:
            getter = self._getters[leaf.name]
            fixes = by_leaf.get(leaf.name, ())
            invalid = np.zeros(n, dtype=bool)
            nan_pos: list[int] = []
            for pos, kind in fixes:
                if kind == "invalid":
                    invalid[pos] = True
                else:
                    nan_pos.append(pos)
            if leaf.kind == "numeric":
                try:
                    col = np.fromiter(map(getter, structs), dtype=np.float64, count=n)
                except TypeError:  # None present: np.array maps None -> NaN
                    col = np.array(list(map(getter, structs)), dtype=np.float64)
                null = np.isnan(col)
                if nan_pos:
                    null[nan_pos] = False
                null &= ~invalid
                numeric[leaf.name] = Column(col, null, invalid)
            elif leaf.kind in ("categorical", "segment"):
                codes = encode_categories(list(map(getter, structs)), invalid)
                (categorical if leaf.kind == "categorical" else segments)[leaf.name] = codes
        dead.sort(key=lambda d: d.index)
        return DecodedBatch(rows, times, numeric, categorical, segments, dead)


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


def _lookup(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    cur: Any = obj
    for k in keys:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(k)
        if cur is None:
            return None
    return cur


def _make_struct(root: type, leaves: list[_Leaf], values: dict[str, Any]) -> Any:
    obj = root()
    for leaf in leaves:
        parts = leaf.attr.split(".")
        target = obj
        for p in parts[:-1]:
            target = getattr(target, p)
        setattr(target, parts[-1], values.get(leaf.name))
    return obj
