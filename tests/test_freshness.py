"""The freshness clock on an injected clock: what an on-call expects staleness to mean."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from driftline.alerts.model import Measurement
from driftline.alerts.rules import Rules
from driftline.stream.config.alerts import DriftConfig, FreshnessRule, QualityConfig, VolumeConfig
from driftline.stream.monitor.freshness import FreshnessClock, run_clock


class FakeTime:
    """A settable clock (the class under test takes any callable returning Unix seconds)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def by_rule(ms: list[Measurement]) -> dict[str, Measurement]:
    return {m.feature: m for m in ms}


def test_topic_staleness_grows_without_traffic_and_breaches_its_sla() -> None:
    t = FakeTime()
    rules = [FreshnessRule(topic="tx", max_staleness="5m", warning_after="2m")]
    fc = FreshnessClock("fraud", rules, clock=t)
    fc.observe("tx", np.array([t.now - 3, t.now - 1]))

    assert by_rule(fc.evaluate())["topic:tx"].value == pytest.approx(1.0)
    t.now += 301
    m = by_rule(fc.evaluate())["topic:tx"]
    assert m.value == pytest.approx(302.0)
    assert (m.check, m.metric, m.segment, m.cohort, m.window) == (
        "freshness", "staleness_seconds", "all", "all", ""
    )
    assert m.details["max_staleness"] == 300.0 and m.details["no_data"] is False

    # the alerts engine turns it into a critical finding on the rule's key
    engine = Rules(DriftConfig(), QualityConfig(), VolumeConfig(), rules)
    [finding] = engine.evaluate([m], {})
    assert (finding.severity, finding.threshold) == ("critical", 300.0)


def test_feature_freshness_counts_only_non_null_values() -> None:
    t = FakeTime()
    fc = FreshnessClock("m", [FreshnessRule(feature="history", max_staleness=60)], clock=t)
    times = np.array([t.now - 50, t.now - 40, t.now - 5])
    fc.observe("tx", times, present={"history": np.array([True, False, False])})
    # the topic is fresh, the feature's last non-null value is 50 s old
    assert by_rule(fc.evaluate())["feature:history"].value == pytest.approx(50.0)
    assert fc.last_seen("topic", "tx") == t.now - 5

    t.now += 20
    fc.observe("tx", np.array([t.now]), present={"history": np.array([False])})
    assert by_rule(fc.evaluate())["feature:history"].value == pytest.approx(70.0)


def test_cohorts_are_tracked_per_segment_in_one_pass() -> None:
    t = FakeTime()
    rules = [FreshnessRule(cohort="region=eu", max_staleness=30)]
    fc = FreshnessClock("m", rules, clock=t)
    n = 10_000
    times = t.now - 100 + np.arange(n) * 0.01  # 100 s of traffic
    region = np.where(np.arange(n) < 9_000, "eu", "us")  # eu stops 10 s before us
    objects = np.array(["ios"], dtype=object)[np.zeros(n, dtype=np.int64)]  # as decoders build
    fc.observe("tx", times, segments={"region": region, "device": objects})

    # the same batch given as integer codes into a label table gives the same times
    coded = FreshnessClock("m", rules, clock=t)
    codes = (region == "us").astype(np.int8)
    coded.observe("tx", times, segments={"region": (codes, ["eu", "us"]),
                                         "device": (np.zeros(n, np.int8), ["ios"])})
    assert coded.state() == fc.state()

    m = by_rule(fc.evaluate())["cohort:region=eu"]
    assert (m.segment, m.cohort) == ("region", "eu")
    assert m.value == pytest.approx(10.01, abs=1e-6)
    assert fc.last_seen("cohort", "region=us") == pytest.approx(t.now - 0.01)
    assert fc.last_seen("cohort", "device=ios") == pytest.approx(t.now - 0.01)


