"""``driftline produce`` end to end: a real subprocess writing a file's events to the broker."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.helpers_kafka_worker import consume_until

pytestmark = pytest.mark.kafka

EVENTS = [
    {"amount": 12.5 + i, "user": {"id": f"u{i % 3}"}, "region": "eu" if i % 2 else "us", "ts": i}
    for i in range(300)
]


def _config(tmp_path: Path, kafka, topic: str) -> Path:
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump({
        "monitor": "produce-test",
        "source": {"kafka": kafka.source_config([topic])},
        "features": [{"name": "amount", "type": "numeric"}],
    }))
    return path


def _driftline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "driftline.stream", *args], capture_output=True, text=True,
        timeout=120,
    )


def test_produce_jsonl_keyed_by_a_nested_field(kafka, tmp_path: Path) -> None:
    topic = kafka.unique_topic("produce-jsonl")
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n\n")

    proc = _driftline("produce", "-c", str(_config(tmp_path, kafka, topic)), "--file",
                      str(events), "--key", "user.id", "--partitions", "3")
    assert proc.returncode == 0, proc.stderr
    assert f"produced 300 events to {topic}" in proc.stdout

    records = consume_until(kafka.bootstrap, topic, 300, group_id=None)
    assert sorted(json.loads(r.value)["ts"] for r in records) == list(range(300))
    # keyed: every user's events land in one partition, in file order
    by_key: dict[bytes, set[int]] = {}
    for r in records:
        assert r.key == json.loads(r.value)["user"]["id"].encode()
        by_key.setdefault(r.key, set()).add(r.partition)
    assert sorted(by_key) == [b"u0", b"u1", b"u2"] and all(len(p) == 1 for p in by_key.values())
    assert sum(kafka.end_offsets(topic).values()) == 300


def test_produce_parquet_rows_become_json_in_file_order_when_paced(kafka, tmp_path: Path) -> None:
    topic = kafka.unique_topic("produce-parquet")
    data = tmp_path / "events.parquet"
    rows = [{"amount": e["amount"], "region": e["region"], "ts": e["ts"]} for e in EVENTS[:200]]
    rows[5]["amount"] = None
    pq.write_table(pa.Table.from_pylist(rows), data)

    proc = _driftline("produce", "-c", str(_config(tmp_path, kafka, topic)), "--file", str(data),
                      "--rate", "500", "--topic", topic)
    assert proc.returncode == 0, proc.stderr
    assert f"produced 200 events to {topic}" in proc.stdout
    records = consume_until(kafka.bootstrap, topic, 200, group_id=None)
    values = [json.loads(r.value) for r in records]
    assert values == rows  # one partition: file order, nulls kept as null


def test_produce_reports_a_bad_config_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "driftline.yaml"
    bad.write_text("monitor: x\nfeatures: []\n")
    events = tmp_path / "e.jsonl"
    events.write_text('{"a": 1}\n')
    proc = _driftline("produce", "-c", str(bad), "--file", str(events))
    assert proc.returncode == 2
    assert "features" in proc.stderr


def test_produce_csv_keeps_timestamps_as_iso_8601(kafka, tmp_path: Path) -> None:
    topic = kafka.unique_topic("produce-csv")
    data = tmp_path / "events.csv"
    data.write_text("amount,region,ts\n1.5,eu,2026-11-21T10:00:00Z\n,us,2026-11-21T10:00:01.25Z\n")
    proc = _driftline("produce", "-c", str(_config(tmp_path, kafka, topic)), "--file", str(data))
    assert proc.returncode == 0, proc.stderr
    values = [json.loads(r.value) for r in consume_until(kafka.bootstrap, topic, 2, group_id=None)]
    assert values == [
        {"amount": 1.5, "region": "eu", "ts": "2026-11-21T10:00:00.000000Z"},
        {"amount": None, "region": "us", "ts": "2026-11-21T10:00:01.250000Z"},
    ]
    assert [datetime.fromisoformat(v["ts"]).timestamp() for v in values] == [
        1795255200.0, 1795255201.25,
    ]


def test_produce_with_every_codec_reads_back_exactly(kafka, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    topic = kafka.unique_topic("produce-codec")
    cfg = str(_config(tmp_path, kafka, topic))
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        target = f"{topic}-{codec}"
        proc = _driftline("produce", "-c", cfg, "--file", str(events), "--topic", target,
                          "--compression", codec, "-q")
        assert proc.returncode == 0, (codec, proc.stderr)
        records = consume_until(kafka.bootstrap, target, 300, group_id=None)
        assert sorted(json.loads(r.value)["ts"] for r in records) == list(range(300)), codec
    proc = _driftline("produce", "-c", cfg, "--file", str(events), "--compression", "brotli")
    assert proc.returncode == 2 and "gzip, snappy, lz4 or zstd" in proc.stderr
