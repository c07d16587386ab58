"""``driftline run`` on an Avro topic (bare Avro bodies, one .avsc), with a baseline built from
an Avro container file: the events are counted exactly, the injected shift is found in exactly
the shifted feature and window, undecodable records go to the DLQ with their reason and origin,
and the worker stays up.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import yaml
from fastavro import parse_schema, schemaless_writer, writer

from bench.bench_formats import avro_schema
from driftline.stream.config.model import load_config
from driftline.stream.demo.workloads import generate
from driftline.stream.kafka.producer import REASON, SOURCE_OFFSET, SOURCE_PARTITION
from driftline.stream.sources.baselines import build_baseline, save_baseline
from tests.fixtures.waiting import wait_until
from tests.helpers_kafka_worker import (
    Worker,
    exact_counts,
    free_port,
    metric_samples,
    observed_counts,
    produce_partitioned,
    read_topic,
    scrape,
    small_worker_config,
    wait_for_windows,
)

VALID = 20_000
RATE = 1000.0  # 20 s of event time: two 10 s windows, the second one shifted
START = 1_700_000_000.0


def test_avro_topic_counts_exactly_and_broken_records_are_dead_letters(kafka: Any,
                                                                        tmp_path: Any) -> None:
    w = generate(VALID, seed=3, scenario="abrupt_shift", change_at=VALID // 2, magnitude=1.0,
                 events_per_second=RATE, start_ts=START)
    names = list(w.columns)
    schema = avro_schema(names)
    parsed = parse_schema(schema)
    values: list[bytes] = []
    for row in zip(*(w.columns[k].tolist() for k in names), strict=True):
        buf = io.BytesIO()
        schemaless_writer(buf, parsed, dict(zip(names, row, strict=True)))
        values.append(buf.getvalue())
    broken = {100: values[100][:3], 2001: b"", 4500: values[4500][:10]}
    stream = values + list(broken.values())  # broken records at the end, in this order
    topic = kafka.create_topic(kafka.unique_topic("avro"), partitions=2)
    produce_partitioned(kafka.bootstrap, topic, stream, 2)
    address = f"127.0.0.1:{free_port()}"
    cfg_path = small_worker_config(kafka, tmp_path, topic, kafka.unique_topic("avro"), address)
    raw = yaml.safe_load(cfg_path.read_text())
    (tmp_path / "event.avsc").write_text(json.dumps(schema))
    raw["source"].update({"format": "avro", "avro_schema": "event.avsc"})
    raw["baseline"] = str(tmp_path / "baseline.dlb")
    raw["drift"] = {"metric": "psi", "warning": 0.1, "critical": 0.2, "min_samples": 300}
    cfg_path.write_text(yaml.safe_dump(raw))
    train = generate(30_000, seed=4, events_per_second=RATE, start_ts=START - 3600)
    train_file = tmp_path / "train.avro"
    with train_file.open("wb") as fh:  # the baseline is built from an Avro container file
        writer(fh, parsed, [dict(zip(names, row, strict=True)) for row in zip(
            *(train.columns[k].tolist() for k in names), strict=True)], codec="deflate")
    save_baseline(build_baseline(load_config(cfg_path), train_file), tmp_path / "baseline.dlb")
    cfg = load_config(cfg_path)
    expected = exact_counts(w.columns["ts"], 10.0, {"region": w.columns["region"]})
    worker = Worker(cfg_path, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        results = wait_for_windows(kafka.bootstrap, str(cfg.kafka.results_topic), set(expected),
                                   "10s")
        dlq = wait_until(lambda: (lambda r: r if len(r) >= len(broken) else None)(
            read_topic(kafka.bootstrap, str(cfg.kafka.dlq_topic))), 60, 0.5, "DLQ filled")
        metrics = scrape(address)
        assert worker.alive(), worker.tail()
    finally:
        assert worker.terminate() == 0, worker.tail()
    assert observed_counts(results, "10s") == expected
    invalid = {lab["reason"]: v for lab, v in metric_samples(metrics,
                                                            "driftline_events_invalid_total")}
    assert {k: v for k, v in invalid.items() if v} == {"invalid_avro": 3}
    origins = {}
    for rec in dlq:
        h = {k: v.decode() for k, v in rec.headers}
        origins[(int(h[SOURCE_PARTITION]), int(h[SOURCE_OFFSET]))] = (h[REASON], rec.value)
    want = {(i % 2, i // 2): ("invalid_avro", stream[i])
            for i in range(VALID, VALID + len(broken))}
    assert origins == want
    assert Counter(r for r, _ in origins.values()) == {"invalid_avro": 3}
    drifting = {(k[1], k[2], k[3], f["name"]) for k, r in results.items()
                for f in r["features"] if f["status"] == "drift"}
    assert ("all", "all", "x_normal") in {d[1:] for d in drifting}
    assert {d[0] for d in drifting} == {START + 10.0}  # only the shifted window
    assert {d[3] for d in drifting} == {"x_normal"}  # only the shifted feature


def test_registry_outage_sends_records_to_the_dlq_and_keeps_the_worker_up(
        kafka: Any, tmp_path: Any, monkeypatch: Any) -> None:
    """Wire-format records whose schema id cannot be looked up (the registry does not answer)
    and records without the magic byte: every one in the DLQ with its reason, the worker up,
    and the registry password nowhere in its log."""
    monkeypatch.setenv("DL_TEST_REGISTRY_USER", "monitor")
    monkeypatch.setenv("DL_TEST_REGISTRY_PW", "pw-must-not-leak-8d1f")
    framed = [b"\x00\x00\x00\x00\x07" + b"\x02" * 8 for _ in range(40)]
    unframed = [b"\x01not avro" for _ in range(6)]
    values = framed + unframed
    topic = kafka.create_topic(kafka.unique_topic("avro-sr"), partitions=1)
    produce_partitioned(kafka.bootstrap, topic, values, 1)
    cfg_path = small_worker_config(kafka, tmp_path, topic, kafka.unique_topic("avro-sr"),
                                   f"127.0.0.1:{free_port()}")
    raw = yaml.safe_load(cfg_path.read_text())
    raw["source"].update({"format": "avro", "schema_registry": {
        "url": f"http://127.0.0.1:{free_port()}", "username_env": "DL_TEST_REGISTRY_USER",
        "password_env": "DL_TEST_REGISTRY_PW", "retries": 1, "timeout": "1s"}})
    cfg_path.write_text(yaml.safe_dump(raw))
    cfg = load_config(cfg_path)
    worker = Worker(cfg_path, tmp_path / "worker.log", log_level="debug")
    try:
        worker.wait_ready()
        dlq = wait_until(lambda: (lambda r: r if len(r) >= len(values) else None)(
            read_topic(kafka.bootstrap, str(cfg.kafka.dlq_topic))), 60, 0.5, "DLQ filled")
        assert worker.alive(), worker.tail()
    finally:
        assert worker.terminate() == 0, worker.tail()
    reasons = {}
    for rec in dlq:
        h = {k: v.decode() for k, v in rec.headers}
        reasons[int(h[SOURCE_OFFSET])] = h[REASON]
        assert rec.value == values[int(h[SOURCE_OFFSET])]
    assert len(dlq) == len(values)
    assert Counter(r.split(":")[0] for r in reasons.values()) == {
        "schema_registry_unavailable": 40, "bad_magic_byte": 6}
    assert "pw-must-not-leak-8d1f" not in worker.output()
    assert all("pw-must-not-leak" not in r for r in reasons.values())
