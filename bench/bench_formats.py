"""Decode throughput by record format: JSON vs Avro vs Protobuf, the same 25-feature events.

Each row decodes the same events (20 numeric and 5 categorical features, 2 segments, event
time ``ts``) from Kafka record values to the engine's columns with driftline's decoder for that
format: JSON (native scanner), Avro in the Confluent wire format (schema id -> cached schema,
native reader; and fastavro alone, the exact path) and bare Avro with a schema file, Protobuf
in the wire format (message indexes, a descriptor built in memory). The registry is answered
in process (one lookup, then the cache): only decoding is timed. Rates are events per
process-CPU second (and per wall second).

    python -m bench.bench_formats [--quick] [--json]
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

import httpx
import numpy as np
from fastavro import parse_schema, schemaless_writer
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from bench.peers._measure import Timer
from bench.section import emit, section_args
from driftline.stream.config.model import parse_config
from driftline.stream.decode.avro import AvroDecoder
from driftline.stream.decode.decoder import Decoder, FieldSpec
from driftline.stream.decode.protobuf import ProtobufDecoder
from driftline.stream.decode.schema_registry import SchemaRegistryClient
from driftline.stream.demo.workloads import (
    CATEGORICAL,
    SEGMENTS,
    generate,
    monitor_config,
    to_json_lines,
)

SCHEMA_ID = 1


def avro_schema(names: list[str]) -> dict[str, Any]:
    fields = [{"name": n, "type": ["null", "string" if n in CATEGORICAL or n in SEGMENTS
                                    else "double"], "default": None} for n in names]
    return {"type": "record", "name": "Event", "fields": fields}


def proto_message(names: list[str]) -> Any:
    fd = descriptor_pb2.FileDescriptorProto(name="bench_event.proto", package="bench",
                                            syntax="proto3")
    msg = fd.message_type.add(name="Event")
    for i, n in enumerate(names, start=1):
        text = n in CATEGORICAL or n in SEGMENTS
        msg.field.add(name=n, number=i, label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
                      type=(descriptor_pb2.FieldDescriptorProto.TYPE_STRING if text
                            else descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("bench.Event"))


def _registry(schema_type: str, text: str) -> SchemaRegistryClient:
    body = {"schema": text, "schemaType": schema_type}
    transport = httpx.MockTransport(lambda req: httpx.Response(200, json=body))
    return SchemaRegistryClient(url="http://registry.invalid", transport=transport)


def main(argv: list[str] | None = None) -> None:
    args = section_args(__doc__).parse_args(argv)
    n = 20_000 if args.quick else 200_000
    w = generate(n, seed=7)
    names = list(w.columns)
    rows = [dict(zip(names, r, strict=True)) for r in zip(*(w.columns[k].tolist()
                                                             for k in names), strict=True)]
    cfg = parse_config(monitor_config())
    specs = [FieldSpec(f.name, f.type, f.path) for f in cfg.features]
    common = (specs, list(cfg.segments), "ts", "s")
    schema = avro_schema(names)
    parsed = parse_schema(schema)
    header = struct.pack(">bI", 0, SCHEMA_ID)
    bare = []
    for r in rows:
        buf = io.BytesIO()
        schemaless_writer(buf, parsed, r)
        bare.append(buf.getvalue())
    msg = proto_message(names)
    pb = [header + b"\x00" + msg(**r).SerializeToString() for r in rows]
    cases: list[tuple[str, Any, list[bytes]]] = [
        ("JSON (native scanner)", Decoder(*common), to_json_lines(w)),
        ("Avro, wire format + registry", AvroDecoder(
            *common, registry=_registry("AVRO", json.dumps(schema))), [header + b for b in bare]),
        ("Avro, wire format, fastavro only", AvroDecoder(
            *common, registry=_registry("AVRO", json.dumps(schema)), native=False),
         [header + b for b in bare]),
        ("Avro, bare + schema file", AvroDecoder(*common, schema=schema), bare),
        ("Protobuf, wire format + registry", ProtobufDecoder(
            *common, message=msg, registry=_registry("PROTOBUF", "syntax")), pb),
    ]
    table = []
    for label, dec, values in cases:
        dec.decode(values[:1000])  # warm the schema cache
        best: Timer | None = None
        for _ in range(1 if args.quick else 3):
            with Timer() as t:
                out = dec.decode(values)
            best = t if best is None or t.cpu < best.cpu else best
        assert out.n == n and not out.dead_letters, (label, out.n, out.dead_letters[:3])
        assert best is not None
        table.append([label, f"{np.mean([len(v) for v in values]):.0f}",
                      f"{n / best.cpu:,.0f}", f"{n / best.wall:,.0f}"])
    headers = ["format", "bytes/record", "events/s per CPU-s", "events/s wall"]
    if not args.json:
        print(f"{n:,} events, 25 features + 2 segments + event time; best of "
              f"{1 if args.quick else 3} (the wall rate depends on the machine's other load)")
        print(" | ".join(headers))
        for row in table:
            print(" | ".join(row))
        return
    emit({"key": "formats", "title": "Decode throughput by record format",
          "text": [f"{n:,} events, 25 features + 2 segments + event time; best of "
                   f"{1 if args.quick else 3}."],
          "tables": [{"headers": headers, "rows": table}]}, args.json)


if __name__ == "__main__":
    main()
