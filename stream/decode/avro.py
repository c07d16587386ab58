"""Avro record values -> the same feature columns as JSON (:mod:`stream.decode.decoder`).

Two layouts (``source.format: avro``):

* the Confluent wire format with a schema registry (``source.schema_registry``): each record names
  its writer schema by id (:mod:`stream.decode.wire`); schemas are fetched once per id and cached
  (:mod:`stream.decode.schema_registry`), so a new schema version mid-stream is just a new id.
  Fields are found by name in whatever schema wrote the record: a field the writer did not have is
  a null, a field the monitor does not watch is skipped;
* bare Avro bodies with one schema file (``source.avro_schema``, an ``.avsc``).

A batch is grouped by schema id; each group is read in chunks of 4,096 by the native reader
compiled from its writer schema (:mod:`stream.decode.avro_native`: monitored values straight
into column buffers), or, when it declines a chunk, by fastavro (one C call per record) and the
same dotted-path extraction and canonicalization as JSON objects (``Decoder.decode_objects``),
which also finds each broken record's reason. Logical types are read as their underlying type
(``timestamp-millis`` as epoch milliseconds, which the event-time unit
``auto`` or ``ms`` reads).

=================================  ========================================================
dead letter ``reason``             record
=================================  ========================================================
``bad_magic_byte``                 not in the wire format (first byte not 0, or < 5 bytes)
``unknown_schema_id``              the registry does not know the schema id (HTTP 404)
``schema_registry_unavailable``    the registry did not answer after ``retries`` attempts
``unsupported_schema``             the id names a schema that is not Avro, or is invalid
``invalid_avro``                   the body does not decode with its schema (truncated...)
``not_record``                     the schema's top level is not a record
=================================  ========================================================

plus ``too_large`` and the event-time reasons of :mod:`stream.decode`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
from fastavro import parse_schema, schemaless_reader

from driftline.stream.config.model import DriftlineConfig
from driftline.stream.decode.avro_native import NativeRecordsReader, compile_program
from driftline.stream.decode.batchops import take
from driftline.stream.decode.decoder import DeadLetter, DecodedBatch, Decoder, FieldSpec
from driftline.stream.decode.schema_registry import (
    RegistryUnavailable,
    SchemaRegistryClient,
    UnknownSchemaId,
)
from driftline.stream.decode.wire import split_frames

_CHUNK = 4096
AVRO_DEAD_LETTER_REASONS = ("bad_magic_byte", "unknown_schema_id", "schema_registry_unavailable",
                            "unsupported_schema", "invalid_avro", "not_record")


def plain_schema(schema: Any) -> Any:
    """``schema`` (parsed JSON) without ``logicalType`` annotations: values are read as their
    underlying Avro type (epoch milliseconds, not datetimes)."""
    if isinstance(schema, dict):
        return {k: plain_schema(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [plain_schema(s) for s in schema]
    return schema


def load_avro_schema(text: str) -> Any:
    """Parse an Avro schema (JSON text) for fastavro, logical types dropped."""
    return parse_schema(plain_schema(json.loads(text)))


def _schema_file(path: Path) -> Any:
    """The parsed JSON of an .avsc file, or a ConfigError naming the field and the problem."""
    from driftline.stream.config.types import ConfigError

    try:
        schema = json.loads(path.read_text())
        parse_schema(plain_schema(schema))
    except OSError as exc:
        raise ConfigError(str(path), [f"source.avro_schema: cannot read {path}: "
                                      f"{exc.strerror}"]) from None
    except Exception as exc:  # noqa: BLE001 - JSON or Avro schema errors, all reported alike
        raise ConfigError(str(path), [f"source.avro_schema: {path} is not a valid Avro schema: "
                                      f"{str(exc)[:200]}"]) from None
    return schema


def _reader(schema: Any) -> Callable[[bytes], Any]:
    def read(body: bytes) -> Any:
        return schemaless_reader(io.BytesIO(body), schema, None)
    return read


class AvroDecoder(Decoder):
    """Decode Avro batches: wire format with ``registry``, else bare bodies with ``schema`` (the
    schema as parsed JSON); one of the two is required, the other arguments are
    :class:`~stream.decode.Decoder`'s."""

    def __init__(
        self,
        features: Sequence[FieldSpec],
        segments: Sequence[str] = (),
        event_time_field: str | None = None,
        event_time_unit: str = "auto",
        max_bytes: int = 1_000_000,
        require_event_time: bool = True,
        *,
        registry: SchemaRegistryClient | None = None,
        schema: Any = None,
        native: bool = True,
    ) -> None:
        super().__init__(features, segments, event_time_field, event_time_unit, max_bytes,
                         require_event_time)
        if (registry is None) == (schema is None):
            raise ValueError("AvroDecoder needs exactly one of registry or schema")
        self.registry = registry
        self.native = native
        self._plain = self._plain_native = None
        if schema is not None:
            self._plain = _reader(parse_schema(plain_schema(schema)))
            if native:
                self._plain_native = compile_program(plain_schema(schema), self._native_leaves())
        self._readers: dict[int, Callable[[bytes], Any]] = {}
        self._natives: dict[int, NativeRecordsReader | None] = {}

    def _native_leaves(self) -> list[tuple[str, str, tuple[str, ...]]]:
        return [(lf.name, lf.kind, lf.attr_path) for lf in self._leaves]

    @classmethod
    def for_config(cls, config: DriftlineConfig, require_event_time: bool = True,
                   environ: Mapping[str, str] | None = None) -> AvroDecoder:
        """The decoder of a config with ``source.format: avro``."""
        import os

        src = config.source
        specs = [FieldSpec(f.name, f.type, f.path) for f in config.features]
        registry = schema = None
        if src.schema_registry is not None:
            registry = SchemaRegistryClient.from_config(
                src.schema_registry, os.environ if environ is None else environ)
        elif src.avro_schema is not None:
            schema = _schema_file(Path(src.avro_schema))
        return cls(specs, config.segments, src.event_time.field, src.event_time.unit,
                   src.max_record_bytes, require_event_time, registry=registry, schema=schema)

    def decode(
        self, values: Sequence[bytes], timestamps_ms: np.ndarray | Sequence[float] | None = None
    ) -> DecodedBatch:
        vals = values if isinstance(values, list) else list(values)
        dead = self.too_large(vals)
        if dead:
            vals = list(vals)
            for d in dead:
                vals[d.index] = b""
        groups, offset = self._groups(vals, dead)
        parts = []
        for sid, positions in groups.items():
            read, native = self._schema(sid, positions, dead)
            if read is None:
                continue
            whole = positions.shape[0] == len(vals)  # one group: no list of its records
            for start in range(0, positions.shape[0], _CHUNK):
                idx = positions[start : start + _CHUNK]
                recs = (vals[start : start + idx.shape[0]] if whole
                        else [vals[i] for i in idx.tolist()])
                got = native.read(recs, offset) if native is not None else None
                if got is not None:
                    parts.append(self._native_part(got, idx))
                    continue
                self.exact_chunks += 1
                bodies = recs if offset == 0 else [r[offset:] for r in recs]
                objs, ok = _decode_group(read, bodies, idx.tolist(), dead)
                parts.append(self._objects_part(objs, np.asarray(ok, dtype=np.int64)))
        out = self._columns(parts, dead, timestamps_ms)
        if len(groups) > 1:  # batch order (the engine does not need it; people reading do)
            out = take(out, np.argsort(out.rows, kind="stable"))
        return out

    def _groups(self, vals: list[bytes], dead: list[DeadLetter]
                ) -> tuple[dict[int, np.ndarray], int]:
        """Positions of the records by schema id (-1: the schema file) and the body offset."""
        skip = {d.index for d in dead}
        if self._plain is not None:
            keep = [i for i in range(len(vals)) if i not in skip] if skip else None
            return {-1: np.arange(len(vals)) if keep is None else np.asarray(keep, np.int64)}, 0
        head = vals[0][:5] if vals else b""
        if (not skip and len(head) == 5 and head[0] == 0
                and all(map(bytes.startswith, vals, repeat(head)))):  # one schema id: C loop
            return {int.from_bytes(head[1:], "big"): np.arange(len(vals))}, 5
        by_id, _, bad = split_frames(vals, bodies=False)
        dead.extend(DeadLetter(i, r, d) for i, r, d in bad if i not in skip)
        return {sid: np.asarray(pos, dtype=np.int64) for sid, pos in by_id.items()}, 5

    def _schema(self, sid: int, positions: np.ndarray, dead: list[DeadLetter]
                ) -> tuple[Callable[[bytes], Any] | None, NativeRecordsReader | None]:
        """The fastavro reader and the native reader (or None) of a schema id."""
        if sid < 0:
            return self._plain, self._plain_native
        read = self._schema_reader(sid, positions.tolist(), dead)
        return read, self._natives.get(sid)

    def _schema_reader(self, sid: int, positions: list[int],
                       dead: list[DeadLetter]) -> Callable[[bytes], Any] | None:
        read = self._readers.get(sid)
        if read is not None:
            return read
        assert self.registry is not None
        try:
            found = self.registry.get(sid)
            if found.type.upper() != "AVRO":
                raise ValueError(f"schema id {sid} is {found.type}, not AVRO")
            schema = plain_schema(json.loads(found.text))
            read = _reader(parse_schema(schema))
            if self.native:
                self._natives[sid] = compile_program(schema, self._native_leaves())
        except UnknownSchemaId as exc:
            dead.extend(DeadLetter(i, "unknown_schema_id", str(exc)) for i in positions)
            return None
        except RegistryUnavailable as exc:
            dead.extend(DeadLetter(i, "schema_registry_unavailable", str(exc)) for i in positions)
            return None
        except Exception as exc:  # noqa: BLE001 - any unreadable schema: its records are dead
            why = f"schema id {sid}: {str(exc)[:200]}"
            dead.extend(DeadLetter(i, "unsupported_schema", why) for i in positions)
            return None
        self._readers[sid] = read
        return read


def _decode_group(read: Callable[[bytes], Any], bodies: list[bytes], positions: list[int],
                  dead: list[DeadLetter]) -> tuple[list[Any], list[int]]:
    """Records of one schema: all at once (a C-level map), or one at a time when one breaks."""
    try:
        got = list(map(read, bodies))
        ok = positions
    except Exception:  # noqa: BLE001 - fastavro raises many types for broken bodies
        got, ok = [], []
        for body, pos in zip(bodies, positions, strict=True):
            try:
                got.append(read(body))
                ok.append(pos)
            except Exception as exc:  # noqa: BLE001
                dead.append(DeadLetter(pos, "invalid_avro", f"{type(exc).__name__}: {exc}"[:200]))
    if not all(type(o) is dict for o in got):
        keep = [k for k, o in enumerate(got) if type(o) is dict]
        dead.extend(DeadLetter(ok[k], "not_record", f"Avro {type(o).__name__}, not a record")
                    for k, o in enumerate(got) if type(o) is not dict)
        got = [got[k] for k in keep]
        ok = [ok[k] for k in keep]
    return got, list(ok)
