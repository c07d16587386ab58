"""Scaling of the ingest path over features (5 -> 200), cohorts (1 -> 500) and window sizes.

driftline: the engine's core path (JSON bytes -> decode -> cohorts -> windows) without a
baseline, i.e. ingest and windowing only; evaluation against a baseline costs per window and per
series (see the memory/evaluation section) and is reported separately. whylogs (its own venv)
on the same events: batch profiling for the feature sweep, segmented profiling (global + one
profile per cohort) for the cohort sweep. Rates are events per CPU second (per core).

    python -m bench.bench_scaling [--quick] [--json]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.bench_ingest import engine_throughput
from bench.peers import CACHE, Peer, PeerUnavailable
from bench.section import run_section
from driftline.stream.config.model import parse_config
from driftline.stream.demo.workloads import (
    FEATURES,
    SEGMENTS,
    generate,
    monitor_config,
    to_json_lines,
    wide_numeric,
    write_jsonl,
    write_parquet,
)


def _whylogs(peer: Peer | None, cols: dict[str, np.ndarray], name: str, modes: list[str],
             segments: list[str]) -> float | None:
    if peer is None:
        return None
    data = CACHE / "data"
    pq_path = write_parquet(cols, data / f"scale-{name}.parquet")
    jl_path = write_jsonl({"ts": cols["ts"][:1]}, data / "scale-empty.jsonl")
    try:
        res = peer.run("whylogs_ingest.py", [str(pq_path), str(jl_path), "--segments", *segments,
                                             "--modes", *modes, "--repeat", "1"])
    except RuntimeError:
        return None
    m = res["modes"][modes[0]]
    return float(m["events"] / m["cpu_s"])


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.0f}"


def run(quick: bool = False) -> dict[str, object]:
    n = 10_000 if quick else 30_000
    feature_grid = [5, 50] if quick else [5, 25, 50, 100, 200]
    cohort_grid = [1, 100] if quick else [1, 10, 50, 100, 500]
    window_grid = ["10s", "1m"] if quick else ["10s", "1m", "5m", "1h"]
    peer: Peer | None = Peer("whylogs")
    note = ""
    try:
        peer.ensure()
    except PeerUnavailable as exc:
        peer, note = None, f"whylogs could not run here: {exc}"
    rows_f: list[list[object]] = []
    for f in feature_grid:
        cols = wide_numeric(n, f, seed=80 + f)
        names = tuple(k for k in cols if k not in ("ts", "cohort"))
        config = parse_config(monitor_config(window="1m", features=names, segments=()))
        r = engine_throughput(to_json_lines(cols), config, None)
        batch_cols = {k: v for k, v in cols.items() if k != "cohort"}
        why = _whylogs(peer, batch_cols, f"features-{f}", ["batch"], [])
        rows_f.append([f, _fmt(r["events_per_cpu_s"]), _fmt(r["events_per_cpu_s"] * f),
                       _fmt(why), f"{r['events_per_cpu_s'] / why:.1f}x" if why else ""])
    rows_c: list[list[object]] = []
    base = generate(n, seed=90).columns
    rng = np.random.default_rng(91)
    for c in cohort_grid:
        cols = dict(base)
        cols["cohort"] = np.array([f"k{i:03d}" for i in range(c)], dtype=object)[
            rng.integers(0, c, n)]
        config = parse_config(monitor_config(window="1m", segments=("cohort",)))
        r = engine_throughput(to_json_lines(cols), config, None)
        seg_cols = {k: v for k, v in cols.items() if k not in SEGMENTS}
        why = _whylogs(peer, seg_cols, f"cohorts-{c}", ["segmented"], ["cohort"])
        rows_c.append([c, c + 1, _fmt(r["events_per_cpu_s"]), _fmt(why),
                       f"{r['events_per_cpu_s'] / why:.1f}x" if why else ""])
    rows_w: list[list[object]] = []
    span = 3600.0  # the window sweep's events cover one hour of event time
    work = generate(n * 2, seed=95, events_per_second=2 * n / span)
    values = to_json_lines(work)
    for win in window_grid:
        config = parse_config(monitor_config(window=win))
        r = engine_throughput(values, config, None)
        per = len(values) * min(1.0, config.windows.size / span)
        rows_w.append([win, f"{per:,.0f}", int(r["windows"]), _fmt(r["events_per_cpu_s"])])
    text = [
        f"{n:,} events per point ({2 * n:,} spread over one hour of event time for the window "
        "sweep, so smaller windows mean more windows of fewer events). Feature sweep: numeric "
        "features only, no segments; cohort sweep: the "
        f"{len(FEATURES)}-field workload plus one segment `cohort` with that many values "
        "(uniform), cohorts = values + the global cohort; window sweep: the 25-field workload "
        "with region and device segments (14 cohorts).",
    ]
    if note:
        text.append(note)
    raw: dict[str, Any] = {"features": rows_f, "cohorts": rows_c, "windows": rows_w}
    last = rows_c[-1]
    summary = [f"Scaling: with {last[0]} cohorts driftline ingests {last[2]} events/s per core, "
               f"whylogs segmented {last[3]}" + (f" ({last[4]})" if last[4] else "") + "."]
    return {
        "summary": summary,
        "title": "Scaling: features, cohorts, window sizes",
        "text": text,
        "tables": [
            {"headers": ["numeric features", "driftline events/s per core", "values/s per core",
                         "whylogs batch events/s per core", "driftline / whylogs"],
             "rows": rows_f},
            {"headers": ["segment values", "cohorts kept", "driftline events/s per core",
                         "whylogs segmented events/s per core", "driftline / whylogs"],
             "rows": rows_c},
            {"headers": ["window size", "events per window", "windows closed",
                         "driftline events/s per core"], "rows": rows_w},
        ],
        "raw": raw,
    }


def main() -> None:
    run_section(__doc__, run)


if __name__ == "__main__":
    main()
