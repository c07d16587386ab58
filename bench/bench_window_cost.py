"""Per-window cost on the engine's core path: the points of the scaling section that pay most
per window x cohort -- small windows (10 s: 167 events per window, 1 min: 1,000) with region x
device segments (14 cohorts), and 500 cohorts in 1 min windows -- on the same generated events
as bench/bench_scaling.py (same seeds), driftline only. Targets: 10 s windows >= 50k events/s
per core, 500 cohorts >= 100k.

    python -m bench.bench_window_cost [--windows 10s 1m] [--cohorts 500]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from bench.bench_ingest import engine_throughput
from driftline.stream.config.model import parse_config
from driftline.stream.demo.workloads import generate, monitor_config, to_json_lines
from driftline.stream.engine.heap import settle

N = 30_000


def run(windows: list[str], cohorts: list[int]) -> dict[str, object]:
    out: dict[str, object] = {}
    span = 3600.0
    work = generate(N * 2, seed=95, events_per_second=2 * N / span)
    values = to_json_lines(work)
    settle()  # as the worker and backtest do after start-up
    for win in windows:
        r = engine_throughput(values, parse_config(monitor_config(window=win)), None)
        out[f"window_{win}_events_per_s_cpu"] = round(r["events_per_cpu_s"])
        out[f"window_{win}_windows"] = int(r["windows"])
    base = generate(N, seed=90).columns
    rng = np.random.default_rng(91)
    for c in cohorts:
        cols = dict(base)
        cols["cohort"] = np.array([f"k{i:03d}" for i in range(c)], dtype=object)[
            rng.integers(0, c, N)]
        config = parse_config(monitor_config(window="1m", segments=("cohort",)))
        r = engine_throughput(to_json_lines(cols), config, None)
        out[f"cohorts_{c}_events_per_s_cpu"] = round(r["events_per_cpu_s"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--windows", nargs="*", default=["10s", "1m"])
    ap.add_argument("--cohorts", nargs="*", type=int, default=[500])
    a = ap.parse_args()
    print(json.dumps(run(a.windows, a.cohorts)))


if __name__ == "__main__":
    main()
