"""The label join on a real broker: predictions on one topic, labels on another, later and out
of order, two workers, one killed with SIGKILL mid-stream: the realized per-window counts and
metrics equal the exact ones computed from the raw data, nothing lost or counted twice."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from scipy import stats
from typer.testing import CliRunner

from driftline.sketches.performance import PerformanceState
from driftline.stream.cli import app
from driftline.stream.config.model import load_config
from driftline.stream.kafka.labels_report import read_states
from tests.fixtures.waiting import stop_process, wait_until
from tests.helpers_kafka_worker import write_config

REPO = Path(__file__).resolve().parents[1]
N = 6000


def owned_partitions(logs: Path, pid: int) -> set[int]:
    """The partitions label worker ``pid`` owns now, from the workers' log."""
    parts: set[int] = set()
    for line in logs.read_text().splitlines():
        m = re.search(rf"label worker {pid}: partition (\d+) (from|revoked)", line)
        if m:
            (parts.add if m.group(2) == "from" else parts.discard)(int(m.group(1)))
    return parts


def start_worker(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "driftline.stream", "labels", "run", "-c",
                                 str(cfg)], stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=str(REPO))


def produce(kafka: Any, topic: str, rows: list[tuple[int, dict[str, Any]]]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, linger_ms=5)
    for part, row in rows:
        producer.send(topic, orjson.dumps(row), partition=part)
    producer.flush(timeout=30)
    producer.close(timeout=10)


def produce_raw(kafka: Any, topic: str, partition: int, value: bytes) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    producer.send(topic, value, partition=partition)
    producer.flush(timeout=30)
    producer.close(timeout=10)


def dlq_headers(kafka: Any, config: Any) -> list[list[tuple[str, bytes]]]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(config.kafka.dlq_topic, bootstrap_servers=kafka.bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=1000)
    out = [list(m.headers) for m in consumer]
    consumer.close()
    return out


