"""Topics written by producers that are not driftline's own (issues 13 and 17).

librdkafka (confluent-kafka) writes one topic per codec (none, gzip, snappy, lz4, zstd) with
keys and headers, plus a transactional topic (commit, abort, commit with tombstones); the
official Java client (compiled here against the broker's jars) writes an lz4 transactional topic
(commit, abort) with tombstones. One `driftline run` reads all of them: every committed valid
event is counted exactly in the published windows, aborted events never, tombstones are skipped
and counted, out-of-range event times and bad JSON are dead-lettered with their reason, and the
consumer lag of every partition reaches 0 after the silence — so the last window of each
transactional partition is closed by the idle timeout (its last offset is a commit marker).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from driftline.stream.config.model import load_config
from driftline.stream.kafka.producer import REASON
from tests.fixtures.waiting import wait_until
from tests.helpers_kafka_worker import (
    REPO,
    Worker,
    exact_counts,
    free_port,
    metric_samples,
    observed_counts,
    read_topic,
    scrape,
    wait_for_windows,
    write_config,
)

confluent_kafka = pytest.importorskip("confluent_kafka")

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PER_CODEC = 400
START = 1_700_000_000.0
WINDOW = 10.0
REGIONS = np.array(["eu", "us", "apac"])


class Events:
    """Every produced event, and whether it must be counted (committed and valid)."""

    def __init__(self) -> None:
        self.ts: list[float] = []
        self.region: list[str] = []
        self.counted: list[bool] = []
        self.n = 0

    def make(self, counted: bool, pos: float) -> bytes:
        """An event at ``pos`` (0..1) of a topic's 30 s of event time (three 10 s windows):
        event time grows with the offsets of each topic, as from a live producer."""
        i = self.n
        self.n += 1
        ts = START + round(pos * 29_990) / 1000
        region = str(REGIONS[i % 3])
        self.ts.append(ts)
        self.region.append(region)
        self.counted.append(counted)
        x = float(i % 17) if counted else 1e9  # an aborted event would show in the sums
        return orjson.dumps({"ts": ts, "x_normal": x, "channel": "web", "region": region})

    def expected(self) -> dict[tuple[float, str, str], int]:
        keep = np.asarray(self.counted)
        return exact_counts(np.asarray(self.ts), WINDOW, {"region": np.asarray(self.region)},
                            keep=keep)


def _librdkafka(bootstrap: str, **conf: Any) -> Any:
    return confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **conf})


def _flush(producer: Any) -> None:
    assert producer.flush(30) == 0


def _produce_codec_topics(bootstrap: str, topics: dict[str, str], ev: Events,
                          dead: list[tuple[str, str, bytes]]) -> None:
    for codec, topic in topics.items():
        p = _librdkafka(bootstrap, **{"compression.type": codec})
        for i in range(PER_CODEC):
            key = f"user-{i % 7}".encode() if i % 2 else None
            headers = [("trace", str(i).encode())] if i % 3 == 0 else None
            p.produce(topic, ev.make(True, i / PER_CODEC), key=key, partition=i % 2,
                      headers=headers)
        _flush(p)
    zstd = topics["zstd"]
    p = _librdkafka(bootstrap, **{"compression.type": "zstd"})
    future = time.time() + 30 * 86400
    bad = [(b'{"ts": 1700000001, "x_normal": ', "invalid_json")] * 5
    bad += [(orjson.dumps({"ts": future, "x_normal": 1.0}), "implausible_event_time")] * 3
    bad += [(orjson.dumps({"ts": -5, "x_normal": 1.0}), "implausible_event_time")] * 2
    for j, (value, reason) in enumerate(bad):
        p.produce(zstd, value, partition=j % 2)
        dead.append((zstd, reason, value))
    _flush(p)


def _produce_transactions(bootstrap: str, topic: str, ev: Events) -> int:
    """commit 300, abort 200, commit 300 + 20 tombstones; returns the committed records."""
    p = _librdkafka(bootstrap, **{"transactional.id": f"{topic}-tx", "compression.type": "lz4"})
    p.init_transactions(30)
    committed = sent = 0
    for n, commit, tombstones in ((300, True, 0), (200, False, 0), (300, True, 20)):
        p.begin_transaction()
        for i in range(n):
            sent += 1
            p.produce(topic, ev.make(commit, sent / 800), key=f"k{i % 11}".encode(),
                      partition=i % 2, headers=[("tx", b"1")])
        for i in range(tombstones):
            p.produce(topic, None, key=f"k{i}".encode(), partition=i % 2)
        if commit:
            p.commit_transaction(30)
            committed += n + tombstones
        else:
            p.flush(30)
            p.abort_transaction(30)
    return committed


@pytest.fixture(scope="module")
def java_producer(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The command line of tests/java/ScriptedProducer.java, compiled against the Kafka jars."""
    libs = Path(os.environ.get("KAFKA_LIBS", REPO / ".cache" / "kafka" / "libs"))
    out = tmp_path_factory.mktemp("java")
    subprocess.run(["javac", "-cp", f"{libs}/*", "-d", str(out),
                    str(REPO / "tests" / "java" / "ScriptedProducer.java")], check=True)
    return ["java", "-XX:TieredStopAtLevel=1", "-cp", f"{out}:{libs}/*", "ScriptedProducer"]


