"""The code stays as clean as it was written: ruff and mypy pass on the whole project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_ruff() -> None:
    res = _run("ruff", "check", "sketches", "stream", "alerts", "grafana", "tests", "bench")
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy() -> None:
    res = _run("mypy", "sketches", "stream", "alerts", "grafana")
    assert res.returncode == 0, res.stdout + res.stderr
