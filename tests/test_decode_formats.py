"""Avro and Protobuf records decode into exactly the columns the JSON decoder produces; broken
records are dead letters with their reason; configs without what a format needs fail clearly."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from fastavro import parse_schema, writer
from google.protobuf import descriptor_pb2

from driftline.stream.config.model import ConfigError, parse_config
from driftline.stream.decode.avro import AvroDecoder
from driftline.stream.decode.decoder import Decoder, FieldSpec
from driftline.stream.decode.protobuf import ProtobufDecoder, message_class
from driftline.stream.decode.schema_registry import SchemaRegistryClient
from driftline.stream.sources.baselines import build_baseline
from driftline.stream.sources.files import read_events
from tests.helpers_decode import assert_same_values, avro_bodies
from tests.helpers_kafka_worker import free_port

FEATURES = [FieldSpec("amount", "numeric"), FieldSpec("score", "numeric", "model.score"),
            FieldSpec("kind", "categorical"), FieldSpec("channel", "categorical")]
ARGS: tuple[Any, ...] = (FEATURES, ["region"], "ts", "auto")

MODEL = {"type": "record", "name": "Model", "fields": [
    {"name": "score", "type": ["null", "double"], "default": None}]}
V1 = {"type": "record", "name": "Payment", "namespace": "shop", "fields": [
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "amount", "type": ["null", "double"], "default": None},
    {"name": "kind", "type": ["null", "string"], "default": None},
    {"name": "region", "type": "string"},
    {"name": "model", "type": ["null", MODEL], "default": None}]}


def _events(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        out.append({"ts": 1_700_000_000_000 + 1000 * i,
                    "amount": None if i % 7 == 0 else float(rng.gamma(2.0, 30.0)),
                    "kind": ["card", "wire", None][i % 3],
                    "region": ["eu", "us"][i % 2],
                    "model": None if i % 5 == 0 else {"score": float(rng.random())}})
    return out






def test_bare_avro_with_a_schema_file_gives_the_json_columns() -> None:
    rows = _events(500)
    avro = AvroDecoder(*ARGS, schema=V1)
    got = avro.decode(avro_bodies(V1, rows))
    want = Decoder(*ARGS).decode([orjson.dumps(r) for r in rows])
    assert got.n == 500 and not got.dead_letters
    assert_same_values(got, want)
    assert got.numeric["score"].null.sum() == 100  # model null in every 5th record


def test_broken_avro_records_are_dead_letters_with_their_reason() -> None:
    rows = _events(10)
    values = avro_bodies(V1, rows)
    values[3] = values[3][:4]  # truncated
    values[6] = b"\x00" * 2_000_000  # over max_record_bytes
    d = AvroDecoder(*ARGS, schema=V1).decode(values)
    assert d.n == 8
    assert [(x.index, x.reason) for x in d.dead_letters] == [(3, "invalid_avro"),
                                                              (6, "too_large")]


def test_wire_format_without_a_reachable_registry_dead_letters_every_record() -> None:
    """Bad framing is found without the registry; a registry that does not answer sends the
    records of an unseen id to the DLQ (after ``retries`` attempts), nothing is lost."""
    reg = SchemaRegistryClient(url=f"http://127.0.0.1:{free_port()}", retries=1, timeout=1.0,
                               username="u", password="secret-pw")
    body = avro_bodies(V1, _events(2))
    values = [b"\x00" + struct.pack(">I", 9) + body[0], b"\x01" + body[1], b"\x00\x00"]
    d = AvroDecoder(*ARGS, registry=reg).decode(values)
    assert d.n == 0
    assert [(x.index, x.reason) for x in d.dead_letters] == [
        (0, "schema_registry_unavailable"), (1, "bad_magic_byte"), (2, "bad_magic_byte")]
    assert "secret-pw" not in d.dead_letters[0].detail
    asked = reg.lookups  # within the cooldown another new id fails at once, without asking
    again = AvroDecoder(*ARGS, registry=reg).decode([b"\x00" + struct.pack(">I", 10) + body[0]])
    assert [x.reason for x in again.dead_letters] == ["schema_registry_unavailable"]
    assert reg.lookups == asked


def _proto_descriptor(tmp: Path) -> Path:
    f = descriptor_pb2.FileDescriptorProto(name="pay.proto", package="shop", syntax="proto3")
    model = f.message_type.add(name="Model")
    model.field.add(name="score", number=1, type=1, label=1, proto3_optional=True,
                    oneof_index=0)
    model.oneof_decl.add(name="_score")
    kind = f.enum_type.add(name="Kind")
    for i, k in enumerate(["KIND_UNSPECIFIED", "card", "wire"]):
        kind.value.add(name=k, number=i)
    pay = f.message_type.add(name="Payment")
    pay.field.add(name="ts", number=1, type=3, label=1)  # int64, epoch ms
    pay.field.add(name="amount", number=2, type=1, label=1, proto3_optional=True, oneof_index=0)
    pay.oneof_decl.add(name="_amount")
    pay.field.add(name="kind", number=3, type=14, label=1, type_name=".shop.Kind")
    pay.field.add(name="region", number=4, type=9, label=1)
    pay.field.add(name="model", number=5, type=11, label=1, type_name=".shop.Model")
    path = tmp / "pay.desc"
    path.write_bytes(descriptor_pb2.FileDescriptorSet(file=[f]).SerializeToString())
    return path


def test_protobuf_messages_give_the_json_columns(tmp_path: Path) -> None:
    cls = message_class(_proto_descriptor(tmp_path), "shop.Payment")
    rows = _events(300)
    values = []
    for r in rows:
        m = cls(ts=r["ts"], region=r["region"], kind=r["kind"] or "KIND_UNSPECIFIED")
        if r["amount"] is not None:
            m.amount = r["amount"]
        if r["model"] is not None:
            m.model.score = r["model"]["score"]
        values.append(m.SerializeToString())
    values.append(b"\xff\xff\xff")  # not a message
    got = ProtobufDecoder(*ARGS, message=cls).decode(values)
    json_rows = [{**r, "kind": r["kind"] or "KIND_UNSPECIFIED"} for r in rows]
    want = Decoder(*ARGS).decode([orjson.dumps(r) for r in json_rows])
    assert got.n == 300
    assert [(x.index, x.reason) for x in got.dead_letters] == [(300, "invalid_protobuf")]
    assert_same_values(got, want)


def _cfg(source: dict[str, Any], tmp: Path | None = None) -> Any:
    return parse_config({"monitor": "m", "source": source,
                         "features": [{"name": "amount", "type": "numeric"}]},
                        base_dir=tmp)


@pytest.mark.parametrize(("source", "needle"), [
    ({"format": "avro"}, "format avro needs exactly one of schema_registry"),
    ({"format": "protobuf"}, "format protobuf needs protobuf"),
    ({"avro_schema": "x.avsc"}, "need format avro or protobuf"),
    ({"format": "avro", "avro_schema": "x.avsc",
      "protobuf": {"descriptor_file": "x.desc", "message": "M"}}, "protobuf needs format"),
    ({"format": "avro", "schema_registry": {"url": "http://u:p@reg:8081"}},
     "must not contain credentials"),
])
def test_format_configs_fail_with_the_fix(source: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        _cfg(source)
    assert needle in str(err.value)
    assert "u:p" not in str(err.value) or needle == "must not contain credentials"


def test_baseline_and_backtest_files_can_be_avro_containers(tmp_path: Path) -> None:
    rows = _events(1000)
    path = tmp_path / "events.avro"
    with path.open("wb") as fh:
        writer(fh, parse_schema(V1), rows, codec="deflate", sync_interval=4000)
    dec = Decoder(*ARGS)
    got = read_events(path, dec)
    want = dec.decode([orjson.dumps(r) for r in rows])
    assert got.n == 1000
    assert_same_values(got, want)
    (tmp_path / "p.avsc").write_text(json.dumps(V1))
    cfg = parse_config({"monitor": "m", "source": {"format": "avro", "avro_schema": "p.avsc"},
                        "features": [{"name": "amount", "type": "numeric"},
                                     {"name": "score", "type": "numeric", "path": "model.score"}]},
                       base_dir=tmp_path)
    baseline = build_baseline(cfg, path, min_cohort_rows=1)
    from_json = build_baseline(cfg, _jsonl(tmp_path, rows), min_cohort_rows=1)
    assert baseline.rows == from_json.rows == 1000
    assert baseline.schema == from_json.schema


def _jsonl(tmp: Path, rows: list[dict[str, Any]]) -> Path:
    p = tmp / "events.jsonl"
    p.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return p


V2 = {**V1, "fields": [f for f in V1["fields"] if f["name"] != "kind"]
      + [{"name": "channel", "type": ["null", "string"], "default": None}]}


def test_wire_format_schema_evolution_and_unknown_ids_decode_level() -> None:
    """Two writer schemas mid-batch (v2 drops ``kind``, adds ``channel``), an id the registry
    does not know (404) and an id of a Protobuf schema. The registry's answers are served in
    process (the Confluent API's JSON bodies): this checks the decoder's handling of them;
    the client's HTTP failure path is checked above against a closed port."""
    import httpx

    answers = {1: {"schema": json.dumps(V1)}, 2: {"schema": json.dumps(V2)},
               4: {"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}}

    def serve(req: httpx.Request) -> httpx.Response:
        sid = int(req.url.path.rsplit("/", 1)[1])
        if sid in answers:
            return httpx.Response(200, json=answers[sid])
        return httpx.Response(404, json={"error_code": 40403, "message": "Schema not found"})

    reg = SchemaRegistryClient(url="http://registry.test", transport=httpx.MockTransport(serve))
    rows = _events(40)
    v1 = [struct.pack(">bI", 0, 1) + b for b in avro_bodies(V1, rows[:20])]
    v2_rows = [{k: v for k, v in r.items() if k != "kind"} | {"channel": "app"}
               for r in rows[20:]]
    v2 = [struct.pack(">bI", 0, 2) + b for b in avro_bodies(V2, v2_rows)]
    values = v1[:10] + v2[:10] + v1[10:] + v2[10:]
    values.insert(5, struct.pack(">bI", 0, 3) + b"\x02")
    values.insert(7, struct.pack(">bI", 0, 4) + b"\x00\x02")
    dec = AvroDecoder(*ARGS, registry=reg)
    d = dec.decode(values)
    assert d.n == 40
    assert [(x.index, x.reason) for x in d.dead_letters] == [(5, "unknown_schema_id"),
                                                              (7, "unsupported_schema")]
    order = rows[:10] + v2_rows[:10] + rows[10:20] + v2_rows[10:]
    kind = d.categorical["kind"].column()
    assert [None if n else v for v, n in zip(kind.values.tolist(), kind.null.tolist(),
                                             strict=True)] == [r.get("kind") for r in order]
    channel = d.categorical["channel"].column()
    assert (~channel.null).sum() == 20  # only v2 has the field
    amount = d.numeric["amount"]
    assert amount.values[~amount.null].tolist() == [r["amount"] for r in order
                                                     if r["amount"] is not None]
    first = reg.lookups
    assert dec.decode(values).n == 40 and reg.lookups == first  # every answer cached


def test_check_config_names_the_field_for_missing_files_and_secrets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml
    from typer.testing import CliRunner

    from driftline.stream.cli import app

    def check(source: dict[str, Any], env: dict[str, str] | None = None) -> tuple[int, str]:
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml.safe_dump({"monitor": "m", "source": source,
                                       "features": [{"name": "amount", "type": "numeric"}]}))
        for k in ("DL_REG_USER", "DL_REG_PW"):
            monkeypatch.delenv(k, raising=False)
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        res = CliRunner().invoke(app, ["check-config", "-c", str(cfg)])
        return res.exit_code, res.output

    code, out = check({"format": "avro", "avro_schema": "missing.avsc"})
    assert code == 2 and "source.avro_schema: cannot read" in out and "Traceback" not in out
    (tmp_path / "bad.avsc").write_text('{"type": "record"}')
    code, out = check({"format": "avro", "avro_schema": "bad.avsc"})
    assert code == 2 and "is not a valid Avro schema" in out
    reg = {"url": "http://registry:8081", "username_env": "DL_REG_USER",
           "password_env": "DL_REG_PW"}
    code, out = check({"format": "avro", "schema_registry": reg}, {"DL_REG_USER": "u"})
    assert code == 2 and "source.schema_registry.password_env: environment variable DL_REG_PW" \
        " is not set" in out
    code, out = check({"format": "avro", "schema_registry": reg},
                      {"DL_REG_USER": "u", "DL_REG_PW": "s3cret-value"})
    assert code == 0 and "s3cret-value" not in out
    _proto_descriptor(tmp_path)
    code, out = check({"format": "protobuf",
                       "protobuf": {"descriptor_file": "pay.desc", "message": "Payment"}})
    assert code == 2 and "source.protobuf.message: Payment is not in" in out
