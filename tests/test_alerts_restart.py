"""kill -9 with notifications pending: after a restart they are delivered, and nobody is paged
twice (a real subprocess, a real SIGKILL, the same state directory)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.fixtures.receivers import PagerDutyReceiver, SlackReceiver
from tests.fixtures.waiting import wait_until

DRIVER = textwrap.dedent('''
    import json, sys, threading
    from driftline.alerts import Alerting, AlertsConfig, DriftConfig, Measurement

    state_dir, mode, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    cfg = AlertsConfig.model_validate({
        "channels": {
            "pagerduty": {"type": "pagerduty", "routing_key_env": "T_PD_KEY",
                          "url_env": "T_PD_URL"},
            "slack": {"type": "slack", "webhook_url_env": "T_SLACK_URL"},
        },
        "delivery": {"backoff_initial": 0.2, "backoff_max": 1.0, "timeout": 2},
    })
    alerting = Alerting("fraud", drift=DriftConfig(min_samples=100, for_windows=1,
                        clear_windows=1), alerts=cfg, state_dir=state_dir).start()
    if mode == "observe":
        for i, psi in spec:
            start = 1_790_000_000 + 300 * i
            m = Measurement("fraud", "drift", "psi", "amount", "region", "eu", "5m", start,
                            start + 300, psi, n=5000, m=100000,
                            p_value=1e-30 if psi > 0.05 else 0.5)
            events = alerting.observe_window([m])
            print(json.dumps([[e.state, e.severity] for e in events]), flush=True)
        print("observed", flush=True)
        threading.Event().wait()  # keep delivering until killed
    else:
        print("flushed" if alerting.flush(timeout=60) else "not flushed", flush=True)
        alerting.close()
''')


def run_driver(tmp_path: Path, env: dict[str, str], mode: str, spec: list[list[float]]
               ) -> subprocess.Popen[str]:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "state"), mode, json.dumps(spec)],
        env={**os.environ, **env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        stdout=subprocess.PIPE, text=True,
    )


def kill_when_pending(proc: subprocess.Popen[str], receiver: PagerDutyReceiver, attempts: int
                      ) -> list[str]:
    """Read the driver's transitions, wait until it has failed deliveries pending, kill -9."""
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line.strip())
        if line.strip() == "observed":
            break
    wait_until(lambda: receiver.failed_attempts() >= attempts, timeout=30,
               message="the driver tried to deliver and failed")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    return lines


def deliver(tmp_path: Path, env: dict[str, str]) -> None:
    proc = run_driver(tmp_path, env, "deliver", [])
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0 and out.strip() == "flushed", out


def test_kill_9_with_pending_notifications_then_restart_delivers_without_double_page(
    tmp_path: Path, slack_receiver: SlackReceiver, pagerduty_receiver: PagerDutyReceiver
) -> None:
    env = {"T_PD_KEY": pagerduty_receiver.routing_key, "T_PD_URL": pagerduty_receiver.url,
           "T_SLACK_URL": slack_receiver.webhook_url}
    down = [(3600.0, 503, None)]

    # 1. The feature goes critical while both services are down; kill -9 with the page pending.
    slack_receiver.script(down)
    pagerduty_receiver.script(down)
    lines = kill_when_pending(run_driver(tmp_path, env, "observe", [[0, 0.4]]),
                              pagerduty_receiver, attempts=2)
    assert lines[0] == '[["firing", "critical"]]'
    assert pagerduty_receiver.events() == [] and slack_receiver.digests() == []

    # 2. Services back; a restarted process delivers the pending trigger and digest.
    slack_receiver.script([])
    pagerduty_receiver.script([])
    deliver(tmp_path, env)
    assert len(pagerduty_receiver.events("trigger")) == 1
    assert len(slack_receiver.digests()) == 1

    # 3. Restarted again: still firing (no new trigger); it clears while PagerDuty is down;
    #    kill -9 with the resolve pending.
    failed_before = pagerduty_receiver.failed_attempts()
    slack_receiver.script(down)
    pagerduty_receiver.script(down)
    lines = kill_when_pending(run_driver(tmp_path, env, "observe", [[1, 0.45], [2, 0.01]]),
                              pagerduty_receiver, attempts=failed_before + 2)
    assert lines[:2] == ["[]", '[["resolved", "critical"]]']

    # 4. Restart once more: the resolve arrives; one page in total, same dedup_key throughout.
    slack_receiver.script([])
    pagerduty_receiver.script([])
    deliver(tmp_path, env)
    triggers = pagerduty_receiver.events("trigger")
    resolves = pagerduty_receiver.events("resolve")
    assert len(triggers) == 1 and len(resolves) == 1
    assert triggers[0]["dedup_key"] == resolves[0]["dedup_key"]
    assert pagerduty_receiver.pages == [triggers[0]["dedup_key"]]
    assert pagerduty_receiver.incidents == {triggers[0]["dedup_key"]: "resolved"}
    texts = [d["text"] for d in slack_receiver.digests()]
    assert len(texts) == 2 and "1 firing" in texts[0] and "1 resolved" in texts[1]
