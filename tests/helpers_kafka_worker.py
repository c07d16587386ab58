"""Helpers for the ``driftline run`` tests: worker subprocesses, configs, exact expectations.

Workers run as real subprocesses (``python -m driftline.stream run -c cfg.yaml``) so they can be
killed with SIGKILL; expectations are computed with numpy from exactly what was produced.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

from driftline.stream.kafka.producer import Producer
from tests.fixtures.waiting import wait_until

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def produce_partitioned(bootstrap: str, topic: str, values: Sequence[bytes],
                        partitions: int, max_request_size: int = 1_048_576) -> None:
    """Send ``values`` round-robin over ``partitions`` (value i -> partition i % partitions)."""
    with Producer({"bootstrap_servers": bootstrap}, max_request_size=max_request_size) as p:
        for i, v in enumerate(values):
            p.send(topic, v, partition=i % partitions)
    assert p.failed == 0, p.last_error


def produce_batches(bootstrap: str, topic: str, values: Sequence[bytes], partitions: int,
                    batch_bytes: int = 1_000_000) -> None:
    """Like :func:`produce_partitioned` (value i -> partition i % partitions, in order), with
    whole record batches built by aiokafka: ~20x faster for 100k records."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=batch_bytes,
                                    max_request_size=batch_bytes + 65536, acks="all")
        await producer.start()
        try:
            for p in range(partitions):
                batch, futures = producer.create_batch(), []
                for v in values[p::partitions]:
                    if batch.append(timestamp=None, key=None, value=v) is None:
                        futures.append(await producer.send_batch(batch, topic, partition=p))
                        batch = producer.create_batch()
                        assert batch.append(timestamp=None, key=None, value=v) is not None
                futures.append(await producer.send_batch(batch, topic, partition=p))
                await asyncio.gather(*futures)  # in order: one partition after the other
        finally:
            await producer.stop()

    asyncio.run(run())