def _produce_java(cmd: list[str], bootstrap: str, topic: str, ev: Events) -> int:
    """lz4, transactional: commit 200 (+10 tombstones), abort 100; returns committed records."""
    lines = ["begin"]
    for i in range(200):
        lines.append(f"send\t{i % 2}\tj{i % 5}\t{ev.make(True, i / 300).decode()}")
    lines += [f"tomb\t{i % 2}\tj{i}" for i in range(10)]
    lines += ["commit", "begin"]
    for i in range(100):
        lines.append(f"send\t{i % 2}\t\t{ev.make(False, (200 + i) / 300).decode()}")
    lines.append("abort")
    subprocess.run([*cmd, bootstrap, topic, "lz4", f"{topic}-tx"], check=True, timeout=120,
                   input="\n".join(lines) + "\n", text=True, capture_output=True)
    return 210


def _by_topic(metrics: str, name: str) -> dict[str, float]:
    return {lab["topic"]: v for lab, v in metric_samples(metrics, name)}


@pytest.mark.parametrize("consumer", ["aiokafka", "librdkafka"])
def test_third_party_producers_are_counted_exactly(kafka: Any, tmp_path: Path, consumer: str,
                                                   java_producer: list[str]) -> None:
    codec_topics = {c: kafka.create_topic(kafka.unique_topic(f"rdk-{c}"), partitions=2)
                    for c in CODECS}
    tx_topic = kafka.create_topic(kafka.unique_topic("rdk-tx"), partitions=2)
    java_topic = kafka.create_topic(kafka.unique_topic("java-tx"), partitions=2)
    ev = Events()
    dead: list[tuple[str, str, bytes]] = []
    _produce_codec_topics(kafka.bootstrap, codec_topics, ev, dead)
    tx_committed = _produce_transactions(kafka.bootstrap, tx_topic, ev)
    java_committed = _produce_java(java_producer, kafka.bootstrap, java_topic, ev)

    topics = [*codec_topics.values(), tx_topic, java_topic]
    address = f"127.0.0.1:{free_port()}"
    monitor = kafka.unique_topic("third-party")
    cfg_path = write_config(tmp_path / "cfg.yaml", {
        "monitor": monitor,
        "source": {"kafka": {**kafka.source_config(topics), "consumer": consumer},
                   "event_time": {"field": "ts", "unit": "s"}},
        "features": [{"name": "x_normal", "type": "numeric"},
                     {"name": "channel", "type": "categorical"}],
        "segments": ["region"],
        "windows": {"size": "10s", "allowed_lateness": "0s", "idle_timeout": "2s"},
        "metrics": {"listen": address},
        "state_dir": str(tmp_path / "state"),
    })
    cfg = load_config(cfg_path)
    expected = ev.expected()
    worker = Worker(cfg_path, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        # the last window of every partition closes only once its partition counts as caught
        # up: on the transactional topics the last offset is a commit marker (issue 17)
        results = wait_for_windows(kafka.bootstrap, str(cfg.kafka.results_topic),
                                   set(expected), "10s", timeout=120)

        def lag_zero() -> str | None:
            text = scrape(address)
            lag = metric_samples(text, "driftline_consumer_lag_records")
            return text if len(lag) == 2 * len(topics) and not any(v for _, v in lag) else None

        metrics = wait_until(lag_zero, 60, 0.5, "consumer lag 0 on every partition")
        dlq = wait_until(lambda: (lambda r: r if len(r) >= len(dead) else None)(
            read_topic(kafka.bootstrap, str(cfg.kafka.dlq_topic))), 60, 0.5, "DLQ filled")
        assert worker.alive(), worker.tail()
    finally:
        assert worker.terminate() == 0, worker.tail()

    # every committed valid event exactly once, aborted ones never (their x_normal is 1e9)
    assert observed_counts(results, "10s") == expected
    assert all(r["n"] > 0 for r in results.values())
    assert sorted(rec.value for rec in dlq) == sorted(v for _, _, v in dead)
    assert Counter(dict(rec.headers)[REASON].decode() for rec in dlq) == Counter(
        r for _, r, _ in dead)

    events = _by_topic(metrics, "driftline_events_total")
    for codec, topic in codec_topics.items():  # records handed to the decoder, per codec
        assert events[topic] == PER_CODEC + (len(dead) if codec == "zstd" else 0), codec
    assert events[tx_topic] == 600 and events[java_topic] == 200
    tombstones = _by_topic(metrics, "driftline_records_tombstone_total")
    assert tombstones.get(tx_topic) == 20 and tombstones.get(java_topic) == 10
    keyed = _by_topic(metrics, "driftline_records_keyed_total")
    assert keyed[codec_topics["gzip"]] == PER_CODEC // 2
    assert keyed[tx_topic] == tx_committed and keyed[java_topic] == 200 + 10
    with_headers = _by_topic(metrics, "driftline_records_with_headers_total")
    assert with_headers[codec_topics["lz4"]] == len(range(0, PER_CODEC, 3))
    assert with_headers[tx_topic] == 600 and with_headers[java_topic] == 210
    # offsets without a record for this consumer: aborted records and transaction markers
    skipped = _by_topic(metrics, "driftline_offsets_skipped_total")
    for topic, committed in ((tx_topic, tx_committed), (java_topic, java_committed)):
        assert skipped[topic] == sum(kafka.end_offsets(topic).values()) - committed
    assert not any(skipped.get(t) for t in codec_topics.values())
