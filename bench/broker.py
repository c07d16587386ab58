"""A Kafka broker for benchmarks: the one given, or a fresh one from scripts/kafka.sh."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def broker(bootstrap: str | None) -> Iterator[str]:
    """The given broker, or a fresh one from scripts/kafka.sh in a temp dir."""
    if bootstrap:
        yield bootstrap
        return
    script = ROOT / "scripts" / "kafka.sh"
    subprocess.run(["bash", str(script), "fetch"], check=True, capture_output=True)
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as d:
        out = subprocess.run(
            ["bash", str(script), "start", d, str(_free_port()), str(_free_port())],
            check=True, capture_output=True, text=True,
            env={**os.environ, "KAFKA_OWNER_PID": str(os.getpid())},
        )
        try:
            yield out.stdout.strip().splitlines()[-1]
        finally:
            subprocess.run(["bash", str(script), "stop", d], capture_output=True)
