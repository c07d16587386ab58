"""The poison corpus and the cohort scenario through a real broker, with a worker killed -9 in
the middle and restarted (issue 10).

Phase 1: every corpus record (huge integers, absurd event times, lone surrogates, containers,
NaN tokens, broken JSON...) mixed into a burst of 30k unique ``region`` values in the first
window, then the first eu/us traffic from the second window on. Once every dead letter is in
the DLQ the worker is killed -9 (no clean checkpoint) and a new one takes over; phase 2 is
the rest of the eu/us traffic and one later event per partition that closes the last window
(no idle advance: ``idle_timeout`` is an hour, so the outcome depends on event time only and
a window published twice, before and after the kill, has the same counts). Then:

* the worker never died of a record, before or after the restart;
* every window x cohort count is exact (the corpus' valid records count in the first window),
  eu and us have their own cohorts from the second window on (within one window of their
  traffic) and no ID ever has one;
* the DLQ holds exactly the corpus' dead records by their stable key
  ``<topic>/<partition>/<offset>`` (copies re-sent after the kill carry the same key and
  reason), and the invalid counters by reason are exact after the restart.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from driftline.stream.config.model import load_config
from driftline.stream.engine.cohorts import OTHER
from driftline.stream.kafka.producer import REASON
from tests.fixtures.waiting import wait_until
from tests.helpers_kafka_worker import (
    Worker,
    free_port,
    metric_samples,
    observed_counts,
    produce_batches,
    produce_partitioned,
    read_topic,
    scrape,
    small_worker_config,
    wait_for_windows,
    write_config,
)
from tests.poison_corpus import CORPUS, T0, cohort_scenario, expected

PARTITIONS = 2
BIG = 8 * 1024 * 1024


def _phase_one(records: list[bytes]) -> tuple[list[bytes], dict[int, str]]:
    """Scenario records with the corpus spread among the first 10k (all in the first window,
    never first on a partition); returns the stream and, per stream position,
    the dead-letter reason of the corpus records that must be dead letters."""
    out: list[bytes] = []
    dead: dict[int, str] = {}
    corpus = list(CORPUS)
    for i, rec in enumerate(records):
        out.append(rec)
        if i >= 10 and i % 100 == 0 and corpus:
            _, value, outcome = corpus.pop(0)
            if outcome != "event":
                dead[len(out)] = outcome
            out.append(value)
    assert not corpus and len(out) % PARTITIONS == 0
    return out, dead


def _dlq(bootstrap: str, topic: str) -> dict[bytes, set[str]]:
    got: dict[bytes, set[str]] = {}
    for rec in read_topic(bootstrap, topic):
        got.setdefault(rec.key, set()).add(dict(rec.headers)[REASON].decode())
    return got


def test_poison_and_an_id_burst_survive_a_kill_and_count_exactly(kafka: Any,
                                                                 tmp_path: Path) -> None:
    records, times, regions = cohort_scenario(gap=10.0)
    cut = 40_000 + len(CORPUS) % PARTITIONS  # phase 1 ends at the same offset on each partition
    first, dead = _phase_one(records[:cut])
    closing = [b'{"ts": %d, "x_normal": 1, "channel": "web", "region": "eu"}' % (T0 + 60)]
    second = records[cut:] + closing * PARTITIONS
    topic = kafka.create_topic(kafka.unique_topic("poison-restart"), partitions=PARTITIONS,
                               configs={"max.message.bytes": str(BIG)})
    address = f"127.0.0.1:{free_port()}"
    cfg_path = small_worker_config(kafka, tmp_path, topic, kafka.unique_topic("poison-r"),
                                   address)
    raw = yaml.safe_load(cfg_path.read_text())
    raw["source"]["event_time"]["unit"] = "auto"  # the corpus' outcomes are those of auto
    raw["windows"]["idle_timeout"] = "1h"
    write_config(cfg_path, raw)
    cfg = load_config(cfg_path)
    dlq_topic = str(cfg.kafka.dlq_topic)
    want_dlq = {f"{topic}/{pos % PARTITIONS}/{pos // PARTITIONS}".encode(): {reason}
                for pos, reason in dead.items()}

    produce_partitioned(kafka.bootstrap, topic, first, PARTITIONS, max_request_size=BIG)
    worker = Worker(cfg_path, tmp_path / "worker1.log")
    try:
        worker.wait_ready()
        wait_until(lambda: _dlq(kafka.bootstrap, dlq_topic) == want_dlq, 60, 0.5,
                   "every dead letter of phase 1 in the DLQ")
        assert worker.alive(), worker.tail()
    finally:
        worker.kill9()

    restarted = Worker(cfg_path, tmp_path / "worker2.log")
    try:
        restarted.wait_ready()
        produce_batches(kafka.bootstrap, topic, second, PARTITIONS)
        starts = np.floor(np.asarray(times) / 10) * 10
        want = {(s, "all", "all") for s in set(starts.tolist())}
        want |= {(s, "region", r) for s, r in zip(starts.tolist(), regions, strict=True)
                 if s > T0}
        results = wait_for_windows(kafka.bootstrap, str(cfg.kafka.results_topic), want, "10s")
        metrics = scrape(address)
        assert restarted.alive(), restarted.tail()
    finally:
        assert restarted.terminate() == 0, restarted.tail()

    events, reasons = expected(CORPUS)
    got = observed_counts(results, "10s")
    exact: Counter[tuple[float, str, str]] = Counter()
    for s, r in zip(starts.tolist(), regions, strict=True):
        exact[(s, "all", "all")] += 1
        if s > T0:
            exact[(s, "region", r)] += 1
    exact[(T0, "all", "all")] += events  # the corpus' valid records
    assert {k: n for k, n in got.items() if k[1] == "all" or k[0] > T0} == dict(exact)
    # the first window: 30k IDs and the corpus' odd regions, none with sustained traffic
    first_window = {k[2]: n for k, n in got.items() if k[0] == T0 and k[1] == "region"}
    assert first_window == {OTHER: exact[(T0, "all", "all")]}
    # the DLQ: each bad record by its stable key (kill -9 copies de-duplicate to one)
    assert _dlq(kafka.bootstrap, dlq_topic) == want_dlq
    invalid = metric_samples(metrics, "driftline_events_invalid_total")
    assert {lab["reason"]: v for lab, v in invalid if v} == reasons
    total = metric_samples(metrics, "driftline_events_total")
    assert sum(v for _, v in total) == len(first) + len(second)
