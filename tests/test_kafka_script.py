"""scripts/kafka.sh itself: a broker restarted on its folder keeps its data, and a broker whose
owner process dies is stopped by the guard (a killed test run leaves no broker behind)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.kafka import SCRIPT, KafkaBroker, _free_ports
from tests.fixtures.waiting import wait_until

pytestmark = pytest.mark.kafka


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_restart_keeps_data_and_owner_exit_stops_the_broker(kafka, tmp_path: Path) -> None:
    # `kafka` (the session broker) guarantees the jars are fetched
    directory = tmp_path / "broker"
    port, cport = _free_ports(2)
    owner = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    env = {**os.environ, "KAFKA_OWNER_PID": str(owner.pid)}
    env.setdefault("KAFKA_JVM_EXTRA_OPTS", "-XX:TieredStopAtLevel=1")

    def start() -> KafkaBroker:
        out = subprocess.run(["bash", str(SCRIPT), "start", str(directory), str(port),
                              str(cport)], capture_output=True, text=True, env=env, timeout=180)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip().splitlines()[-1] == f"127.0.0.1:{port}"
        return KafkaBroker(f"127.0.0.1:{port}", directory)

    try:
        broker = start()
        topic = broker.create_topic("kept", partitions=2)
        assert broker.produce(topic, [b"a", b"b", b"c"], partition=1) == 3
        stop = subprocess.run(["bash", str(SCRIPT), "stop", str(directory)],
                              capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0 and "stopped broker" in stop.stdout
        assert not (directory / "kafka.pid").exists()

        broker = start()
        assert broker.end_offsets(topic) == {0: 0, 1: 3}
        pid = int((directory / "kafka.pid").read_text())
        assert _alive(pid)
    finally:
        owner.stdin.close()  # type: ignore[union-attr]
        owner.wait(timeout=10)
    wait_until(lambda: not _alive(pid), timeout=60, message="broker stopped after owner exit")
    wait_until(lambda: not (directory / "kafka.pid").exists(), timeout=10, message="pid file gone")
