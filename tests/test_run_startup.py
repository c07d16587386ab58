"""``driftline run`` at start, as a real process: a user error is exit 2 with one line; Kafka that
cannot be reached is retried for ``--connect-timeout`` then exit 3; a source topic that does not
exist is exit 3 at once, naming the topic. Never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from stream.cli import EXIT_CONFIG, EXIT_RUNTIME
from tests.helpers_kafka_worker import REPO, free_port, write_config


def _config(path: Path, kafka: dict[str, Any], **extra: Any) -> Path:
    return write_config(path / "driftline.yaml", {
        "monitor": "startup",
        "source": {"kafka": kafka, "event_time": {"field": "ts"}},
        "features": [{"name": "x", "type": "numeric"}],
        "metrics": {"listen": None},
        "state_dir": str(path / "state"),
        **extra,
    })


def _run(config: Path, *args: str) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "stream", "run", "-c", str(config), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    return proc.returncode, out


def test_a_config_error_is_exit_2_and_one_line(tmp_path: Path) -> None:
    cfg = _config(tmp_path, {"bootstrap_servers": "127.0.0.1:9", "topics": ["t"]},
                  drift={"warning": 0.3, "critical": 0.2})
    code, out = _run(cfg)
    assert code == EXIT_CONFIG
    assert out.strip().splitlines() == [
        f"invalid configuration {cfg}:",
        "  - drift.critical: critical (0.2) is below warning (0.3): critical must be >= warning",
    ]


def test_an_unreachable_broker_is_retried_then_exit_3(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    cfg = _config(tmp_path, {"bootstrap_servers": f"127.0.0.1:{port}", "topics": ["t"]})
    code, out = _run(cfg, "--connect-timeout", "1.5")
    assert code == EXIT_RUNTIME
    assert out.count("not reachable yet") >= 1  # it retried
    assert (f"source.kafka.bootstrap_servers: cannot reach Kafka at 127.0.0.1:{port} within "
            f"1.5s (127.0.0.1:{port}: Connection refused); check the address, that the brokers "
            "are up, and security_protocol") in out.splitlines()


def test_a_missing_source_topic_is_exit_3_naming_it(kafka: Any, tmp_path: Path) -> None:
    existing = kafka.create_topic(kafka.unique_topic("payments"))
    typo = existing[:-1]  # one character short
    cfg = _config(tmp_path, kafka.source_config([existing, typo]))
    code, out = _run(cfg, "--connect-timeout", "20")
    assert code == EXIT_RUNTIME
    assert out.strip().splitlines()[-2:] == [
        "driftline run cannot start:",
        f"source.kafka.topics: topic {typo!r} does not exist on {kafka.bootstrap} (did you mean "
        f"{existing!r}?); create it (driftline never creates the topics it monitors) or fix the "
        "name",
    ]
