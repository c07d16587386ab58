"""Records written by Confluent's own serializers (confluent-kafka's AvroSerializer and
ProtobufSerializer: magic byte, schema id, message indexes) decode into the expected columns,
across a schema change. The serializers register their schemas in confluent-kafka's in-memory
registry client; driftline's registry client reads the same schemas by id through the
Confluent REST answers (``GET /schemas/ids/{id}``) served in process from that client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from driftline.stream.decode.avro import AvroDecoder
from driftline.stream.decode.decoder import FieldSpec
from driftline.stream.decode.protobuf import ProtobufDecoder, message_class
from driftline.stream.decode.schema_registry import SchemaRegistryClient
from tests.test_decode_formats import _proto_descriptor

sr = pytest.importorskip("confluent_kafka.schema_registry")
from confluent_kafka.schema_registry.avro import AvroSerializer  # noqa: E402
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

V1 = {"type": "record", "name": "Payment", "fields": [
    {"name": "ts", "type": "long"}, {"name": "amount", "type": ["null", "double"]},
    {"name": "kind", "type": ["null", "string"], "default": None}]}
V2 = {"type": "record", "name": "Payment", "fields": [  # kind removed, channel added
    {"name": "ts", "type": "long"}, {"name": "amount", "type": ["null", "double"]},
    {"name": "channel", "type": ["null", "string"], "default": None}]}
FEATURES = [FieldSpec("amount", "numeric"), FieldSpec("kind", "categorical"),
            FieldSpec("channel", "categorical")]


def _served_by(client: Any) -> SchemaRegistryClient:
    def serve(req: httpx.Request) -> httpx.Response:
        sid = int(req.url.path.rsplit("/", 1)[1])
        try:
            s = client.get_schema(sid)
        except Exception:  # noqa: BLE001 - the mock raises its own error for unknown ids
            return httpx.Response(404, json={"error_code": 40403})
        return httpx.Response(200, json={"schema": s.schema_str,
                                         "schemaType": s.schema_type or "AVRO"})
    return SchemaRegistryClient(url="http://registry.test", transport=httpx.MockTransport(serve))


def test_confluent_avro_serializer_two_schema_versions() -> None:
    client = sr.SchemaRegistryClient.new_client({"url": "mock://driftline"})
    ctx = SerializationContext("payments", MessageField.VALUE)
    conf = {"auto.register.schemas": True}
    s1 = AvroSerializer(client, json.dumps(V1), conf=conf)
    s2 = AvroSerializer(client, json.dumps(V2), conf=conf)
    values = [s1({"ts": 1000 * i, "amount": float(i), "kind": "card"}, ctx) for i in range(5)]
    values += [s2({"ts": 1000 * i, "amount": None, "channel": "web"}, ctx) for i in range(5, 8)]
    ids = {int.from_bytes(v[1:5], "big") for v in values}
    assert len(ids) == 2 and all(v[0] == 0 for v in values)
    values.append(b"\x00" + (max(ids) + 100).to_bytes(4, "big") + values[0][5:])  # unknown id
    d = AvroDecoder(FEATURES, [], "ts", "ms", registry=_served_by(client)).decode(values)
    assert d.n == 8
    assert [(x.index, x.reason) for x in d.dead_letters] == [(8, "unknown_schema_id")]
    amount = d.numeric["amount"]
    assert amount.null.tolist() == [False] * 5 + [True] * 3
    assert amount.values[:5].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    kind, channel = d.categorical["kind"].column(), d.categorical["channel"].column()
    assert kind.null.tolist() == [False] * 5 + [True] * 3
    assert channel.null.tolist() == [True] * 5 + [False] * 3
    np.testing.assert_array_equal(d.event_time, np.arange(8.0))


def test_confluent_protobuf_serializer(tmp_path: Path) -> None:
    client = sr.SchemaRegistryClient.new_client({"url": "mock://driftline-pb"})
    cls = message_class(_proto_descriptor(tmp_path), "shop.Payment")
    ser = ProtobufSerializer(cls, client, conf={"use.deprecated.format": False})
    ctx = SerializationContext("payments", MessageField.VALUE)
    values = [ser(cls(ts=1000 * i, amount=float(i), kind="wire", region="eu"), ctx)
              for i in range(4)]
    dec = ProtobufDecoder([FieldSpec("amount", "numeric"), FieldSpec("kind", "categorical")],
                          ["region"], "ts", "ms", message=cls, registry=_served_by(client))
    d = dec.decode(values)
    assert d.n == 4 and not d.dead_letters
    assert d.numeric["amount"].values.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert d.categorical["kind"].column().values.tolist() == ["wire"] * 4
