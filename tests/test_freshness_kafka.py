"""Freshness against the real broker: a topic that stops getting data pages within its SLA plus
one tick, and a restarted monitor knows at once how stale it is (Kafka's own record times)."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import numpy as np
import pytest
from kafka import KafkaConsumer

from driftline.alerts.model import Measurement
from driftline.stream.config.alerts import FreshnessRule
from driftline.stream.kafka.probes import latest_timestamps, latest_topic_timestamps
from driftline.stream.kafka.producer import Producer
from driftline.stream.monitor.freshness import FreshnessClock, run_clock
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.kafka

SLA = 3.0
TICK = 0.5


def by_rule(ms: list[Measurement]) -> dict[str, Measurement]:
    return {m.feature: m for m in ms}


class _Ticker:
    """``run_clock`` (the worker's timer loop) on its own event loop thread."""

    def __init__(self, clock: FreshnessClock, emit, probe) -> None:
        self.loop = asyncio.new_event_loop()
        self.stop_event = asyncio.Event()
        self.thread = threading.Thread(target=self._run, args=(clock, emit, probe), daemon=True)
        self.thread.start()

    def _run(self, clock: FreshnessClock, emit, probe) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(run_clock(clock, emit, probe=probe, stop=self.stop_event))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        self.loop.close()


def test_stopped_topic_breaches_sla_in_time_and_a_restart_still_sees_it_stale(kafka) -> None:
    client = {"bootstrap_servers": kafka.bootstrap}
    quiet = kafka.create_topic(kafka.unique_topic("quiet"), partitions=2)
    busy = kafka.create_topic(kafka.unique_topic("busy"))
    rules = [FreshnessRule(topic=quiet, max_staleness=SLA),
             FreshnessRule(topic=busy, max_staleness=SLA)]

    with Producer(client, linger_ms=0) as producer:
        producer.send(quiet, b'{"amount": 1}', partition=1)
        producer.send(busy, b'{"amount": 1}')
        producer.flush()
        last_quiet = latest_topic_timestamps(client, [quiet])[quiet]
        assert last_quiet is not None and abs(time.time() - last_quiet) < 5

        clock = FreshnessClock("fresh-test", rules, tick=TICK)
        ticks: list[list[Measurement]] = []
        ticker = _Ticker(clock, ticks.append,
                         probe=lambda: latest_timestamps(client, [quiet, busy]))

        def breached() -> Measurement | None:
            producer.send(busy, b'{"amount": 2}')  # the other topic keeps flowing
            producer.flush()
            for ms in list(ticks):
                m = by_rule(ms)[f"topic:{quiet}"]
                if m.value > SLA:
                    return m
            return None

        try:
            breach = wait_until(breached, timeout=SLA + 15, message="quiet topic breach")
        finally:
            ticker.stop()

    assert breach.details["max_staleness"] == SLA and breach.details["no_data"] is False
    # evaluated (window_end) within max_staleness + one tick of the last record, plus the
    # probe's round trip before that tick
    assert breach.window_end - last_quiet <= SLA + TICK + 0.5
    assert breach.value == pytest.approx(breach.window_end - last_quiet, abs=0.01)
    busy_values = [by_rule(ms)[f"topic:{busy}"].value for ms in ticks]
    assert len(busy_values) >= SLA / TICK and max(busy_values) < SLA
    gaps = [b[0].window_end - a[0].window_end for a, b in zip(ticks, ticks[1:], strict=False)]
    assert max(gaps) < TICK + 0.5  # ticks keep coming with no traffic on the quiet topic

    # "restart": a new clock with no observations, seeded from Kafka only
    restarted = FreshnessClock("fresh-test", rules, tick=TICK)
    restarted.seed_from_kafka(latest_timestamps(client, [quiet, busy]))
    ms = by_rule(restarted.evaluate())
    now = time.time()
    assert ms[f"topic:{quiet}"].value == pytest.approx(now - last_quiet, abs=0.5)
    assert ms[f"topic:{quiet}"].value > SLA
    assert ms[f"topic:{busy}"].value < SLA


def test_clock_fed_from_consumed_records_tracks_non_null_features(kafka) -> None:
    topic = kafka.create_topic(kafka.unique_topic("feat"))
    base_ms = int(time.time() * 1000) - 120_000
    for i, value in enumerate([b'{"h": 1}', b'{"h": 2}', b'{"h": null}', b"{}"]):
        kafka.produce(topic, [value], timestamp_ms=base_ms + i * 30_000)

    clock = FreshnessClock("m", [FreshnessRule(feature="h", max_staleness=60),
                                 FreshnessRule(topic=topic, max_staleness=60)])
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka.bootstrap,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    records: list = []
    try:
        wait_until(lambda: records.extend(r for rs in consumer.poll(500).values() for r in rs)
                   or len(records) >= 4, timeout=30, message="4 records")
    finally:
        consumer.close()
    times = np.array([r.timestamp for r in records]) / 1000.0
    present = np.array([json.loads(r.value).get("h") is not None for r in records])
    clock.observe(topic, times, present={"h": present})
    ms = by_rule(clock.evaluate())
    now = time.time()
    assert ms["feature:h"].value == pytest.approx(now - (base_ms + 30_000) / 1000, abs=1.0)
    assert ms[f"topic:{topic}"].value == pytest.approx(now - (base_ms + 90_000) / 1000, abs=1.0)
