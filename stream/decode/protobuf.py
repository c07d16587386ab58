"""Protobuf record values -> the same feature columns as JSON (:mod:`stream.decode`).

``source.format: protobuf`` decodes each record as the message type ``source.protobuf.message``
of a compiled descriptor set (``source.protobuf.descriptor_file``). With
``source.schema_registry`` the records are in the Confluent wire format (magic byte, schema id,
message indexes, :mod:`stream.decode.wire`): the id must be a ``PROTOBUF`` schema of the registry
(else the record is dead-lettered, as for Avro), and the body is decoded with the configured
message type, so evolution follows Protobuf's own rules (fields the descriptor does not know
are skipped, fields the writer left out are nulls). Without a registry the values are bare
messages.

Feature paths are dotted field names into nested messages. A field with presence (``optional``,
message fields, proto2) that is not set is a null; a proto3 scalar without presence reads as its
value (0 when not sent: proto3 cannot tell the two apart). Enums read as their value names,
so they suit categorical features.

Chunks of 4,096 are read by the native reader compiled from the message type
(:mod:`stream.decode.protobuf_native`) or, when it declines, by the protobuf runtime and the
getters below (:func:`field_getter`), which also find each broken message's reason.

Dead letter reasons: those of :mod:`stream.decode.avro` for the framing and the registry,
``invalid_protobuf`` for a body that does not parse.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

from driftline.stream.config.model import DriftlineConfig
from driftline.stream.config.types import ConfigError
from driftline.stream.decode.decoder import DeadLetter, DecodedBatch, Decoder, FieldSpec
from driftline.stream.decode.protobuf_native import compile_proto
from driftline.stream.decode.schema_registry import (
    RegistryUnavailable,
    SchemaRegistryClient,
    UnknownSchemaId,
)
from driftline.stream.decode.wire import skip_message_indexes, split_frames

_CHUNK = 4096


def message_class(descriptor_file: Path | str, message: str) -> Any:
    """The Python class of ``message`` from a FileDescriptorSet file."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(Path(descriptor_file).read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(message))


def field_getter(desc: Descriptor, keys: tuple[str, ...]) -> Callable[[Any], Any]:
    """A function reading the value at the dotted path ``keys`` of a message (None when not
    set, not a field, or below a repeated field)."""
    steps: list[tuple[str, bool, dict[int, str] | None]] = []
    cur: Descriptor | None = desc
    for k in keys:
        fd = cur.fields_by_name.get(k) if cur is not None else None
        if fd is None or fd.is_repeated:
            return lambda msg: None
        enum = ({v.number: v.name for v in fd.enum_type.values}
                if fd.type == FieldDescriptor.TYPE_ENUM else None)
        steps.append((k, fd.has_presence, enum))
        cur = fd.message_type
    if cur is not None:  # a whole message is no feature value
        return lambda msg: None

    walk = [(name, presence) for name, presence, _ in steps]
    names = steps[-1][2]  # value names when the leaf is an enum
    if len(walk) == 1 and names is None:  # a top-level scalar: no Python loop per value
        name, presence = walk[0]
        if not presence:
            return attrgetter(name)
        return lambda msg: getattr(msg, name) if msg.HasField(name) else None

    def get(msg: Any) -> Any:
        for name, presence in walk:
            if presence and not msg.HasField(name):
                return None
            msg = getattr(msg, name)
        return names.get(msg, str(msg)) if names is not None else msg
    return get