def test_label_join_survives_kill_9_and_equals_exact(kafka: Any, tmp_path: Path) -> None:
    preds = kafka.create_topic(kafka.unique_topic("preds"), partitions=2)
    labs = kafka.create_topic(kafka.unique_topic("labels"), partitions=2)
    cfg_path = write_config(tmp_path / "driftline.yaml", {
        "monitor": kafka.unique_topic("quality"),
        "source": {"kafka": kafka.source_config([preds]), "event_time": {"field": "ts"}},
        "features": [{"name": "x", "type": "numeric"}], "segments": ["region"],
        "windows": {"size": "10m"}, "metrics": {"listen": "127.0.0.1:0"},
        "model": {"prediction": "score", "id": "request_id"},
        "labels": {"topic": labs, "id": "request_id", "label": "repaid", "time": "label_ts",
                   "max_delay": "30d"}})
    config = load_config(cfg_path)
    rng = np.random.default_rng(21)
    ts = np.sort(rng.uniform(0, 3600, N))
    region = rng.choice(["eu", "us"], N)
    score = np.round(rng.uniform(0, 1, N), 3)
    y = (rng.uniform(0, 1, N) < score).astype(int)
    pred_rows = [(i % 2, {"ts": float(ts[i]), "request_id": str(i), "x": 1.0,
                          "region": str(region[i]), "score": float(score[i])})
                 for i in range(N)]
    labelled = rng.uniform(0, 1, N) < 0.8
    lab_ids = np.flatnonzero(labelled)
    early = lab_ids[lab_ids >= N // 2][:40]  # their labels are produced before the prediction
    late = np.setdiff1d(lab_ids, early)
    rng.shuffle(late)  # out of order
    label = {i: (i % 2, {"request_id": str(i), "repaid": int(y[i]),
                         "label_ts": float(ts[i] + 900)}) for i in lab_ids.tolist()}
    dups = [(label[i][0], {**label[i][1], "repaid": 1 - int(y[i])}) for i in late[:25].tolist()]
    unknown = [(k % 2, {"request_id": f"nope-{k}", "repaid": 1, "label_ts": 10.0})
               for k in range(9)]

    produce(kafka, labs, [label[i] for i in early.tolist()])
    produce(kafka, preds, pred_rows[: N // 2])
    logs = tmp_path / "workers.log"
    a, b = start_worker(cfg_path, logs), start_worker(cfg_path, logs)
    try:
        def progress() -> bool:
            st = asyncio.run(read_states(config))
            return len(st) == 2 and all(o["predictions"] > 0 for o, _ in st.values())

        def owned(pid: int) -> set[int]:
            return owned_partitions(logs, pid)

        wait_until(lambda: progress() and len(owned(a.pid)) == len(owned(b.pid)) == 1,
                   timeout=60, interval=0.5,
                   message="each worker owns one partition, both checkpointed predictions")
        victim = owned(a.pid).pop()
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=10)
        produce(kafka, preds, pred_rows[N // 2:])
        bad = [(0, {"request_id": "1", "repaid": "maybe", "label_ts": 5.0}),
               (1, {"repaid": 1, "label_ts": 5.0})]
        produce(kafka, labs, [label[i] for i in late.tolist()] + dups + unknown + bad)
        produce_raw(kafka, labs, 0, b"not json")
        total_labels = len(lab_ids) + len(dups) + len(unknown) + len(bad) + 1

        def done() -> dict[int, Any] | None:
            st = asyncio.run(read_states(config))
            got = (sum(o["predictions"] for o, _ in st.values()),
                   sum(o["labels"] for o, _ in st.values()))
            return st if got == (N, total_labels) else None

        states = wait_until(done, timeout=90, interval=0.5,
                            message="the surviving worker consumed and checkpointed everything")
        # the survivor's /metrics count the same outcomes (it owns both partitions now)
        url = re.search(rf"label worker {b.pid}: metrics on (\S+)", logs.read_text())
        assert url is not None
        with urllib.request.urlopen(url.group(1), timeout=10) as resp:
            body = resp.read().decode()
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for fam in text_string_to_metric_families(body) for s in fam.samples}

        def outcome(name: str) -> float:
            return samples[("driftline_labels_total",
                            (("monitor", config.monitor), ("outcome", name)))]

        assert outcome("joined") + outcome("joined_early") == len(lab_ids)
        assert (outcome("duplicate"), outcome("malformed")) == (25, 3)
        assert samples[("driftline_label_pending", (("monitor", config.monitor),
                                                    ("state", "labels")))] == 9
    finally:
        for p in (a, b):
            if p.poll() is None:
                stop_process(p, timeout=20)
    # the CLI report merges the same checkpoints
    report = tmp_path / "labels-report.json"
    res = CliRunner().invoke(app, ["labels", "report", "-c", str(cfg_path), "-o", str(report)])
    assert res.exit_code == 0, res.output
    rep = orjson.loads(report.read_bytes())
    whole = [c["performance"] for w in rep["windows"] for c in w["cohorts"]
             if c["segment"] == "all"]
    assert sum(p["predictions"] for p in whole) == N
    assert sum(p["labeled"] for p in whole) == len(lab_ids)
    assert rep["labels"]["duplicate"] == 25
    # the survivor took the victim's partition over from its checkpoint
    assert re.search(rf"label worker {b.pid}: partition {victim} from offsets \[[1-9]\d*, \d+\] "
                     r"\(checkpoint\)", logs.read_text())
    trackers = [t for _, t in states.values()]
    counts = {k: sum(t.counters()[k] for t in trackers) for k in trackers[0].counters()}
    assert counts["joined"] + counts["joined_early"] == len(lab_ids)
    # every label written before its prediction joins early; after the restart a label can also
    # be read before its prediction (one fetch brings more of the label topic): early too
    assert counts["joined_early"] >= len(early)
    assert (counts["duplicate"], counts["held_labels"], counts["malformed"]) == (25, 9, 3)
    def three_letters() -> list[list[tuple[str, bytes]]] | None:
        got = dlq_headers(kafka, config)
        return got if len(got) >= 3 else None

    letters = wait_until(three_letters, timeout=30, message="three dead letters on the DLQ")
    reasons = sorted(dict(h)["driftline.reason"].decode() for h in letters)
    assert reasons == ["invalid_json", "invalid_label", "missing_label_id"]
    assert counts["pending"] == N - len(lab_ids)
    for start in np.arange(0, 3600, 600.0):
        in_win = (ts >= start) & (ts < start + 600)
        for seg, cohort in (("all", "all"), ("region", "eu"), ("region", "us")):
            rows = in_win if seg == "all" else in_win & (region == cohort)
            merged = PerformanceState(task="binary_classification", grid=trackers[0].grid)
            for t in trackers:
                merged.merge(t.state_for(start, start + 600, seg, cohort))
            r = merged.realized()
            j = np.flatnonzero(rows & labelled)
            s, yy = score[j], y[j]
            assert (merged.predictions, merged.labeled) == (int(rows.sum()), j.shape[0])
            assert r["accuracy"] == pytest.approx(np.mean((s >= 0.5) == (yy == 1)), abs=1e-12)
            assert r["brier"] == pytest.approx(np.mean((yy - s) ** 2), abs=1e-12)
            auc = stats.mannwhitneyu(s[yy == 1], s[yy == 0]).statistic / (
                (yy == 1).sum() * (yy == 0).sum())
            assert abs(r["roc_auc"] - auc) <= r["roc_auc_error_bound"] + 1e-12


def test_label_worker_refuses_a_config_without_labels_topic(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "bad.yaml", {
        "monitor": "m", "features": [{"name": "x", "type": "numeric"}],
        "source": {"kafka": {"bootstrap_servers": "127.0.0.1:1", "topics": ["p"]}},
        "model": {"prediction": "s", "id": "i"}, "labels": {"id": "i", "label": "y"}})
    res = subprocess.run([sys.executable, "-m", "driftline.stream", "labels", "run", "-c",
                          str(cfg)], capture_output=True, text=True, cwd=str(REPO), timeout=60)
    assert res.returncode == 2
    assert "labels.topic" in res.stderr and "Traceback" not in res.stderr
