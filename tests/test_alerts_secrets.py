"""No secret (webhook URL, routing key, auth header) appears in logs, exceptions, metrics or the
state on disk — while deliveries fail, are throttled, refused and time out."""

from __future__ import annotations

import json
import logging
import secrets
import socket
from pathlib import Path

import pytest

from driftline.alerts import Alerting, AlertsConfig, DriftConfig, Measurement, MissingSecretError
from tests.fixtures.receivers import PagerDutyReceiver, SlackReceiver
from tests.fixtures.waiting import wait_until

T0 = 1_790_000_000.0
OUTAGE = 3600.0  # seconds: a phase that lasts until the test replaces it


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config() -> AlertsConfig:
    return AlertsConfig.model_validate({
        "channels": {
            "pagerduty": {"type": "pagerduty", "routing_key_env": "S_PD_KEY",
                          "url_env": "S_PD_URL"},
            "pd_wrong_key": {"type": "pagerduty", "routing_key_env": "S_PD_WRONG_KEY",
                             "url_env": "S_PD_URL"},
            "slack": {"type": "slack", "webhook_url_env": "S_SLACK_URL"},
            "hook": {"type": "webhook", "url_env": "S_HOOK_URL",
                     "headers_env": {"Authorization": "S_HOOK_AUTH"}},
        },
        "routes": {"critical": ["pagerduty", "pd_wrong_key", "slack", "hook"],
                   "warning": ["slack"]},
        "delivery": {"backoff_initial": 0.1, "backoff_max": 0.5, "timeout": 2},
    })


def window(i: int, psi: float) -> list[Measurement]:
    start = T0 + 300 * i
    return [Measurement("pay", "drift", "psi", "amount", "all", "all", "5m", start, start + 300,
                        psi, n=4000, m=100_000, p_value=1e-40 if psi > 0.05 else 0.5)]


def test_secrets_never_reach_logs_exceptions_metrics_or_disk(
    tmp_path: Path, slack_receiver: SlackReceiver, pagerduty_receiver: PagerDutyReceiver,
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    hook_token, auth_token, wrong_key = (secrets.token_hex(10) for _ in range(3))
    env = {
        "S_PD_KEY": pagerduty_receiver.routing_key,
        "S_PD_WRONG_KEY": wrong_key,
        "S_PD_URL": pagerduty_receiver.url,
        "S_SLACK_URL": slack_receiver.webhook_url,
        "S_HOOK_URL": f"http://127.0.0.1:{closed_port()}/hook?token={hook_token}",
        "S_HOOK_AUTH": f"Bearer {auth_token}",
    }
    needles = [pagerduty_receiver.routing_key, wrong_key, slack_receiver.webhook_url,
               slack_receiver.token, hook_token, auth_token]

    # A missing variable fails at start, naming the field and the variable — not any value.
    with pytest.raises(MissingSecretError) as missing:
        Alerting("pay", alerts=config(), state_dir=tmp_path / "s",
                 environ={k: v for k, v in env.items() if k != "S_PD_KEY"})
    message = str(missing.value)
    assert "alerts.channels.pagerduty.routing_key_env" in message and "S_PD_KEY" in message

    # Deliveries fail (500), are throttled (429), refused (400: wrong routing key) and time out
    # (nothing listens for the webhook).
    # (each phase lasts until the test has seen it, not for a fixed time)
    slack_receiver.script([(OUTAGE, 500, None)])
    pagerduty_receiver.script([(OUTAGE, 503, None)])
    alerting = Alerting("pay", drift=DriftConfig(min_samples=100, for_windows=1),
                        alerts=config(), state_dir=tmp_path / "state", environ=env).start()
    alerting.observe_window(window(0, 0.5))
    alerting.observe_window(window(1, 0.01))
    wait_until(lambda: slack_receiver.failed_attempts() >= 1
               and pagerduty_receiver.failed_attempts() >= 1,
               timeout=30, message="first deliveries failed")
    slack_receiver.script([(OUTAGE, 429, 1)])
    pagerduty_receiver.script([(OUTAGE, 429, 1)])
    wait_until(lambda: alerting.delivery_stats().get(("pagerduty", "rate_limited"), 0) >= 1
               and alerting.delivery_stats().get(("slack", "rate_limited"), 0) >= 1,
               timeout=30, message="deliveries throttled")
    slack_receiver.script([])
    pagerduty_receiver.script([])
    wait_until(lambda: len(pagerduty_receiver.events()) == 2 and slack_receiver.digests(),
               timeout=30, message="PagerDuty and Slack delivered")
    stats = alerting.delivery_stats()
    wait_until(lambda: alerting.delivery_stats().get(("pd_wrong_key", "failed"), 0) == 2
               and alerting.delivery_stats().get(("hook", "retried"), 0) >= 3,
               timeout=30, message="refusals and network errors happened")
    stats = alerting.delivery_stats()
    assert stats[("slack", "retried")] >= 1 and stats[("pagerduty", "rate_limited")] >= 1
    outbox = alerting.outbox()
    errors = " ".join(str(r["last_error"]) for r in outbox)
    assert "Invalid routing key" in errors and "network error: ConnectError" in errors
    assert any("HTTP Request: POST" in r.getMessage() for r in caplog.records)  # httpx logs
    alerting.close()

    out, err = capfd.readouterr()
    state_bytes = b"".join(p.read_bytes() for p in (tmp_path / "state").rglob("*") if p.is_file())
    haystacks = {
        "log records": "\n".join(
            f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records),
        "log text": caplog.text,
        "stdout/stderr": out + err,
        "exception": message,
        "metrics": repr(stats) + repr(alerting.firing()),
        "outbox": json.dumps(outbox),
        "state on disk": state_bytes.decode("utf-8", "replace"),
    }
    for where, text in haystacks.items():
        for secret in needles:
            assert secret not in text, f"a secret leaked into {where}"
