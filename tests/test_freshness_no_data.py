"""A cohort that had traffic in the baseline and has none now is reported as "no data" — as a
warning, after a silence that the baseline rate makes a one-in-a-million event."""

from __future__ import annotations

from driftline.alerts import Alerting
from driftline.stream.monitor.freshness import FreshnessClock, no_data_slas


def test_silent_baseline_cohort_warns_after_its_rate_based_sla() -> None:
    # One hour of training: eu had 36,000 events (10/s), mea 360 (0.1/s).
    slas = no_data_slas({"region": {"eu": 36_000, "mea": 360}}, 3600.0, window_size=30.0)
    assert slas["region=eu"] == 90.0  # 14 / 10 s is shorter than three windows
    assert 130 < slas["region=mea"] < 140  # ln(1e6) / 0.1

    now = [1_000.0]
    clock = FreshnessClock("m", [], clock=lambda: now[0], baseline_cohorts=list(slas),
                           no_data_after=slas)
    alerting = Alerting("m", deliver=False)
    clock.observe("tx", [999.0], segments={"region": ["mea"]})

    now[0] = 1_000.0 + 85  # eu silent since the start for 85 s: within its SLA
    assert alerting.observe_freshness(clock.evaluate()) == []

    now[0] = 1_000.0 + 200  # eu past 90 s; mea seen 201 s ago, past ~138 s too
    events = alerting.observe_freshness(clock.evaluate())
    by_cohort = {e.cohort: e for e in events}
    assert set(by_cohort) == {"eu", "mea"}
    assert all(e.state == "firing" and e.severity == "warning" for e in events)
    assert by_cohort["eu"].details.get("no_data") is True
