"""Through the real Alertmanager: critical reaches PagerDuty, warning reaches Slack, and the
warning is inhibited while the critical fires; clearing resolves both."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.alerts import Alerting, AlertsConfig, DriftConfig, Measurement
from tests.fixtures.alertmanager import Alertmanager
from tests.fixtures.receivers import PagerDutyReceiver, SlackReceiver
from tests.fixtures.waiting import wait_until

T0 = 1_790_000_000.0
pytestmark = pytest.mark.alertmanager


def window(index: int, psi: float) -> list[Measurement]:
    start = T0 + 300 * index
    return [
        Measurement("fraud", "drift", "psi", "amount", "region", "eu", "5m", start, start + 300,
                    psi, n=3000, m=100_000, p_value=1e-30 if psi > 0.05 else 0.5),
        Measurement("fraud", "drift", "psi", "device", "region", "eu", "5m", start, start + 300,
                    0.01, n=3000, m=100_000, p_value=0.7),
    ]


def slack_texts(slack: SlackReceiver) -> list[str]:
    out = []
    for body in slack.digests():
        for a in body.get("attachments", []):
            out.append(f"{a.get('title', '')} {a.get('text', '')}")
    return out


def test_alertmanager_routes_by_severity_and_inhibits_warning_under_critical(
    tmp_path: Path, alertmanager: Alertmanager, slack_receiver: SlackReceiver,
    pagerduty_receiver: PagerDutyReceiver,
) -> None:
    cfg = AlertsConfig.model_validate({
        "channels": {"am": {"type": "alertmanager", "url": alertmanager.url,
                            "resend_interval": "5s"}},
        "routes": {"critical": ["am"], "warning": ["am"]},
    })
    alerting = Alerting("fraud", drift=DriftConfig(min_samples=500, for_windows=1),
                        alerts=cfg, state_dir=tmp_path / "state", environ={}).start()

    # Warning: Alertmanager sends it to Slack, not to PagerDuty.
    alerting.observe_window(window(0, 0.15))
    wait_until(lambda: any("[FIRING:1] DriftlineDrift" in t for t in slack_texts(slack_receiver)),
               timeout=30, message="warning reached Slack through Alertmanager")
    assert pagerduty_receiver.events() == []

    # Critical: PagerDuty is triggered; the warning stays active in Alertmanager but inhibited.
    alerting.observe_window(window(1, 0.4))
    wait_until(lambda: pagerduty_receiver.events("trigger"), timeout=30,
               message="critical reached PagerDuty through Alertmanager")
    trigger = pagerduty_receiver.events("trigger")[0]
    assert trigger["payload"]["severity"] == "critical"
    assert "DriftlineDrift" in trigger["payload"]["summary"]

    def warning_inhibited() -> bool:
        warnings = alertmanager.alerts(severity="warning", feature="amount")
        return len(warnings) == 1 and warnings[0]["status"]["state"] == "suppressed" and bool(
            warnings[0]["status"]["inhibitedBy"])

    wait_until(warning_inhibited, timeout=15, message="warning inhibited by the critical")
    critical = alertmanager.alerts(severity="critical", feature="amount")
    assert critical[0]["status"]["state"] == "active"
    labels = critical[0]["labels"]
    assert (labels["monitor"], labels["segment"], labels["cohort"], labels["window"]) == (
        "fraud", "region", "eu", "5m")
    assert "psi=0.4" in critical[0]["annotations"]["summary"]
    # While firing, driftline re-sends with a fresh endsAt (resend_interval 5s here, ≤ 60s).
    ends = critical[0]["endsAt"]
    wait_until(lambda: alertmanager.alerts(severity="critical", feature="amount")[0]["endsAt"]
               > ends, timeout=20, message="firing alert re-sent with a later endsAt")
    firing_warnings = [t for t in slack_texts(slack_receiver) if "[FIRING" in t]
    assert len(firing_warnings) == 1  # no warning re-sent to Slack while the critical fires
    assert not any("critical" in t.lower() for t in slack_texts(slack_receiver))

    # Clear: Alertmanager resolves the critical incident with the same dedup_key.
    alerting.observe_window(window(2, 0.01))
    wait_until(lambda: pagerduty_receiver.events("resolve"), timeout=30,
               message="PagerDuty incident resolved through Alertmanager")
    assert pagerduty_receiver.events("resolve")[0]["dedup_key"] == trigger["dedup_key"]
    assert len(pagerduty_receiver.pages) == 1
    wait_until(lambda: alertmanager.alerts(feature="amount", active="true") == []
               or all(a["status"]["state"] != "active"
                      for a in alertmanager.alerts(feature="amount")),
               timeout=15, message="alerts resolved in Alertmanager")
    assert alerting.flush(10)
    stats = alerting.delivery_stats()
    assert stats[("am", "sent")] == 3 and stats[("am", "resent")] >= 1
    alerting.close()
