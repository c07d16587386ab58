"""``driftline run`` at start, as a real process: a user error is exit 2 with one line; Kafka that
cannot be reached is retried for ``--connect-timeout`` then exit 3; a source topic that does not
exist is exit 3 at once, naming the topic. Never a traceback."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from driftline.stream.cli import EXIT_CONFIG, EXIT_RUNTIME
from tests.fixtures.waiting import wait_until
from tests.helpers_kafka_worker import REPO, Worker, free_port, write_config


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
    proc = subprocess.run([sys.executable, "-m", "driftline.stream", "run", "-c", str(config),
                           *args], cwd=REPO, capture_output=True, text=True, timeout=120)
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


class _Forwarder(threading.Thread):
    """Accepts on ``port`` and pipes each connection to ``target`` (a broker that "comes up"
    late: the bootstrap address only answers once this is started)."""

    def __init__(self, port: int, target: str) -> None:
        super().__init__(daemon=True)
        host, _, tport = target.rpartition(":")
        self.target = (host, int(tport))
        self.server = socket.create_server(("127.0.0.1", port))

    def run(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def test_a_broker_that_comes_up_late_is_waited_for(kafka: Any, tmp_path: Path) -> None:
    topic = kafka.create_topic(kafka.unique_topic("late"))
    port = free_port()
    source = {**kafka.source_config([topic]), "bootstrap_servers": f"127.0.0.1:{port}"}
    worker = Worker(_config(tmp_path, source), tmp_path / "worker.log")
    forwarder: _Forwarder | None = None
    try:
        wait_until(lambda: worker.output().count("not reachable yet") >= 2, 30, 0.1,
                   "two refused attempts")
        forwarder = _Forwarder(port, kafka.bootstrap)
        forwarder.start()
        worker.wait_ready(90)
        # the process host (faust) joins no consumer group of its own: only the event and
        # merger groups exist
        groups = _groups(kafka.bootstrap)
        assert not [g for g in groups if g.endswith((".faust", ".host"))], groups
    finally:
        code = worker.terminate()
        if forwarder is not None:
            forwarder.server.close()
    assert code == 0, worker.tail()
    assert "Traceback" not in worker.output()


def _groups(bootstrap: str) -> list[str]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return [g["group_id"] if isinstance(g, dict) else g[0] for g in admin.list_groups()]
    finally:
        admin.close()