def test_baseline_cohort_with_no_traffic_since_start_reports_no_data() -> None:
    t = FakeTime()
    rules = [FreshnessRule(cohort="region=apac", max_staleness=60)]
    fc = FreshnessClock(
        "m", rules, clock=t, baseline_cohorts=["region=apac", "region=eu", "region=us"],
        no_data_after=120,
    )
    t.now += 10
    fc.observe("tx", [t.now], segments={"region": ["eu"]})
    t.now += 90
    ms = by_rule(fc.evaluate())
    assert ms["cohort:region=apac"].details["no_data"] is True
    assert ms["cohort:region=apac"].value == pytest.approx(100.0)  # since the clock started
    assert ms["cohort:region=us"].details == {
        "max_staleness": 120.0, "kind": "cohort", "target": "region=us", "last_seen": None,
        "no_data": True, "implicit": True, "severity": "warning",
    }
    assert ms["cohort:region=eu"].value == pytest.approx(90.0)
    assert ms["cohort:region=eu"].details["no_data"] is False


def test_seeding_from_kafka_makes_a_restarted_clock_right_not_zero() -> None:
    t = FakeTime()
    rules = [FreshnessRule(topic="tx", max_staleness=600), FreshnessRule(topic="empty",
             max_staleness=600), FreshnessRule(feature="amount", max_staleness=600)]
    fc = FreshnessClock("m", rules, clock=t)  # a worker that just (re)started
    fc.seed_from_kafka({"tx": t.now - 900.0, "empty": None})
    ms = by_rule(fc.evaluate())
    assert ms["topic:tx"].value == pytest.approx(900.0)
    assert ms["topic:tx"].details["no_data"] is False
    # nothing can have been seen after Kafka's newest record: features count from there too
    assert ms["feature:amount"].value == pytest.approx(900.0)
    assert ms["feature:amount"].details["no_data"] is True
    # an empty topic has had no data since the clock started
    assert ms["topic:empty"].value == pytest.approx(900.0)

    # seeding only moves forward: an older probe does not make the topic staler
    fc.observe("tx", [t.now - 10])
    fc.seed_from_kafka({"tx": t.now - 500})
    assert by_rule(fc.evaluate())["topic:tx"].value == pytest.approx(10.0)


def test_future_timestamps_are_clamped_and_state_merges_newest_wins() -> None:
    t = FakeTime()
    fc = FreshnessClock("m", [FreshnessRule(topic="tx", max_staleness=60)], clock=t)
    fc.observe("tx", [t.now + 3600, np.nan])  # producer clock an hour ahead
    assert fc.last_seen("topic", "tx") == t.now
    t.now += 5
    assert by_rule(fc.evaluate())["topic:tx"].value == pytest.approx(5.0)

    restored = FreshnessClock("m", fc.rules, clock=t)
    restored.restore({"topic": {"tx": t.now - 30}, "feature": {"amount": t.now - 7}})
    restored.restore(fc.state())  # two partitions' checkpoints: the newest time wins
    assert restored.last_seen("topic", "tx") == t.now - 5
    assert restored.last_seen("feature", "amount") == t.now - 7


def test_ticks_follow_the_interval_not_the_traffic() -> None:
    t = FakeTime()
    fc = FreshnessClock("m", [FreshnessRule(topic="tx", max_staleness=60)], tick=5, clock=t)
    assert len(fc.tick()) == 1  # due at once
    t.now += 4.9
    assert fc.tick() == []
    t.now += 0.1
    assert len(fc.tick()) == 1
    assert fc.next_due == t.now + 5


def test_run_clock_probes_and_emits_until_stopped() -> None:
    t = FakeTime()
    fc = FreshnessClock("m", [FreshnessRule(topic="tx", max_staleness=60)], tick=0.01, clock=t)
    seen: list[list[Measurement]] = []
    stop = asyncio.Event()

    def probe() -> dict[str, float]:
        t.now += 0.01  # each probe sees the clock moved a little
        return {"tx": t.now - 42}

    def emit(ms: list[Measurement]) -> None:
        seen.append(ms)
        if len(seen) == 3:
            stop.set()

    asyncio.run(asyncio.wait_for(run_clock(fc, emit, probe=probe, stop=stop), timeout=10))
    assert len(seen) == 3
    assert all(ms[0].value == pytest.approx(42.0) for ms in seen)
