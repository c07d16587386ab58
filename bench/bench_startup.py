"""Start-up time of the command line: ``driftline --help`` (target <= 0.3 s) and
``driftline check-config`` on the demo workload's config, each the median wall and CPU seconds
of fresh processes (imports included: that is what a user waits for; on a loaded machine the
CPU seconds are the steadier number).

    python -m bench.bench_startup [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from driftline.stream.demo.workloads import monitor_config


def _cli() -> list[str]:
    exe = shutil.which("driftline", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "driftline.stream"]


def _median(cmd: list[str], runs: int) -> tuple[float, float]:
    """Median wall and CPU (user + system) seconds of ``runs`` fresh processes."""
    walls, cpus = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, timeout=60)
        walls.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return round(statistics.median(walls), 3), round(statistics.median(cpus), 3)


def run(runs: int = 7) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "driftline.yaml"
        cfg.write_text(yaml.safe_dump(monitor_config(window="1m")))
        out: dict[str, float] = {"runs": runs}
        for key, cmd in (("help", [*_cli(), "--help"]),
                         ("check_config", [*_cli(), "check-config", "-c", str(cfg)]),
                         ("python", [sys.executable, "-c", "pass"])):
            out[f"{key}_wall_s"], out[f"{key}_cpu_s"] = _median(cmd, runs)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    print(json.dumps(run(ap.parse_args().runs)))


if __name__ == "__main__":
    main()
