"""Whole-process ``driftline backtest`` on a file of 25-field events, side by side with
whylogs' segmented profiling of the same JSON lines (``pandas.read_json`` + ``why.log`` for the
whole file and per segment, decode included), in the same run. driftline is timed as a fresh
``driftline backtest`` process (imports, config, baseline load, decode, windows, evaluation,
alert rules, report writing); whylogs inside its warmed-up process (its imports are not
counted, which favours it). Target: driftline >= 6x whylogs.

    python -m bench.bench_backtest [--events 200000] [--no-peer]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bench.peers import CACHE, Peer, PeerUnavailable
from driftline.stream.demo.workloads import (
    SEGMENTS,
    generate,
    monitor_config,
    write_jsonl,
    write_parquet,
)


def _cli() -> list[str]:
    exe = shutil.which("driftline", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "driftline.stream"]


def _timed(cmd: list[str]) -> tuple[float, float]:
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[1]} failed: {proc.stderr.strip()[-400:]}")
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime


def run(events: int = 200_000, peer: bool = True) -> dict[str, Any]:
    data = CACHE / "data" / "backtest"
    data.mkdir(parents=True, exist_ok=True)
    work = generate(events, seed=21, events_per_second=1000.0)
    jl = write_jsonl(work, data / f"events-{events}.jsonl")
    pq = write_parquet(work, data / f"events-{events}.parquet")
    write_parquet(generate(100_000, seed=20), data / "train.parquet")
    cfg = data / "driftline.yaml"
    cfg.write_text(yaml.safe_dump(monitor_config(window="1m")))
    base = data / "baseline.dlb"
    subprocess.run([*_cli(), "baseline", "build", "-c", str(cfg), "--data",
                    str(data / "train.parquet"), "-o", str(base)], check=True,
                   capture_output=True, timeout=600)
    report = data / "report.json"
    wall, cpu = _timed([*_cli(), "backtest", "-c", str(cfg), "--events", str(jl),
                        "--baseline", str(base), "-o", str(report)])
    out: dict[str, Any] = {"events": events, "driftline_wall_s": round(wall, 2),
                           "driftline_cpu_s": round(cpu, 2),
                           "driftline_events_per_s_wall": round(events / wall),
                           "driftline_events_per_s_cpu": round(events / cpu),
                           "windows": len(json.loads(report.read_bytes())["windows"])}
    if peer:
        try:
            p = Peer("whylogs")
            p.ensure()
            why = p.run("whylogs_ingest.py", [str(pq), str(jl), "--segments", *SEGMENTS,
                                              "--modes", "segmented_from_json", "--repeat", "1"])
            seg = why["modes"]["segmented_from_json"]
            out["whylogs_wall_s"] = round(seg["wall_s"], 2)
            out["whylogs_cpu_s"] = round(seg["cpu_s"], 2)
            out["ratio_wall"] = round(seg["wall_s"] / wall, 2)
            out["ratio_cpu"] = round(seg["cpu_s"] / cpu, 2)
        except (PeerUnavailable, RuntimeError, KeyError) as exc:
            out["whylogs_error"] = str(exc)[-300:]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--no-peer", action="store_true")
    a = ap.parse_args()
    print(json.dumps(run(a.events, not a.no_peer)))


if __name__ == "__main__":
    main()