class PacedProducer(threading.Thread):
    """Produces ``values`` in chunks of ``chunk`` at most every ``interval`` seconds (a traffic
    shape, not a synchronization: tests wait on conditions, never on this pacing)."""

    def __init__(self, bootstrap: str, topic: str, values: Sequence[bytes], partitions: int,
                 chunk: int = 2000, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.args = (bootstrap, topic, values, partitions)
        self.chunk, self.interval = chunk, interval
        self.sent = 0
        self.error: BaseException | None = None
        self._pace = threading.Event()

    def run(self) -> None:
        bootstrap, topic, values, partitions = self.args
        try:
            with Producer({"bootstrap_servers": bootstrap}) as p:
                for start in range(0, len(values), self.chunk):
                    for i in range(start, min(len(values), start + self.chunk)):
                        p.send(topic, values[i], partition=i % partitions)
                    p.flush()
                    self.sent = min(len(values), start + self.chunk)
                    self._pace.wait(self.interval)
        except BaseException as exc:  # surfaced by the test
            self.error = exc


class Worker:
    """One ``driftline run`` subprocess; stdout/stderr go to a log file."""

    def __init__(self, config: Path, log: Path, instance_id: str | None = None,
                 session_timeout: float = 6.0, log_level: str = "info") -> None:
        cmd = [sys.executable, "-m", "driftline.stream", "run", "-c", str(config),
               "--session-timeout", str(session_timeout), "--log-level", log_level]
        if instance_id:
            cmd += ["--instance-id", instance_id]
        self.log = log
        self._fh = log.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=self._fh, stderr=subprocess.STDOUT, cwd=REPO,
                                     env=env)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}:\n{self.tail()}")
            return "driftline ready" in self.output()

        wait_until(ready, timeout, 0.1, "worker readiness line")

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-n:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._fh.close()

    def terminate(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._fh.close()
        return int(self.proc.returncode)


def read_topic(bootstrap: str, topic: str, timeout_s: float = 10.0) -> list[Any]:
    """Every record currently in ``topic`` (all partitions, from the beginning)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             max_partition_fetch_bytes=16 * 1024 * 1024,
                             fetch_max_bytes=64 * 1024 * 1024)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} took > {timeout_s}s")
            for records in consumer.poll(timeout_ms=500, max_records=100_000).values():
                out.extend(records)
        return out
    finally:
        consumer.close()


def results_by_key(bootstrap: str, topic: str) -> dict[tuple[str, float, str, str], dict[str, Any]]:
    """Results-topic records by (tier, start_ts, segment, cohort). A key published twice (a
    re-evaluation after a crash) must carry the same counts: asserted here."""
    out: dict[tuple[str, float, str, str], dict[str, Any]] = {}
    for rec in read_topic(bootstrap, topic):
        r = orjson.loads(rec.value)
        key = (r["tier"], float(r["start_ts"]), r["segment"], r["cohort"])
        if key in out:
            assert out[key]["n"] == r["n"], f"window {key} published with different counts"
        out[key] = r
    return out


def wait_for_windows(bootstrap: str, topic: str, want: set[tuple[float, str, str]], tier: str,
                     timeout: float = 180) -> dict[tuple[str, float, str, str], dict[str, Any]]:
    """Wait until the results topic holds a record for every (start_ts, segment, cohort) of
    ``want`` in ``tier`` and return them all. Every cohort, not only "all": a window's cohort
    records are published one after another, so the "all" record alone proves nothing."""
    def complete() -> dict[tuple[str, float, str, str], dict[str, Any]]:
        got = results_by_key(bootstrap, topic)
        return got if want <= {(k[1], k[2], k[3]) for k in got if k[0] == tier} else {}
    return wait_until(complete, timeout, 0.5, "every window x cohort published")


def exact_counts(ts: np.ndarray, window: float, segments: dict[str, np.ndarray],
                 keep: np.ndarray | None = None) -> dict[tuple[float, str, str], int]:
    """Events per (window start, segment, cohort) incl. ("all", "all"), computed with numpy."""
    if keep is not None:
        ts = ts[keep]
        segments = {k: v[keep] for k, v in segments.items()}
    starts = np.floor(ts / window) * window
    out: dict[tuple[float, str, str], int] = {}
    w, n = np.unique(starts, return_counts=True)
    for s, c in zip(w.tolist(), n.tolist(), strict=True):
        out[(float(s), "all", "all")] = int(c)
    for seg, values in segments.items():
        pairs = np.char.add(np.char.add(starts.astype(str), "|"), values.astype(str))
        u, n = np.unique(pairs, return_counts=True)
        for p, c in zip(u.tolist(), n.tolist(), strict=True):
            s, v = p.split("|", 1)
            out[(float(s), seg, v)] = int(c)
    return out


def observed_counts(results: dict[tuple[str, float, str, str], dict[str, Any]],
                    tier: str) -> dict[tuple[float, str, str], int]:
    return {(k[1], k[2], k[3]): int(r["n"]) for k, r in results.items() if k[0] == tier}


def scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as resp:
        return resp.read().decode()


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Samples of one metric from a Prometheus exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                out.append((dict(s.labels), float(s.value)))
    return out


def json_lines(rows: Iterable[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(r) for r in rows]


def consume_until(bootstrap: str, topic: str, expected: int, **consumer: Any) -> list[Any]:
    """Read ``topic`` from the beginning until ``expected`` records arrived (30 s deadline)."""
    from kafka import KafkaConsumer

    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      enable_auto_commit=False, **consumer)
    records: list[Any] = []
    try:
        wait_until(
            lambda: records.extend(r for rs in c.poll(500).values() for r in rs)
            or len(records) >= expected,
            timeout=30, message=f"{expected} records on {topic}",
        )
    finally:
        c.close()
    return records


def small_worker_config(kafka: Any, path: Path, topic: str, monitor: str, address: str,
                        **kafka_settings: Any) -> Path:
    """The worker tests' monitor: x_normal + channel by region, 10 s windows, no lateness."""
    return write_config(path / "cfg.yaml", {
        "monitor": monitor,
        "source": {"kafka": {**kafka.source_config([topic]), **kafka_settings},
                   "event_time": {"field": "ts", "unit": "s"}},
        "features": [{"name": "x_normal", "type": "numeric"},
                     {"name": "channel", "type": "categorical"}],
        "segments": ["region"],
        "windows": {"size": "10s", "allowed_lateness": "0s", "idle_timeout": "2s"},
        "metrics": {"listen": address},
        "state_dir": str(path / "state"),
    })