class ProtobufDecoder(Decoder):
    """Decode Protobuf batches of one message class (``registry``: Confluent wire format)."""

    def __init__(
        self,
        features: Sequence[FieldSpec],
        segments: Sequence[str] = (),
        event_time_field: str | None = None,
        event_time_unit: str = "auto",
        max_bytes: int = 1_000_000,
        require_event_time: bool = True,
        *,
        message: Any,
        registry: SchemaRegistryClient | None = None,
        native: bool = True,
    ) -> None:
        super().__init__(features, segments, event_time_field, event_time_unit, max_bytes,
                         require_event_time)
        self.message = message
        self.registry = registry
        self._known: dict[int, tuple[str, str] | None] = {}  # id -> None (ok) or dead letter
        self._pb_getters = {leaf.name: field_getter(message.DESCRIPTOR, leaf.attr_path)
                            for leaf in self._leaves}
        self._native = (compile_proto(message.DESCRIPTOR, [(lf.name, lf.kind, lf.attr_path)
                                                           for lf in self._leaves])
                        if native else None)

    @classmethod
    def for_config(cls, config: DriftlineConfig, require_event_time: bool = True,
                   environ: Mapping[str, str] | None = None) -> ProtobufDecoder:
        """The decoder of a config with ``source.format: protobuf``."""
        src = config.source
        specs = [FieldSpec(f.name, f.type, f.path) for f in config.features]
        registry = None
        if src.schema_registry is not None:
            registry = SchemaRegistryClient.from_config(
                src.schema_registry, os.environ if environ is None else environ)
        proto = src.protobuf
        if proto is None:  # the config model requires it with format protobuf
            raise ConfigError("(config)", ["source.protobuf: required with format protobuf"])
        try:
            msg = message_class(proto.descriptor_file, proto.message)
        except OSError as exc:
            raise ConfigError("(config)", [f"source.protobuf.descriptor_file: cannot read "
                                           f"{proto.descriptor_file}: {exc.strerror}"]
                              ) from None
        except KeyError:
            raise ConfigError("(config)", [
                f"source.protobuf.message: {proto.message} is not in "
                f"{proto.descriptor_file} (give the full name, package included)"]
                              ) from None
        except Exception as exc:  # noqa: BLE001 - a file that is no descriptor set
            raise ConfigError("(config)", [
                f"source.protobuf.descriptor_file: not a FileDescriptorSet "
                f"(protoc --include_imports --descriptor_set_out=FILE): {str(exc)[:200]}"]
                              ) from None
        return cls(specs, config.segments, src.event_time.field, src.event_time.unit,
                   src.max_record_bytes, require_event_time, message=msg, registry=registry)

    def decode(
        self, values: Sequence[bytes], timestamps_ms: np.ndarray | Sequence[float] | None = None
    ) -> DecodedBatch:
        vals = list(values)
        dead = self.too_large(vals)
        for d in dead:
            vals[d.index] = b""
        skip = {d.index for d in dead}
        head = vals[0][:5] if vals else b""
        if self.registry is None:
            ok = [i for i in range(len(vals)) if i not in skip] if skip else list(range(len(vals)))
            bodies = vals
        elif (not skip and len(head) == 5 and head[0] == 0
              and all(map(bytes.startswith, vals, repeat(head)))):  # one schema id: C loop
            why = self._check_id(int.from_bytes(head[1:], "big"))
            ok = list(range(len(vals))) if why is None else []
            if why is not None:
                dead.extend(DeadLetter(i, why[0], why[1]) for i in range(len(vals)))
            bodies = [v[5:] for v in vals]
        else:
            groups, framed, bad = split_frames(vals)
            dead.extend(DeadLetter(i, r, d) for i, r, d in bad if i not in skip)
            ok = []
            for sid, positions in groups.items():
                why = self._check_id(sid)
                if why is None:
                    ok.extend(positions)
                else:
                    dead.extend(DeadLetter(i, why[0], why[1]) for i in positions)
            ok.sort()
            bodies = framed
        parts = []
        for start in range(0, len(ok), _CHUNK):
            pos = ok[start : start + _CHUNK]
            idx = np.asarray(pos, dtype=np.int64)
            chosen: list[bytes] | None = [bodies[i] for i in pos]
            if self.registry is not None:
                try:
                    chosen = [b[1:] if b[:1] == b"\x00" else skip_message_indexes(b)
                              for b in chosen]  # type: ignore[union-attr]
                except ValueError:
                    chosen = None
            got = (self._native.read(chosen, 0) if self._native is not None and chosen
                   else None)
            if got is not None:
                parts.append(self._native_part(got, idx))
                continue
            self.exact_chunks += 1
            msgs, rows = self._parse(chosen, pos, bodies, dead)
            parts.append(self._objects_part(msgs, np.asarray(rows, dtype=np.int64),
                                            self._pb_getters, lenient=False))
        return self._columns(parts, dead, timestamps_ms)

    def _parse(self, chosen: list[bytes] | None, pos: list[int], bodies: list[bytes],
               dead: list[DeadLetter]) -> tuple[list[Any], list[int]]:
        """Messages of one chunk with the protobuf runtime; record by record when one breaks."""
        parse = self.message.FromString
        if chosen is not None:
            try:  # the common case: every body parses (a C-level map)
                return list(map(parse, chosen)), pos
            except (DecodeError, ValueError, IndexError):
                pass
        msgs, rows = [], []
        for i in pos:
            try:
                body = bodies[i] if self.registry is None else skip_message_indexes(bodies[i])
                msgs.append(parse(body))
                rows.append(i)
            except (DecodeError, ValueError, IndexError) as exc:
                dead.append(DeadLetter(i, "invalid_protobuf", f"{type(exc).__name__}: {exc}"[:200]))
        return msgs, rows

    def _check_id(self, sid: int) -> tuple[str, str] | None:
        if sid in self._known:
            return self._known[sid]
        assert self.registry is not None
        try:
            found = self.registry.get(sid)
        except UnknownSchemaId as exc:
            return ("unknown_schema_id", str(exc))  # not remembered: the client caches it
        except RegistryUnavailable as exc:
            return ("schema_registry_unavailable", str(exc))
        why = (None if found.type.upper() == "PROTOBUF"
               else ("unsupported_schema", f"schema id {sid} is {found.type}, not PROTOBUF"))
        self._known[sid] = why
        return why
