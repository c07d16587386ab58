"""whylogs ingest throughput on the bench workload: batch, segmented and per-row logging.

Usage: python whylogs_ingest.py EVENTS.parquet EVENTS.jsonl --segments region device
    [--per-row N] [--repeat R] [--modes batch segmented segmented_from_json per_row]
"segmented" logs the global profile plus one segmented profile set per segment column, i.e.
the same cohorts driftline keeps (all, each region, each device).
Prints one JSON object: per mode, events, wall and CPU seconds (best of R), profiles made.
"""

from __future__ import annotations

import argparse
import io
import logging
import warnings

import pandas as pd
import whylogs as why
from _measure import Timer, emit
from whylogs.core import DatasetProfile
from whylogs.core.schema import DatasetSchema
from whylogs.core.segmentation_partition import segment_on_column

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)


def best(fn, repeat: int) -> tuple[Timer, object]:
    timers, out = [], None
    for _ in range(repeat):
        with Timer() as t:
            out = fn()
        timers.append(t)
    return min(timers, key=lambda t: t.cpu), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("parquet")
    ap.add_argument("jsonl")
    ap.add_argument("--segments", nargs="*", default=["region", "device"])
    ap.add_argument("--per-row", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--modes", nargs="*",
                    default=["batch", "segmented", "segmented_from_json", "per_row"])
    a = ap.parse_args()
    df = pd.read_parquet(a.parquet).drop(columns=["ts"])
    n = len(df)
    schemas = [DatasetSchema(segments=segment_on_column(s)) for s in a.segments]
    res: dict[str, dict[str, float]] = {}
    why.log(df.head(1000)).profile()  # warm-up: imports, numba-free lazy init
    for schema in schemas:
        why.log(df.head(1000), schema=schema)

    def record(mode: str, t: Timer, events: int, profiles: int) -> None:
        res[mode] = {"events": events, "wall_s": t.wall, "cpu_s": t.cpu, "profiles": profiles}

    if "batch" in a.modes:
        t, _ = best(lambda: why.log(df).profile(), a.repeat)
        record("batch", t, n, 1)

    def segmented() -> int:
        made = 1
        why.log(df).profile()
        for schema in schemas:
            made += why.log(df, schema=schema).count
        return made

    if "segmented" in a.modes:
        t, made = best(segmented, a.repeat)
        record("segmented", t, n, int(made))

    raw = b""
    if "segmented_from_json" in a.modes:
        with open(a.jsonl, "rb") as fh:
            raw = fh.read()

    def from_json() -> int:
        frame = pd.read_json(io.BytesIO(raw), lines=True, dtype=False).drop(columns=["ts"])
        made = 1
        why.log(frame).profile()
        for schema in schemas:
            made += why.log(frame, schema=schema).count
        return made

    if "segmented_from_json" in a.modes:
        t, made = best(from_json, 1)
        record("segmented_from_json", t, n, int(made))

    rows = df.head(a.per_row).to_dict(orient="records")

    def per_row() -> None:
        prof = DatasetProfile()
        for row in rows:
            prof.track(row=row)

    if "per_row" in a.modes:
        t, _ = best(per_row, 1)
        record("per_row", t, len(rows), 1)
    emit({"peer": "whylogs", "version": why.__version__, "modes": res})


if __name__ == "__main__":
    main()
