"""Run every benchmark and rewrite docs/benchmarks.md (``make bench``).

    python -m bench.run            # the full suite (~15-20 min on 2 cores)
    python -m bench.run --quick    # a short smoke run of the same code
    python -m bench.run --only ingest drift   # re-measure some sections, keep the others

Each section runs in its own subprocess (``python -m bench.<module> --json``) so that memory,
imports and crashes stay separate; the peers (whylogs, Evidently, River) run in their own venvs
under ``.cache/bench/venvs``. Raw results go to ``bench/results/raw/<section>.json`` (not
committed); the document is rendered from them, so ``--only`` keeps the other sections as last
measured, each stamped with its own date.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.peers import PEERS, ROOT, Peer, PeerUnavailable

RAW = ROOT / "bench" / "results" / "raw"
DOC = ROOT / "docs" / "benchmarks.md"

# (key, module) of the sections that print one JSON section with --json
SECTIONS = [
    ("ingest", "bench.bench_ingest"),
    ("drift", "bench.bench_drift"),
    ("accuracy", "bench.bench_accuracy"),
    ("detection", "bench.bench_detection"),
    ("memory", "bench.bench_memory"),
    ("scaling", "bench.bench_scaling"),
]
# (key, title, module, full args, quick args): benchmarks of the other parts, shown as printed
OTHERS = [
    ("sketches", "Sketch update throughput and size", "bench.bench_sketches", [], ["--quick"]),
    ("engine", "Engine core path, per stage", "bench.bench_engine", [],
     ["--events", "50000", "--repeat", "1"]),
    ("alerts", "Alerting cost and delivery", "bench.bench_alerts", [], ["--windows", "50"]),
    ("freshness", "Freshness clock on the hot path", "bench.bench_freshness", [],
     ["--repeat", "5"]),
    ("kafka_produce", "Producing to the local broker", "bench.bench_kafka_produce", [],
     ["--events", "20000"]),
    ("formats", "Decode throughput by record format", "bench.bench_formats", [], ["--quick"]),
    ("report", "HTML report at scale", "bench.bench_report", [], ["--quick"]),
    ("kafka_consumers", "Kafka consumers: aiokafka against librdkafka", "bench.bench_consumers",
     [], ["--events", "50000"]),
    ("quality", "Model quality: label join, join state, estimated vs realized (NannyML CBPE)",
     "bench.bench_quality", [], ["--quick"]),
    ("startup", "Command line start-up", "bench.bench_startup", [], ["--runs", "3"]),
    ("evaluation", "Window evaluation per series", "bench.bench_evaluation", [],
     ["--repeat", "1"]),
    ("backtest", "Whole-process backtest beside whylogs", "bench.bench_backtest", [],
     ["--events", "50000"]),
    ("window_cost", "Per-window cost: small windows, many cohorts", "bench.bench_window_cost",
     [], ["--windows", "1m", "--cohorts", "100"]),
]
TIMEOUT = 1500
READING = [
    "- Same data: every section generates its events once (stream/demo/workloads.py, fixed "
    "seeds) and hands the same files (Parquet/JSONL under `.cache/bench/data/`) to driftline "
    "and to the peer, in the same run.",
    "- Per core = events (or values) per CPU second of the measuring process, for driftline and "
    "the peers alike, so that other load on the machine does not decide the ratio; wall-clock "
    "rates are shown beside them.",
    "- whylogs profiles but does not evaluate drift: the like-for-like driftline row is the core "
    "path that builds the same cohorts' profiles; the row with evaluation does more work.",
    "- Evidently computes drift from the raw data at every evaluation; driftline from the "
    "sketches it keeps while ingesting (the one-off costs of building them are given beside). "
    "Their values differ partly by definition (binning, p-value vs statistic): shown as "
    "returned, with exact values next to them.",
    "- River's detectors are univariate per-event change detectors without a baseline, cohorts, "
    "categories or multiple-testing control: a reference for timing on the same series, not the "
    "same task.",
]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def machine() -> dict[str, str]:
    """CPU model, cores, memory, Python and numpy versions, load (no host names or paths)."""
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    import numpy

    return {"cpu": cpu, "cores": str(os.cpu_count()), "memory": f"{mem_kib / 2**20:.0f} GiB",
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "numpy": numpy.__version__,
            "load": " / ".join(f"{x:.1f}" for x in os.getloadavg())}


def _run(cmd: list[str], timeout: float = TIMEOUT) -> tuple[int, str, str, float]:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, *cmd], capture_output=True, text=True,
                              cwd=str(ROOT), timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return -1, out, f"timed out after {timeout:.0f} s", time.perf_counter() - t0
    return proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0


def run_section(key: str, module: str, quick: bool) -> dict[str, Any]:
    print(f"[bench] {key} ...", flush=True)
    code, out, err, secs = _run(["-m", module, "--json", *(["--quick"] if quick else [])])
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if code == 0 and lines:
        section = dict(json.loads(lines[-1]))
    else:
        tail = "\n".join(err.strip().splitlines()[-6:])
        section = {"title": key, "text": [f"This section failed (exit {code}):"],
                   "error": tail, "tables": []}
    section.update({"key": key, "measured": _now(), "seconds": round(secs, 1), "quick": quick,
                    "command": f"python -m {module}" + (" --quick" if quick else "")})
    print(f"[bench] {key} done in {secs:.0f} s", flush=True)
    return section


def run_other(key: str, title: str, module: str, args: list[str]) -> dict[str, Any]:
    print(f"[bench] {key} ...", flush=True)
    code, out, err, secs = _run(["-m", module, *args])
    section: dict[str, Any] = {"key": key, "title": title, "measured": _now(),
                               "seconds": round(secs, 1),
                               "command": " ".join(["python -m", module, *args]),
                               "output": out.strip()[-6000:]}
    if code != 0:
        section["error"] = "\n".join(err.strip().splitlines()[-6:]) or f"exit {code}"
    print(f"[bench] {key} done in {secs:.0f} s", flush=True)
    return section


def peer_versions() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in PEERS:
        peer = Peer(name)
        try:
            peer.ensure()
            out[name] = peer.versions()
        except PeerUnavailable as exc:
            out[name] = {"error": str(exc)}
    return out


def _table(t: dict[str, Any]) -> list[str]:
    def cell(x: object) -> str:
        return str(x).replace("|", "\\|")

    out = ["| " + " | ".join(cell(h) for h in t["headers"]) + " |",
           "|" + "|".join("---" for _ in t["headers"]) + "|"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in t["rows"]]
    return [*out, ""]


def _conditions(meta: dict[str, Any]) -> str:
    start, end = meta["machine_start"], meta["machine_end"]
    busy = float(start["load"].split(" / ")[0]) > float(start["cores"])
    note = (" The machine was shared with other jobs during the run (load above the core "
            "count): wall-clock rates are depressed, which is why rates are given per CPU "
            "second of the measuring process (per core).") if busy else ""
    return (f"load average (1/5/15 min) {start['load']} at the start, {end['load']} at the "
            f"end.{note}")


def render(meta: dict[str, Any], sections: list[dict[str, Any]],
           others: list[dict[str, Any]]) -> str:
    m = meta["machine_start"]
    peers = []
    for name, versions in meta["peers"].items():
        if "error" in versions:
            peers.append(f"{name}: NOT INSTALLABLE HERE ({versions['error']})")
        else:
            peers.append(", ".join(f"{k} {v}" for k, v in versions.items()))
    lines = [
        "# Benchmarks", "",
        "driftline side by side with the tools ML teams use today -- whylogs, Evidently and "
        "River -- on the same data in the same run. Generated by `make bench` "
        "(`python -m bench.run`); do not edit by hand: rerun it. Benchmarks are not tests and "
        "do not run in CI.", "",
        f"- **Date**: {meta['started']} to {meta['finished']} ({meta['minutes']} min)"
        + (" -- QUICK smoke run, small sizes" if meta.get("quick") else ""),
        f"- **Command**: `{meta['argv']}` (from the repository root, after `make install`)",
        f"- **Machine**: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM, {m['os']}; "
        f"Python {m['python']}, numpy {m['numpy']}",
        f"- **Conditions**: {_conditions(meta)}",
        "- **Peers**, each in its own venv under `.cache/bench/venvs/` built by the runner from "
        "`bench/peers/requirements-<peer>.txt` (whylogs needs numpy < 2; Evidently 0.7 needs "
        "pandas < 3): " + "; ".join(peers), "",
    ]
    summary = [f"- {line}" for s in sections for line in s.get("summary", [])]
    if summary:
        lines += ["## Summary", "", *summary, ""]
    lines += ["## What is compared with what", "", *READING, ""]
    for i, s in enumerate(sections, 1):
        lines += [f"## {i}. {s['title']}", ""]
        lines += [f"Measured {s['measured']} in {s['seconds']} s; rerun alone: "
                  f"`{s['command']}`.", ""]
        for para in s.get("text", []):
            if para:
                lines += [para, ""]
        if s.get("error"):
            lines += ["```", s["error"], "```", ""]
        for t in s.get("tables", []):
            lines += _table(t)
    if others:
        lines += ["## Benchmarks of the other parts (as they print them)", "",
                  "Run by the same command; each module documents what it measures.", ""]
        for o in others:
            lines += [f"### {o['title']}", "",
                      f"Measured {o['measured']} in {o['seconds']} s: `{o['command']}`", ""]
            if o.get("error"):
                lines += ["It failed:", "", "```", o["error"], "```", ""]
            if o.get("output"):
                lines += ["```", o["output"], "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    keys = [k for k, _ in SECTIONS] + [k for k, *_ in OTHERS]
    ap.add_argument("--only", nargs="*", choices=keys, help="sections to re-measure")
    ap.add_argument("--no-others", action="store_true",
                    help="skip the other parts' benchmarks (sketches, engine, alerts...)")
    a = ap.parse_args(argv)
    RAW.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    meta = {"machine_start": machine(), "started": _now(), "quick": a.quick}
    meta["peers"] = peer_versions()
    meta["argv"] = " ".join(["python -m bench.run", *(argv if argv is not None else sys.argv[1:])])
    wanted = set(a.only or keys)
    for key, module in SECTIONS:
        if key in wanted:
            section = run_section(key, module, a.quick)
            (RAW / f"{key}.json").write_text(json.dumps(section, default=str))
            _write_doc(meta, started, partial=True)
    for key, title, module, full, quick_args in OTHERS:
        if key in wanted and not a.no_others:
            section = run_other(key, title, module, quick_args if a.quick else full)
            (RAW / f"other-{key}.json").write_text(json.dumps(section))
    _write_doc(meta, started, partial=False)
    print(f"[bench] wrote {DOC.relative_to(ROOT)} in {meta['minutes']} min", flush=True)


def _write_doc(meta: dict[str, Any], started: float, partial: bool) -> None:
    """Render docs/benchmarks.md from the raw results (after every section, so that an
    interrupted run still leaves a consistent document: each section carries its own date)."""
    meta["machine_end"] = machine()
    meta["finished"] = _now() + (" (run still in progress)" if partial else "")
    meta["minutes"] = round((time.perf_counter() - started) / 60, 1)
    (RAW / "meta.json").write_text(json.dumps(meta))
    sections = [_load(RAW / f"{k}.json") for k, _ in SECTIONS]
    others = [_load(RAW / f"other-{k}.json") for k, *_ in OTHERS]
    DOC.write_text(render(meta, [s for s in sections if s], [o for o in others if o]))


def _load(path: Path) -> dict[str, Any] | None:
    return dict(json.loads(path.read_text())) if path.exists() else None


if __name__ == "__main__":
    main()
