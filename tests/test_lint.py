"""The code stays as clean as it was written: ruff and mypy pass on the whole project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sketches", "stream", "alerts", "grafana")


def _run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env=env)


def test_ruff() -> None:
    res = _run("ruff", "check", *PACKAGES, "tests", "bench", "setup.py")
    assert res.returncode == 0, res.stdout + res.stderr


def test_mypy(tmp_path: Path) -> None:
    # mypy resolves modules from folders: lay the packages out as they install, driftline/<pkg>
    namespace = tmp_path / "driftline"
    namespace.mkdir()
    for pkg in PACKAGES:
        (namespace / pkg).symlink_to(ROOT / pkg, target_is_directory=True)
    args = [a for pkg in PACKAGES for a in ("-p", f"driftline.{pkg}")]
    res = _run("mypy", "--config-file", str(ROOT / "pyproject.toml"),
               "--cache-dir", str(tmp_path / ".mypy_cache"), *args, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
