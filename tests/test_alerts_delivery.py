"""Alert delivery to (local, faithful) Slack and PagerDuty: the lifecycle of one drifting feature,
and delivery through failing receivers without slowing ingestion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from driftline.alerts import Alerting, AlertsConfig, DriftConfig, Measurement
from driftline.stream.config.alerts import DeliveryConfig
from tests.fixtures.receivers import PagerDutyReceiver, SlackReceiver, WebhookReceiver
from tests.fixtures.waiting import wait_until

FEATURES = [f"f{i:02d}" for i in range(20)]
T0 = 1_790_000_000.0


def window(index: int, shifted: dict[str, float], cohorts: int = 5) -> list[Measurement]:
    """One 5m window: every feature × cohort calm (PSI 0.01, p 0.6) except ``shifted``
    features in cohort region=eu."""
    start = T0 + 300 * index
    out = []
    for c in range(cohorts):
        cohort = "eu" if c == 0 else f"c{c}"
        for feature in FEATURES:
            value = shifted.get(feature) if cohort == "eu" else None
            out.append(Measurement(
                "fraud", "drift", "psi", feature, "region", cohort, "5m", start, start + 300,
                value if value is not None else 0.01, n=2000, m=200_000,
                p_value=1e-25 if value is not None and value > 0.05 else 0.6,
                details={"contributions": [
                    {"bin": "[120, 250)", "base": 0.10, "current": 0.10 + (value or 0)},
                    {"bin": "[0, 15)", "base": 0.15, "current": 0.11},
                ]},
            ))
    return out


def alerts_config(slack: SlackReceiver, pd: PagerDutyReceiver, fast: bool = False) -> AlertsConfig:
    delivery: dict[str, Any] = {"timeout": 2.0}
    if fast:
        delivery.update(backoff_initial=0.2, backoff_max=2.0)
    return AlertsConfig.model_validate({
        "channels": {
            "pagerduty": {"type": "pagerduty", "routing_key_env": "TEST_PD_KEY",
                          "url_env": "TEST_PD_URL"},
            "slack": {"type": "slack", "webhook_url_env": "TEST_SLACK_URL"},
        },
        "grafana_url": "http://grafana.example:3000",
        "delivery": DeliveryConfig.model_validate(delivery).model_dump(),
    })


def environ(slack: SlackReceiver, pd: PagerDutyReceiver) -> dict[str, str]:
    return {"TEST_PD_KEY": pd.routing_key, "TEST_PD_URL": pd.url,
            "TEST_SLACK_URL": slack.webhook_url}


def make(tmp_path: Path, slack: SlackReceiver, pd: PagerDutyReceiver, fast: bool = False
         ) -> Alerting:
    return Alerting(
        "fraud",
        drift=DriftConfig(min_samples=500, for_windows=2, clear_windows=3),
        alerts=alerts_config(slack, pd, fast),
        state_dir=tmp_path / "state",
        environ=environ(slack, pd),
    )


def test_warning_critical_clear_pages_once_and_resolves_with_the_same_key(
    tmp_path: Path, slack_receiver: SlackReceiver, pagerduty_receiver: PagerDutyReceiver
) -> None:
    alerting = make(tmp_path, slack_receiver, pagerduty_receiver).start()
    script = [{"f03": 0.15}, {"f03": 0.15}, {"f03": 0.35}, {"f03": 0.36}, {"f03": 0.01}, {}]
    transitions = []
    for i, shifted in enumerate(script):
        events = alerting.observe_window(window(i, shifted))
        transitions += [(i, e.state, e.severity) for e in events]
    assert transitions == [
        (0, "pending", "warning"), (1, "firing", "warning"), (2, "firing", "critical"),
        (4, "resolved", "critical"),
    ]
    assert alerting.flush(timeout=20)

    # Slack: one digest per window with a change (windows 1, 2 and 4), nothing else.
    digests = slack_receiver.digests()
    assert len(digests) == 3
    assert ["1 firing, 0 resolved" in d["text"] for d in digests] == [True, True, False]
    assert "0 firing, 1 resolved" in digests[2]["text"]
    first = digests[0]
    assert first["blocks"][0]["type"] == "header"
    section = first["blocks"][1]["text"]["text"]
    assert "f03" in section and "region=eu" in section and "0.15" in section
    assert "[120, 250): 10.0% → 25.0%" in section  # what moved
    assert "var-feature=f03" in section and "var-cohort=eu" in section  # Grafana link

    # PagerDuty: one trigger, one resolve, same stable dedup_key; one page in total.
    triggers = pagerduty_receiver.events("trigger")
    resolves = pagerduty_receiver.events("resolve")
    assert len(triggers) == 1 and len(resolves) == 1
    key = triggers[0]["dedup_key"]
    assert resolves[0]["dedup_key"] == key
    assert pagerduty_receiver.pages == [key]
    payload = triggers[0]["payload"]
    assert payload["severity"] == "critical"
    assert "psi=0.35 >= 0.2" in payload["summary"] and "f03, region=eu" in payload["summary"]
    details = payload["custom_details"]
    assert details["n"] == 2000 and details["since"].startswith("2026-")
    assert details["what_moved"].startswith("[120, 250)")
    assert "var-cohort=eu" in triggers[0]["links"][0]["href"]
    alerting.close()

    # The alert key is stable across restarts (and the state too).
    again = make(tmp_path, slack_receiver, pagerduty_receiver)
    again.observe_window(window(10, {"f03": 0.4}))
    events = again.observe_window(window(11, {"f03": 0.4}))
    assert [e.state for e in events] == ["firing"]
    assert events[0].key.dedup_key == key
    again.close()


def test_firing_state_survives_a_restart(
    tmp_path: Path, slack_receiver: SlackReceiver, pagerduty_receiver: PagerDutyReceiver
) -> None:
    alerting = make(tmp_path, slack_receiver, pagerduty_receiver)
    for i in range(2):
        alerting.observe_window(window(i, {"f01": 0.5}))
    assert alerting.firing() == {"warning": 0, "critical": 1}
    alerting.close()
    restarted = make(tmp_path, slack_receiver, pagerduty_receiver)
    assert restarted.firing() == {"warning": 0, "critical": 1}
    # Still firing: the next breaching window is not a new alert.
    assert restarted.observe_window(window(2, {"f01": 0.5})) == []
    restarted.close()


def _observe(alerting: Alerting, start: int, count: int, shift: Any) -> None:
    for i in range(start, start + count):
        alerting.observe_window(window(i, shift(i)))


OUTAGE = 3600.0  # "until the test ends the outage": no phase ends by the clock


@pytest.mark.timeout(180)
def test_receivers_failing_then_throttling_then_ok_get_everything_once_in_order(
    tmp_path: Path, slack_receiver: SlackReceiver, pagerduty_receiver: PagerDutyReceiver
) -> None:
    alerting = make(tmp_path, slack_receiver, pagerduty_receiver, fast=True).start()
    _observe(alerting, 0, 30, lambda i: {})  # calm windows while the receivers answer normally

    # 500 until the test ends the outage, then 429 + Retry-After until one is seen, then 200.
    slack_receiver.script([(OUTAGE, 500, None)])
    pagerduty_receiver.script([(OUTAGE, 500, None)])
    # Three features go warning -> critical -> clear at staggered windows while it fails.
    def shift(i: int) -> dict[str, float]:
        out = {}
        for k, feature in enumerate(["f05", "f06", "f07"]):
            phase = i - 30 - 2 * k
            if 0 <= phase < 2:
                out[feature] = 0.15
            elif 2 <= phase < 4:
                out[feature] = 0.4
        return out

    _observe(alerting, 30, 30, shift)
    # Ingestion went on while nothing could be delivered: it never waits for a receiver.
    assert pagerduty_receiver.events() == [] and slack_receiver.digests() == []
    assert alerting.pending() > 0
    wait_until(lambda: pagerduty_receiver.failed_attempts() >= 3,
               timeout=30, message="deliveries attempted and failing")
    for receiver in (slack_receiver, pagerduty_receiver):
        receiver.script([(OUTAGE, 429, 2)])
    wait_until(lambda: alerting.delivery_stats().get(("pagerduty", "rate_limited"), 0) >= 1,
               timeout=30, message="a delivery throttled with 429 + Retry-After")
    assert pagerduty_receiver.events() == []
    for receiver in (slack_receiver, pagerduty_receiver):
        receiver.script([])
    assert alerting.flush(timeout=60)

    # Everything delivered exactly once, in order per key.
    triggers = pagerduty_receiver.events("trigger")
    resolves = pagerduty_receiver.events("resolve")
    assert len(triggers) == 3 and len(resolves) == 3
    assert len(pagerduty_receiver.pages) == 3
    order = [(b["event_action"], b["dedup_key"]) for b in pagerduty_receiver.events()]
    for key in {k for _, k in order}:
        assert [a for a, k in order if k == key] == ["trigger", "resolve"]
    digests = slack_receiver.digests()
    ids = [d["blocks"][-1]["elements"][0]["text"].rsplit(" ", 1)[-1] for d in digests]
    assert len(ids) == len(set(ids))
    slack_rows = [r for r in alerting.outbox() if r["channel"] == "slack"]
    assert len(digests) == len(slack_rows) and all(r["status"] == "sent" for r in slack_rows)
    stats = alerting.delivery_stats()
    assert stats[("pagerduty", "retried")] >= 3 and stats[("pagerduty", "rate_limited")] >= 1
    assert stats[("pagerduty", "sent")] == 6
    alerting.close()


def test_webhook_and_console_channels_get_each_change(
    tmp_path: Path, webhook_receiver: WebhookReceiver, capfd: pytest.CaptureFixture[str]
) -> None:
    cfg = AlertsConfig.model_validate({
        "channels": {"hook": {"type": "webhook", "url": webhook_receiver.url},
                     "console": {"type": "console", "stream": "stdout"}},
        "routes": {"critical": ["hook", "console"], "warning": ["console"]},
        "delivery": {"backoff_initial": 0.1, "backoff_max": 0.5},
    })
    webhook_receiver.script([(0.5, 503, None)])
    alerting = Alerting("fraud", drift=DriftConfig(min_samples=500, for_windows=1), alerts=cfg,
                        state_dir=tmp_path, environ={}).start()
    for i, psi in enumerate([0.15, 0.35, 0.01]):
        alerting.observe_window(window(i, {"f02": psi}))
    assert alerting.flush(timeout=20)
    bodies = webhook_receiver.accepted()
    assert [(b["action"], b["severity"], b["state"]) for b in bodies] == [
        ("fire", "critical", "firing"), ("resolve", "critical", "resolved")]
    assert bodies[0]["feature"] == "f02" and bodies[0]["cohort"] == "eu"
    out = capfd.readouterr().out.splitlines()
    assert [line.split("]")[0] for line in out] == ["[WARNING", "[CRITICAL", "RESOLVED [CRITICAL"]
    alerting.close()


def test_a_window_with_many_changes_is_one_digest_within_block_kit_limits(
    tmp_path: Path, slack_receiver: SlackReceiver
) -> None:
    cfg = AlertsConfig.model_validate({
        "channels": {"slack": {"type": "slack", "webhook_url_env": "TEST_SLACK_URL",
                               "max_alerts_per_digest": 8}},
        "grafana_url": "http://grafana.example:3000",
    })
    alerting = Alerting("fraud", drift=DriftConfig(min_samples=500, for_windows=1), alerts=cfg,
                        state_dir=tmp_path, environ={"TEST_SLACK_URL": slack_receiver.webhook_url})
    alerting.start()
    events = alerting.observe_window(window(0, {f: 0.4 for f in FEATURES}))
    assert len(events) == len(FEATURES) == 20
    assert alerting.flush(timeout=20)
    [digest] = slack_receiver.digests()  # the receiver enforces Block Kit's limits
    assert "20 firing" in digest["blocks"][0]["text"]["text"]
    assert "... and 12 more alert changes in this window" in digest["text"]
    sections = [b for b in digest["blocks"] if b["type"] == "section"]
    assert len(sections) == 9 and all(len(b["text"]["text"]) <= 3000 for b in sections)
    assert "psi=0.4 &gt;= 0.2" in sections[0]["text"]["text"]  # mrkdwn-escaped
    alerting.close()
