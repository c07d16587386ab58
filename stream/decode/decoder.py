"""JSON record values (bytes) -> feature columns for a whole batch.

Records are decoded in chunks of 4,096. The native fast path (:mod:`stream.decode.native`, a
Rust scanner) reads a chunk's monitored values straight into columns and dictionary codes; it
answers only when its result is exactly the one below, else the chunk goes the exact way (and
``Decoder(..., fast=False)`` always does). The exact path decodes the records with a msgspec
decoder for a struct generated from the config (a C-level ``map``; unknown fields skipped in
C, nested paths like ``model.score`` as nested structs, :mod:`stream.decode.structs`), then
builds each column with one C-level pass (``np.fromiter`` over an ``attrgetter``). A chunk of
4,096 records with a schema violation is decoded again untyped (still in C) and its columns
canonicalized by ``sketches.canonical``; only a chunk with broken records is parsed one record
at a time in Python, to find each bad record and its reason:

============================  =====================================================
dead letter ``reason``        record
============================  =====================================================
``too_large``                 longer than ``max_bytes`` (default 1 MB)
``not_utf8``                  not valid UTF-8
``invalid_json``              not parseable JSON
``not_object``                JSON, but not an object
``missing_event_time``        the event-time field is absent or null
``invalid_event_time``        the event-time field is not a number / ISO-8601 string, or
                              not within the years 1 to 9999
``implausible_event_time``    (set by the aggregator, :mod:`stream.engine.plausible`) too far
                              after the wall clock or before the partition's latest
                              event time
============================  =====================================================

Schema violations inside a valid object (a string in a numeric field, an object in a
categorical one) do not drop the event: the feature counts it as ``invalid``. A missing feature
is a null. ``NaN``/``Infinity`` literals (as Python's ``json`` writes them) are accepted and
counted by the numeric sketch as NaN/inf.

>>> from driftline.stream.decode.decoder import Decoder, FieldSpec
>>> d = Decoder([FieldSpec("amount", "numeric"), FieldSpec("kind", "categorical")],
...             segments=["region"], event_time_field="ts")
>>> b = d.decode([b'{"ts": 10, "amount": 3.5, "kind": "a", "region": "eu"}', b'nope'])
>>> b.n, b.numeric["amount"].values.tolist(), b.dead_letters[0].reason
(1, [3.5], 'invalid_json')
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

from driftline.sketches.canonical import canonical_numbers
from driftline.sketches.column import Column
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.decode.batch import DeadLetter, DecodedBatch, FieldSpec
from driftline.stream.decode.batchops import concat_columns, take
from driftline.stream.decode.categories import CategoricalCodes, concat_codes, encode_categories
from driftline.stream.decode.event_time import EventTimeParser
from driftline.stream.decode.native import NativeReader, longest, native_available
from driftline.stream.decode.structs import Kind, build_struct, dict_getter

DEAD_LETTER_REASONS = (
    "too_large",
    "not_utf8",
    "invalid_json",
    "not_object",
    "missing_event_time",
    "invalid_event_time",
    "implausible_event_time",
)
DEFAULT_MAX_BYTES = 1_000_000
_CHUNK = 4096

class Decoder:
    """Decode JSON batches for a fixed set of features, segments and an event-time field
    (``fast=False``: never the native fast path, see :mod:`stream.decode.native`)."""

    def __init__(
        self,
        features: Sequence[FieldSpec],
        segments: Sequence[str] = (),
        event_time_field: str | None = None,
        event_time_unit: str = "auto",
        max_bytes: int = DEFAULT_MAX_BYTES,
        require_event_time: bool = True,
        fast: bool = True,
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
        self._struct, self._leaves = build_struct(leaves)
        self._one_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(self._struct)
        self._getters = {leaf.name: attrgetter(leaf.attr) for leaf in self._leaves}
        self._numeric_leaves = [leaf for leaf in self._leaves if leaf.kind == "numeric"]
        self._object_leaves = [leaf for leaf in self._leaves if leaf.kind != "numeric"]
        self._dict_getters = {leaf.name: dict_getter(leaf.attr_path) for leaf in self._leaves}
        self.fast_chunks = 0  # chunks decoded by the native fast path / the exact path
        self.exact_chunks = 0
        self._fast: NativeReader | None = None
        if fast and native_available():
            self._fast = NativeReader([(lf.name, lf.kind, lf.attr_path) for lf in self._leaves])

    @classmethod
    def from_config(cls, config: DriftlineConfig, require_event_time: bool = True,
                    fast: bool = True) -> Decoder:
        """A JSON decoder for a ``DriftlineConfig`` (``require_event_time=False`` keeps records
        without a usable event time, with time NaN: baseline building). Any format:
        :func:`stream.decode.factory.decoder_for`."""
        specs = [FieldSpec(f.name, f.type, f.path) for f in config.features]
        src = config.source
        et = src.event_time
        return cls(specs, config.segments, et.field, et.unit, src.max_record_bytes,
                   require_event_time, fast)

    # -- decoding ---------------------------------------------------------------------------
    def decode(
        self, values: Sequence[bytes], timestamps_ms: np.ndarray | Sequence[float] | None = None
    ) -> DecodedBatch:
        """Decode one batch of record values; ``timestamps_ms`` (the Kafka timestamps) when
        there is no event-time field in the config. JSON here; the Avro and Protobuf decoders
        (:mod:`stream.decode.avro`, :mod:`stream.decode.protobuf`) override it."""
        return self.decode_json(values, timestamps_ms)

    def too_large(self, vals: list[bytes]) -> list[DeadLetter]:
        """A ``too_large`` dead letter for each value longer than ``max_bytes`` (one native
        scan of the lengths when none is; every decoder screens its batch with this)."""
        most = longest(vals)  # no Python call per record
        if most is not None and most <= self.max_bytes:
            return []
        lengths = np.fromiter(map(len, vals), dtype=np.int64, count=len(vals))
        return [DeadLetter(i, "too_large", f"{int(lengths[i])} bytes > {self.max_bytes}")
                for i in np.flatnonzero(lengths > self.max_bytes).tolist()]

    def decode_json(
        self, values: Sequence[bytes], timestamps_ms: np.ndarray | Sequence[float] | None = None
    ) -> DecodedBatch:
        """Decode one batch of JSON values (also for JSON Lines files whatever the format)."""
        n_in = len(values)
        vals = list(values)
        dead = self.too_large(vals)
        ok_idx = np.arange(n_in, dtype=np.int64)
        if dead:
            keep = np.ones(n_in, dtype=bool)
            keep[[d.index for d in dead]] = False
            ok_idx = np.flatnonzero(keep)
            vals = [vals[i] for i in ok_idx.tolist()]
        parts: list[_Part] = []
        for start in range(0, len(vals), _CHUNK):
            chunk = vals[start : start + _CHUNK]
            idx = ok_idx[start : start + len(chunk)]
            part = self._fast_part(chunk, idx)
            parts.append(part if part is not None else self._exact_part(chunk, idx, dead))
        return self._columns(parts, dead, timestamps_ms)

    def decode_objects(
        self,
        objs: Sequence[Any],
        rows: np.ndarray,
        dead: list[DeadLetter],
        timestamps_ms: np.ndarray | Sequence[float] | None = None,
        getters: dict[str, Any] | None = None,
        lenient: bool = True,
    ) -> DecodedBatch:
        """Columns of records already decoded (Avro dicts, Protobuf messages): ``objs[k]`` is
        the record at batch index ``rows[k]``; ``dead`` the batch's dead letters so far;
        ``getters`` read each leaf from a record (default: dotted paths into dicts);
        ``lenient=False`` when no leaf can be a container (no check per value)."""
        parts = [self._objects_part(list(objs[s : s + _CHUNK]), rows[s : s + _CHUNK], getters,
                                    lenient) for s in range(0, len(objs), _CHUNK)]
        return self._columns(parts, list(dead), timestamps_ms)

    def _fast_part(self, chunk: list[bytes], idx: np.ndarray) -> _Part | None:
        """The native path for a chunk, or None (then the exact path decides)."""
        if self._fast is None or not chunk:
            return None
        got = self._fast.read(chunk)
        if got is None:
            return None
        return self._native_part(got, idx)

    def _native_part(self, got: Any, idx: np.ndarray) -> _Part:
        """A chunk read by a native reader (a ``FastChunk``) as a part of the batch."""
        times: np.ndarray | None = None
        bad: list[tuple[int, str, str]] = []
        if self.event_time_field:
            times, bad = self._time.parse(got.time_raw)
        self.fast_chunks += 1
        return _Part(idx, got.numeric, got.categories, times, bad)

    def _exact_part(self, chunk: list[bytes], idx_arr: np.ndarray,
                    dead: list[DeadLetter]) -> _Part:
        """The msgspec path for one chunk of at most ``_CHUNK`` records."""
        self.exact_chunks += 1
        try:  # 1. typed: every value has the expected JSON type (a C loop over records)
            structs = list(map(self._one_decoder.decode, chunk))
            nums = {leaf.name: _typed_numbers(self._getters[leaf.name], structs)
                    for leaf in self._numeric_leaves}
            raw = {leaf.name: list(map(self._getters[leaf.name], structs))
                   for leaf in self._object_leaves}
            return self._part(idx_arr, nums, raw, False)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, ValueError,
                RecursionError):
            pass
        try:  # 2. valid JSON with schema violations or non-objects: still a C loop
            objs = list(map(_ANY.decode, chunk))
            idx = idx_arr.tolist()
        except (msgspec.DecodeError, UnicodeDecodeError, ValueError, RecursionError):
            objs, idx = [], []  # 3. one record at a time, to find the broken ones
            for j, one in enumerate(chunk):
                obj = _parse_one(one, int(idx_arr[j]), dead)
                if obj is not _BAD:
                    objs.append(obj)
                    idx.append(int(idx_arr[j]))
        if not all(type(o) is dict for o in objs):
            keep = [k for k, o in enumerate(objs) if type(o) is dict]
            for k, o in enumerate(objs):
                if type(o) is not dict:
                    kind = "null" if o is None else type(o).__name__
                    dead.append(DeadLetter(idx[k], "not_object", f"JSON {kind}, not an object"))
            objs = [objs[k] for k in keep]
            idx = [idx[k] for k in keep]
        return self._objects_part(objs, np.asarray(idx, dtype=np.int64))

    def _objects_part(self, objs: list[Any], idx: np.ndarray,
                      getters: dict[str, Any] | None = None, lenient: bool = True) -> _Part:
        """Columns of decoded records (JSON objects, Avro records, Protobuf messages)."""
        get = self._dict_getters if getters is None else getters
        nums = {}
        for leaf in self._numeric_leaves:
            values = np.fromiter(map(get[leaf.name], objs), dtype=object, count=len(objs))
            x, null, invalid = canonical_numbers(values)
            nums[leaf.name] = Column(x, null, invalid & ~null)
        raw = {leaf.name: list(map(get[leaf.name], objs)) for leaf in self._object_leaves}
        return self._part(idx, nums, raw, lenient)

    def _part(self, idx: np.ndarray, nums: dict[str, Column], raw: dict[str, list[Any]],
              lenient: bool) -> _Part:
        cats: dict[str, CategoricalCodes] = {}
        n = idx.shape[0]
        for leaf in self._object_leaves:
            if leaf.kind == "time":
                continue
            values = raw[leaf.name]
            invalid = None
            if lenient:
                invalid = np.fromiter(map(_is_container, values), dtype=bool, count=n)
                if invalid.any():
                    values = [None if c else v
                              for v, c in zip(values, invalid.tolist(), strict=True)]
            cats[leaf.name] = encode_categories(values, invalid)
        times: np.ndarray | None = None
        bad: list[tuple[int, str, str]] = []
        if self.event_time_field:
            times, bad = self._time.parse(raw["__time__"])
        return _Part(idx, nums, cats, times, bad)

    def _columns(
        self,
        parts: list[_Part],
        dead: list[DeadLetter],
        timestamps_ms: np.ndarray | Sequence[float] | None,
    ) -> DecodedBatch:
        rows = (np.concatenate([p.rows for p in parts]).astype(np.int64, copy=False) if parts
                else np.zeros(0, dtype=np.int64))
        n = rows.shape[0]
        bad: list[tuple[int, str, str]] = []
        if self.event_time_field:
            times = (np.concatenate([p.times for p in parts]) if parts  # type: ignore[misc]
                     else np.zeros(0))
            offset = 0
            for p in parts:
                bad.extend((pos + offset, r, det) for pos, r, det in p.bad)
                offset += p.rows.shape[0]
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
                numeric[leaf.name] = concat_columns([p.numeric[leaf.name] for p in parts])
            elif leaf.kind in ("categorical", "segment"):
                codes = concat_codes([p.categories[leaf.name] for p in parts])
                (categorical if leaf.kind == "categorical" else segments)[leaf.name] = codes
        out = DecodedBatch(rows, times, numeric, categorical, segments, dead)
        if bad:
            keep = np.ones(n, dtype=bool)
            for pos, reason, detail in bad:
                keep[pos] = False
                dead.append(DeadLetter(int(rows[pos]), reason, detail))
            out = take(out, np.flatnonzero(keep))
        out.dead_letters = sorted(dead, key=lambda d: d.index)
        return out


@dataclass(slots=True)
class _Part:
    """One decoded chunk: batch indices of its valid records and their columns."""

    rows: np.ndarray
    numeric: dict[str, Column]
    categories: dict[str, CategoricalCodes]
    times: np.ndarray | None
    bad: list[tuple[int, str, str]]


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
        return json.loads(text, parse_int=_int)
    except (ValueError, RecursionError) as exc:
        dead.append(DeadLetter(idx, "invalid_json", str(exc)[:200]))
        return _BAD


def _int(text: str) -> int | float:
    """A JSON integer; one longer than Python converts (4,300 digits) reads as ±inf, like a
    float beyond range (``1e400``)."""
    try:
        return int(text)
    except ValueError:
        return float("-inf") if text.startswith("-") else float("inf")


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
