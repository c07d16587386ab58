"""Avro record values -> the same feature columns as JSON (:mod:`stream.decode`).

Two layouts (``source.format: avro``):

* the Confluent wire format with a schema registry (``source.schema_registry``): each record
  names its writer schema by id (:mod:`stream.wire`); schemas are fetched once per id and cached
  (:mod:`stream.schema_registry`), so a new schema version mid-stream is just a new id. Fields
  are found by name in whatever schema wrote the record: a field the writer did not have is a
  null, a field the monitor does not watch is skipped;
* bare Avro bodies with one schema file (``source.avro_schema``, an ``.avsc``).

A batch is grouped by schema id and each group is decoded by fastavro's compiled reader (one C
call per record, no Python per field); the records then take the same dotted-path extraction
and canonicalization as JSON objects (``Decoder.decode_objects``). Logical types are read as
their underlying type (``timestamp-millis`` as epoch milliseconds, which the event-time unit
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
from pathlib import Path
from typing import Any

import numpy as np
from fastavro import parse_schema, schemaless_reader

from stream.decode import DeadLetter, DecodedBatch, Decoder, FieldSpec
from stream.schema_registry import (
    RegistryUnavailable,
    SchemaRegistryClient,
    UnknownSchemaId,
)
from stream.wire import split_frames

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
    from stream.config_base import ConfigError

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
    ) -> None:
        super().__init__(features, segments, event_time_field, event_time_unit, max_bytes,
                         require_event_time)
        if (registry is None) == (schema is None):
            raise ValueError("AvroDecoder needs exactly one of registry or schema")
        self.registry = registry
        self._plain = (_reader(parse_schema(plain_schema(schema))) if schema is not None
                       else None)
        self._readers: dict[int, Callable[[bytes], Any]] = {}

    @classmethod
    def for_config(cls, config: Any, require_event_time: bool = True,
                   environ: Mapping[str, str] | None = None) -> AvroDecoder:
        """The decoder of a config with ``source.format: avro``."""
        import os

        src = config.source
        specs = [FieldSpec(f.name, f.type, f.path) for f in config.features]
        registry = schema = None
        if src.schema_registry is not None:
            registry = SchemaRegistryClient.from_config(
                src.schema_registry, os.environ if environ is None else environ)
        else:
            schema = _schema_file(Path(src.avro_schema))
        return cls(specs, config.segments, src.event_time.field, src.event_time.unit,
                   src.max_record_bytes, require_event_time, registry=registry, schema=schema)

    def decode(
        self, values: Sequence[bytes], timestamps_ms: np.ndarray | Sequence[float] | None = None
    ) -> DecodedBatch:
        dead: list[DeadLetter] = []
        vals = list(values)
        lengths = np.fromiter(map(len, vals), dtype=np.int64, count=len(vals))
        for i in np.flatnonzero(lengths > self.max_bytes).tolist():
            dead.append(DeadLetter(i, "too_large", f"{int(lengths[i])} bytes > {self.max_bytes}"))
            vals[i] = b""
        too_large = {d.index for d in dead}
        if self._plain is not None:
            groups = {-1: [i for i in range(len(vals)) if i not in too_large]}
            bodies = vals
        else:
            groups, bodies, bad = split_frames(vals)
            dead.extend(DeadLetter(i, r, d) for i, r, d in bad if i not in too_large)
        rows: list[np.ndarray] = []
        objs: list[Any] = []
        for sid, positions in groups.items():
            read = self._plain if sid < 0 else self._schema_reader(sid, positions, dead)
            if read is None or not positions:
                continue
            got, ok = _decode_group(read, [bodies[i] for i in positions], positions, dead)
            objs.extend(got)
            rows.append(np.asarray(ok, dtype=np.int64))
        idx = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        if len(groups) > 1:  # keep batch order (the engine's windows do not need it; tests do)
            order = np.argsort(idx, kind="stable")
            idx = idx[order]
            objs = [objs[k] for k in order.tolist()]
        return self.decode_objects(objs, idx, dead, timestamps_ms)

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
            read = _reader(load_avro_schema(found.text))
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
