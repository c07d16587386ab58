"""Exactness across kill -9 (issue 3, must-show 2).

Events arrive while the worker runs; it is killed with SIGKILL at three random points of its
progress and restarted each time. The per window x cohort counts it finally publishes equal the
exact counts of what was produced: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from driftline.stream.config.model import load_config
from driftline.stream.demo.workloads import generate, to_json_lines
from tests.fixtures.waiting import wait_until
from tests.helpers_kafka_worker import (
    PacedProducer,
    Worker,
    exact_counts,
    free_port,
    metric_samples,
    observed_counts,
    scrape,
    small_worker_config,
    wait_for_windows,
)

N = 80_000
RATE = 1000.0
WINDOW = 10.0
START = 1_700_000_000.0


def _consumed(address: str) -> float:
    return sum(v for _, v in metric_samples(scrape(address), "driftline_events_total"))


def _committed(bootstrap: str, group: str, topic: str) -> int:
    """Sum of the group's committed offsets (the worker commits right after each checkpoint);
    a coordinator still loading (a fresh broker) is asked again until it answers."""
    from kafka import KafkaAdminClient, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in range(4)]
        (got,) = wait_until(lambda: (admin.list_group_offsets({group: tps}).get(group, {}),),
                            60, 0.2, "the group coordinator answered")
        return sum(m.offset for m in got.values()
                   if m is not None and m.offset is not None and m.offset >= 0)
    finally:
        admin.close()


def _drained(address: str, producer: PacedProducer) -> bool:
    """Everything was produced and consumed (a late threshold may never be reached)."""
    if producer.is_alive():
        return False
    lag = metric_samples(scrape(address), "driftline_consumer_lag_records")
    return len(lag) == 4 and not any(v for _, v in lag)


@pytest.mark.parametrize("consumer", ["aiokafka", "librdkafka"])
def test_kill_9_at_random_points_loses_and_duplicates_nothing(kafka: Any, tmp_path: Any,
                                                              consumer: str) -> None:
    rng = random.Random(20261122)
    w = generate(N, seed=5, events_per_second=RATE, start_ts=START)
    topic = kafka.create_topic(kafka.unique_topic("exact"), partitions=4)
    address = f"127.0.0.1:{free_port()}"
    cfg_path = small_worker_config(kafka, tmp_path, topic, kafka.unique_topic("exact"), address,
                                   checkpoint_interval="0.5s", consumer=consumer)
    cfg = load_config(cfg_path)
    expected = exact_counts(w.columns["ts"], WINDOW, {"region": w.columns["region"]})
    producer = PacedProducer(kafka.bootstrap, topic, to_json_lines(w), 4, chunk=2000,
                             interval=0.25)
    group = str(cfg.kafka.group_id)
    kills = []
    for i in range(3):
        worker = Worker(cfg_path, tmp_path / f"worker-{i}.log", instance_id="w1")
        try:
            worker.wait_ready()
            if i == 0:
                producer.start()  # events arrive while the worker runs
            base = _committed(kafka.bootstrap, group, topic)
            threshold = rng.randint(500, 12_000)  # a random point of this incarnation's
            # progress, after it wrote at least one checkpoint (restores exercised, not replays)
            wait_until(lambda t=threshold, b=base: (_consumed(address) >= t and _committed(
                kafka.bootstrap, group, topic) > b) or _drained(address, producer),
                120, 0.05, f"worker {i} consumed {threshold} records and checkpointed")
        finally:
            worker.kill9()  # also when the test fails: no worker outlives it
        kills.append((threshold, producer.sent))
    final = Worker(cfg_path, tmp_path / "worker-final.log", instance_id="w1")
    try:
        final.wait_ready()
        producer.join(120)
        assert producer.error is None, producer.error
        want = {k for k in expected if k[1] == "all"}
        results = wait_for_windows(kafka.bootstrap, str(cfg.kafka.results_topic), set(expected),
                                   "10s")
        assert final.alive(), final.tail()
    finally:
        final.terminate()
    assert any(sent < N for _, sent in kills), f"no kill happened while producing: {kills}"
    got = observed_counts(results, "10s")
    missing = {k: v for k, v in expected.items() if got.get(k) != v}
    assert not missing, f"{len(missing)} window x cohort counts differ, e.g. " + str(
        [(k, v, got.get(k)) for k, v in list(missing.items())[:5]])
    assert got == expected
    assert sum(v for (s, seg, _), v in got.items() if seg == "all") == N
    assert np.isclose(sum(expected[k] for k in want), N)
