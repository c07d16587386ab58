"""Memory per live state and evaluation time for 1,000 series.

A state is one feature's sketch in one cohort in one window: the unit driftline keeps per
feature x cohort x window while a window is open. Each point runs in a fresh subprocess that
builds ``cohorts x windows`` CohortProfiles of the 25-field workload's schema (with the
baseline's bin edges, as the engine does), fills each with ``events`` events, and reports the
resident memory it added and the serialized size (what a checkpoint or a partial carries).
Evaluation: one window of 40 cohorts x 25 features (= 1,000 series) against a baseline through
the engine's WindowEvaluator (every metric, Benjamini-Hochberg, quality rates).

    python -m bench.bench_memory [--quick] [--json]
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import subprocess
import sys
from typing import Any

import numpy as np

import driftline.sketches as sk
from bench.peers import ROOT
from bench.peers._measure import Timer, rss_mib
from bench.section import emit, section_args
from driftline.stream.config.model import parse_config
from driftline.stream.demo.workloads import FEATURES, SEGMENTS, generate, monitor_config
from driftline.stream.engine.core import feature_specs

FEATURE_COUNT = len(FEATURES)


def _trim() -> None:
    """Give freed heap back to the OS so that RSS deltas count only live states (glibc)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _baseline() -> tuple[Any, sk.Baseline]:
    config = parse_config(monitor_config(window="1m"))
    cols = generate(50_000, seed=70).columns
    specs = feature_specs(config)
    base = sk.Baseline.build(specs, {s.name: sk.Column(cols[s.name]) for s in specs},
                             segments={s: cols[s] for s in SEGMENTS}, min_cohort_rows=1000)
    return config, base


def measure_point(profiles: int, events: int) -> dict[str, float]:
    """In this process: RSS added by ``profiles`` filled CohortProfiles of 25 features."""
    _, base = _baseline()
    pool = generate(events * 8, seed=71).columns
    chunks = [{f: sk.Column(pool[f][i * events:(i + 1) * events]) for f in FEATURES}
              for i in range(8)]
    _trim()
    before = rss_mib()
    live = []
    for i in range(profiles):
        p = sk.CohortProfile(base.schema)
        p.update(chunks[i % 8], events)
        live.append(p)
    _trim()
    after = rss_mib()
    sample = live[: min(50, len(live))]
    serialized = float(np.mean([len(p.to_bytes(include_schema=False)) for p in sample]))
    return {"profiles": profiles, "states": profiles * FEATURE_COUNT, "events": events,
            "rss_added_mib": after - before, "rss_total_mib": after,
            "bytes_per_state_rss": (after - before) * 2**20 / (profiles * FEATURE_COUNT),
            "bytes_per_state_serialized": serialized / FEATURE_COUNT}


def evaluation_time(cohorts: int = 40, events: int = 2_000, repeat: int = 3) -> dict[str, float]:
    """WindowEvaluator on one window of ``cohorts`` x 25 features."""
    from driftline.stream.engine.evaluation import WindowEvaluator

    config, base = _baseline()
    pool = generate(events * 4, seed=72).columns
    profiles: dict[tuple[str, str], sk.CohortProfile] = {}
    for i in range(cohorts):
        p = sk.CohortProfile(base.schema)
        j = i % 4
        p.update({f: sk.Column(pool[f][j * events:(j + 1) * events]) for f in FEATURES}, events)
        key = ("all", "all") if i == 0 else ("region", f"r{i}")
        profiles[key] = p
    ev = WindowEvaluator(config.monitor, base.schema, base, config.drift)
    best: Timer | None = None
    for _ in range(repeat):
        with Timer() as t:
            ev.evaluate(0.0, 60.0, "1m", profiles)
        best = t if best is None or t.cpu < best.cpu else best
    assert best is not None
    series = cohorts * FEATURE_COUNT
    return {"series": series, "cpu_s": best.cpu, "wall_s": best.wall,
            "us_per_series": 1e6 * best.cpu / series}


def _subprocess(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "bench.bench_memory", *args, "--json"],
                          capture_output=True, text=True, cwd=str(ROOT), timeout=900)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def run(quick: bool = False) -> dict[str, object]:
    points = [(40, 1), (400, 1), (400, 5)] if quick else [(40, 1), (400, 1), (400, 5),
                                                          (1000, 5)]
    events_grid = [2_000] if quick else [200, 2_000, 20_000]
    rows: list[list[object]] = []
    raw: list[dict[str, Any]] = []
    for events in events_grid:
        for cohorts, windows in points:
            if events == 20_000 and cohorts * windows > 500:
                continue
            r = _subprocess(["--point", str(cohorts * windows), str(events)])
            raw.append({"cohorts": cohorts, "windows": windows, **r})
            if "error" in r:
                rows.append([cohorts, windows, "", events, "error", str(r["error"]), "", ""])
                continue
            rows.append([cohorts, windows, f"{int(r['states']):,}", f"{events:,}",
                         f"{r['rss_added_mib']:.1f}", f"{r['bytes_per_state_rss'] / 1024:.1f}",
                         f"{r['bytes_per_state_serialized'] / 1024:.2f}",
                         f"{r['rss_total_mib']:.0f}"])
    ev = _subprocess(["--evaluate"])
    text = [
        f"{FEATURE_COUNT} features per profile (20 numeric KLL k=200 with exact bin counts, "
        "5 categorical exact counts); `events` = events per cohort-window filled into each "
        "state. RSS is the resident memory the states added in a fresh process "
        "(KiB/state = added RSS / states; Python object overhead included); serialized = "
        "bytes of the profile without its schema, per feature.",
    ]
    if "error" not in ev:
        text.append(
            f"Evaluation of one window with {int(ev['series']):,} series (40 cohorts x 25 "
            f"features, every metric + BH + quality) against the baseline: "
            f"{1000 * ev['cpu_s']:.0f} ms CPU ({ev['us_per_series']:.0f} us per series).")
    else:
        text.append(f"Evaluation timing failed: {ev['error']}")
    ok = [r for r in raw if "error" not in r and r.get("events") == 2_000]
    summary = []
    if ok:
        big = max(ok, key=lambda r: r["states"])
        summary.append(
            f"Memory: {big['bytes_per_state_rss'] / 1024:.1f} KiB resident per live feature x "
            f"cohort x window state ({int(big['states']):,} states, 2,000 events each: "
            f"{big['rss_added_mib']:.0f} MiB)"
            + (f"; evaluating 1,000 series takes {1000 * ev['cpu_s']:.0f} ms of CPU."
               if "error" not in ev else "."))
    return {
        "summary": summary,
        "title": "Memory per live state and evaluation time",
        "text": text,
        "tables": [{"headers": ["cohorts", "windows", "states (features x cohorts x windows)",
                                "events", "RSS added MiB", "KiB/state (RSS)",
                                "KiB/state serialized", "process RSS MiB"], "rows": rows}],
        "raw": {"points": raw, "evaluation": ev},
    }


def main() -> None:
    ap = section_args(__doc__)
    ap.add_argument("--point", nargs=2, type=int, metavar=("PROFILES", "EVENTS"))
    ap.add_argument("--evaluate", action="store_true")
    a = ap.parse_args()
    if a.point:
        print(json.dumps(measure_point(*a.point)))
        return
    if a.evaluate:
        print(json.dumps(evaluation_time()))
        return
    emit(run(a.quick), a.json)


if __name__ == "__main__":
    main()
