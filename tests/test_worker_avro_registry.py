"""``driftline run`` on a topic in the Confluent wire format, written by librdkafka with
confluent-kafka's AvroSerializer, two schema versions mid-stream (v2 drops the optional
``channel`` and adds an optional ``note``), plus records whose schema id no registry knows.

The schemas are served over HTTP (basic auth required) by a small in-test server that answers
the Confluent API call driftline makes (``GET /schemas/ids/{id}``) from the schemas the
serializer registered in confluent-kafka's in-memory registry client. Exact window counts, the
injected shift found in exactly the shifted window and feature, every unknown-id record in the
DLQ with its reason, and the password in no log.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from driftline.stream.config.model import load_config
from driftline.stream.demo.workloads import generate, write_parquet
from driftline.stream.kafka.producer import REASON, SOURCE_OFFSET
from driftline.stream.sources.baselines import build_baseline, save_baseline
from tests.fixtures.waiting import wait_until
from tests.helpers_kafka_worker import (
    Worker,
    exact_counts,
    free_port,
    observed_counts,
    read_topic,
    small_worker_config,
    wait_for_windows,
)

sr = pytest.importorskip("confluent_kafka.schema_registry")
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

N = 20_000
START = 1_700_000_000.0
USER, PASSWORD = "monitor", "registry-pw-3c9e"
BASE = [{"name": "ts", "type": "double"}, {"name": "x_normal", "type": "double"},
        {"name": "region", "type": "string"}]
V1 = {"type": "record", "name": "Event", "fields": BASE + [
    {"name": "channel", "type": ["null", "string"], "default": None}]}
V2 = {"type": "record", "name": "Event", "fields": BASE + [
    {"name": "note", "type": ["null", "string"], "default": None}]}


class _Registry(ThreadingHTTPServer):
    def __init__(self, client: Any) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.client = client
        self.requests: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Registry

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.server.requests.append(self.path)
        want = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != want:
            return self._send(401, {"error_code": 401, "message": "Unauthorized"})
        try:
            s = self.server.client.get_schema(int(self.path.rsplit("/", 1)[1]))
        except Exception:  # noqa: BLE001 - the in-memory client's own not-found error
            return self._send(404, {"error_code": 40403, "message": "Schema not found"})
        return self._send(200, {"schema": s.schema_str})

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_two_schema_versions_through_the_wire_format(kafka: Any, tmp_path: Any,
                                                      monkeypatch: Any) -> None:
    w = generate(N, seed=21, scenario="abrupt_shift", change_at=N // 2, magnitude=1.0,
                 events_per_second=1000.0, start_ts=START)
    cols = w.columns
    client = sr.SchemaRegistryClient.new_client({"url": "mock://driftline-e2e"})
    ctx = SerializationContext("events", MessageField.VALUE)
    v1 = AvroSerializer(client, json.dumps(V1))
    v2 = AvroSerializer(client, json.dumps(V2))
    values = []
    for i in range(N):
        rec = {"ts": float(cols["ts"][i]), "x_normal": float(cols["x_normal"][i]),
               "region": str(cols["region"][i])}
        if i < N // 3:
            values.append(v1({**rec, "channel": str(cols["channel"][i])}, ctx))
        else:  # the new version from a third of the way in
            values.append(v2({**rec, "note": "n"}, ctx))
    ids = sorted({int.from_bytes(v[1:5], "big") for v in values})
    assert len(ids) == 2
    unknown = [b"\x00" + (ids[-1] + 1000).to_bytes(4, "big") + values[0][5:]] * 7
    topic = kafka.create_topic(kafka.unique_topic("avro-wire"), partitions=1)
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 20})
    for v in values + unknown:  # librdkafka, the way most services produce
        producer.produce(topic, v)
        producer.poll(0)
    assert producer.flush(30) == 0
    del producer

    registry = _Registry(client)
    threading.Thread(target=registry.serve_forever, daemon=True).start()
    monkeypatch.setenv("DL_E2E_REGISTRY_USER", USER)
    monkeypatch.setenv("DL_E2E_REGISTRY_PW", PASSWORD)
    try:
        cfg_path = small_worker_config(kafka, tmp_path, topic, kafka.unique_topic("avro-wire"),
                                       f"127.0.0.1:{free_port()}")
        raw = yaml.safe_load(cfg_path.read_text())
        raw["source"].update({"format": "avro", "schema_registry": {
            "url": f"http://127.0.0.1:{registry.server_address[1]}",
            "username_env": "DL_E2E_REGISTRY_USER", "password_env": "DL_E2E_REGISTRY_PW"}})
        raw["baseline"] = str(tmp_path / "baseline.dlb")
        raw["drift"] = {"metric": "psi", "warning": 0.1, "critical": 0.2, "min_samples": 300}
        cfg_path.write_text(yaml.safe_dump(raw))
        cfg = load_config(cfg_path)
        train = generate(30_000, seed=22, events_per_second=1000.0, start_ts=START - 3600)
        save_baseline(build_baseline(cfg, write_parquet(train, tmp_path / "train.parquet")),
                      tmp_path / "baseline.dlb")
        expected = exact_counts(cols["ts"], 10.0, {"region": cols["region"]})
        worker = Worker(cfg_path, tmp_path / "worker.log", log_level="debug")
        try:
            worker.wait_ready()
            results = wait_for_windows(kafka.bootstrap, str(cfg.kafka.results_topic),
                                       set(expected), "10s")
            dlq = wait_until(lambda: (lambda r: r if len(r) >= len(unknown) else None)(
                read_topic(kafka.bootstrap, str(cfg.kafka.dlq_topic))), 60, 0.5, "DLQ filled")
            assert worker.alive(), worker.tail()
        finally:
            assert worker.terminate() == 0, worker.tail()
    finally:
        registry.shutdown()
        registry.server_close()

    assert observed_counts(results, "10s") == expected
    drifting = {(k[1], k[2], k[3], f["name"]) for k, r in results.items()
                for f in r["features"] if f["status"] == "drift"}
    assert (START + 10.0, "all", "all", "x_normal") in drifting
    assert {d[0] for d in drifting} == {START + 10.0} and {d[3] for d in drifting} == {"x_normal"}
    # channel is only in v1: its nulls count the v2 events of each window exactly
    for (_, start, seg, cohort), r in results.items():
        if (seg, cohort) != ("all", "all"):
            continue
        in_window = (cols["ts"] >= start) & (cols["ts"] < start + 10.0)
        v2_events = int(in_window[N // 3:].sum())
        channel = next(f for f in r["features"] if f["name"] == "channel")
        assert channel["null_ratio"] == pytest.approx(v2_events / int(in_window.sum()),
                                                      rel=1e-9)
    assert len(dlq) == len(unknown)
    origins = {int(dict(rec.headers)[SOURCE_OFFSET]): dict(rec.headers)[REASON].decode()
               for rec in dlq}
    assert sorted(origins) == list(range(N, N + len(unknown)))
    assert Counter(origins.values()) == {"unknown_schema_id": len(unknown)}
    # one lookup per id: the two versions and the unknown one (404s are remembered)
    assert sorted(registry.requests) == sorted(f"/schemas/ids/{i}" for i in
                                               [*ids, ids[-1] + 1000])
    assert PASSWORD not in worker.output()
