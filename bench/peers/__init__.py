"""Peers (whylogs, Evidently, River, NannyML), each in its own virtual environment, run as
subprocesses.

A peer's pins can conflict with driftline's (whylogs needs numpy < 2), so each peer gets a venv
under ``.cache/bench/venvs/<peer>`` built from ``bench/peers/requirements-<peer>.txt``; it is
rebuilt only when that file changes. A peer script reads the same data files as driftline and
prints one JSON object on its last stdout line.

>>> sorted(PEERS)
['evidently', 'nannyml', 'river', 'whylogs']
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CACHE = ROOT / ".cache" / "bench"
PEERS = ("whylogs", "evidently", "river", "nannyml")


class PeerUnavailable(RuntimeError):
    """The peer's environment could not be built here (the message says why)."""


@dataclass(frozen=True)
class Peer:
    """One peer's environment: ``Peer("river").run("river_detect.py", [...])`` -> parsed JSON."""

    name: str

    @property
    def requirements(self) -> Path:
        return HERE / f"requirements-{self.name}.txt"

    @property
    def venv_dir(self) -> Path:
        return CACHE / "venvs" / self.name

    @property
    def python(self) -> Path:
        return self.venv_dir / "bin" / "python"

    def _stamp(self) -> str:
        text = self.requirements.read_bytes() + sys.version.encode()
        return hashlib.sha256(text).hexdigest()

    def ensure(self) -> None:
        """Create or refresh the venv (pip install -r requirements); raise PeerUnavailable."""
        stamp_file = self.venv_dir / ".driftline-bench-stamp"
        if stamp_file.exists() and stamp_file.read_text() == self._stamp() and self.python.exists():
            return
        if self.venv_dir.exists():
            shutil.rmtree(self.venv_dir)
        venv.EnvBuilder(with_pip=True, clear=True).create(self.venv_dir)
        cmd = [str(self.python), "-m", "pip", "install", "-q", "-r", str(self.requirements)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise PeerUnavailable(f"pip install for {self.name} failed: " + " | ".join(tail))
        stamp_file.write_text(self._stamp())

    def versions(self) -> dict[str, str]:
        """Installed versions of the pinned packages (for the report)."""
        names = [
            line.split("==")[0].strip()
            for line in self.requirements.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
        code = (
            "import importlib.metadata as m, json, sys;"
            "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
        )
        out = subprocess.run([str(self.python), "-c", code, *names], capture_output=True, text=True)
        return dict(json.loads(out.stdout)) if out.returncode == 0 else {}

    def run(self, script: str, args: list[str], timeout: float = 900.0) -> dict[str, Any]:
        """Run ``bench/peers/<script>`` in the peer's venv; return its JSON result."""
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PYTHONWARNINGS"] = "ignore"
        proc = subprocess.run(
            [str(self.python), str(HERE / script), *args],
            capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT),
        )
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-8:]
            msg = f"{self.name}/{script} failed ({proc.returncode}): "
            raise RuntimeError(msg + "\n".join(tail))
        lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
        if not lines:
            raise RuntimeError(f"{self.name}/{script} printed no JSON result")
        return dict(json.loads(lines[-1]))
