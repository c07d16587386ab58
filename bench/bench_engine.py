"""Engine core path benchmark (not a test): JSON bytes -> decoded columns -> window state.

Workload: stream/demo/workloads.py — 25 monitored fields (20 numeric, 5 categorical), 2 segment
fields (region: 8 values, device: 5) and an event time, ~600 bytes of JSON per event.

Measures, in CPU seconds of this process (``time.process_time``, i.e. per core, robust to
other load on the machine):

* decode:     bytes -> columns (``stream.decode.decoder.Decoder``; native fast path, and the msgspec
              exact path alone for comparison)
* aggregate:  columns -> the open windows' profiles (cells of region x device), then emitting
              every window (cohorts merged from the cells, global from the region cohorts)
* core path:  both (``PartitionAggregator.ingest`` + ``flush``), the issue's target >= 300k
              events/s per core
* state size: serialized bytes per feature x cohort x window of the emitted windows (target
  <= 16 KB), and of the open windows as checkpointed (held as cells). tracemalloc does not
  see the C++ sketches, so these are serialized sizes.

Run:  .venv/bin/python -m bench.bench_engine [--events 200000] [--batch 50000] [--window 5m]

Measured 2026-11-22 04:33-04:40 UTC on the shared 2-core machine (AMD EPYC, load average
0.5-1.5), default arguments, three runs of the previous version (commit b892d9b: polars fast
path, one profile per segment cohort, per-target sketch updates; the same script) alternating
with three of the current one; events/s per core (us per event), ranges over the runs:

==========================  =========================  =========================
stage                       before                     after
==========================  =========================  =========================
decode (fast path)          335,000-343,000 (2.9-3.0)  754,000-817,000 (1.22-1.33)
aggregate incl. emit        531,000-537,000 (1.9)      690,000-751,000 (1.33-1.45)
core path incl. emit        188,000-219,000 (4.6-5.3)  376,000-396,000 (2.53-2.66)
emitted state / f x c x w   3.2 KB median, 3.6 max     3.2 KB median, 3.6 max
open state / f x c x w      3.0 KB                     6.2 KB (cells)
==========================  =========================  =========================

The msgspec exact path alone decodes 247,000 events/s per core (4.05 us) and gives a core path
of 183,000 (5.46 us): what an install without the Rust extension runs at.

Where the ~2.6 us per event go now: the native scan of the JSON ~0.8 (Rust, 28 keys and 657
bytes per event), assembling columns from its buffers and the event times ~0.4; 20 KLL inserts
per event (one per numeric feature, into the event's cell) at ~30 ns inside datasketches ~0.6,
the other per-value sketch work (moments, bins, counts) ~0.2, grouping rows by cell ~0.1,
merging cells into cohorts at emit ~0.35 (88 profile merges per window of 60,000 events: a
cost per window, so it shrinks as windows hold more events).
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

import numpy as np
import orjson

from driftline.stream.config.model import parse_config
from driftline.stream.decode.decoder import Decoder
from driftline.stream.demo.workloads import generate, monitor_config, to_json_lines
from driftline.stream.engine.aggregator import PartitionAggregator
from driftline.stream.engine.core import Engine


def _cpu(fn: Any, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--window", default="5m")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    cfg = parse_config(monitor_config(window=args.window, max_cohorts_per_segment=50))
    w = generate(args.events, seed=1, events_per_second=200.0)
    records = to_json_lines(w)
    size = sum(map(len, records)) / len(records)
    eng = Engine(cfg)
    batches = [records[i:i + args.batch] for i in range(0, len(records), args.batch)]
    offsets = [list(range(i, i + len(b))) for i, b in zip(range(0, len(records), args.batch),
                                                          batches, strict=True)]

    def decode_all() -> None:
        for b in batches:
            eng.decoder.decode(b)

    exact = Decoder.from_config(cfg, fast=False)  # the msgspec path only

    def decode_exact() -> None:
        for b in batches:
            exact.decode(b)

    decoded = [eng.decoder.decode(b) for b in batches]

    def fresh() -> PartitionAggregator:
        return PartitionAggregator("bench", 0, eng.schema, eng.decoder, cfg.windows.size,
                                   cfg.windows.allowed_lateness, cfg.windows.idle_timeout,
                                   eng.cohorts)

    def aggregate_all() -> None:
        agg = fresh()
        for d in decoded:
            agg.ingest_decoded(d)
        agg.flush()

    def core_all(decoder: Decoder = eng.decoder) -> None:
        from driftline.stream.engine.batch import RecordBatch

        agg = fresh()
        agg.decoder = decoder
        for off, b in zip(offsets, batches, strict=True):
            agg.ingest(RecordBatch("bench", 0, off, None, b))
        agg.flush()  # emitting the windows (merging cells into cohorts) is part of the path

    def core_exact() -> None:
        core_all(exact)

    def parse_only() -> None:
        for b in batches:
            list(map(orjson.loads, b))

    n = len(records)
    t_parse = _cpu(parse_only, args.repeat)
    t_dec = _cpu(decode_all, args.repeat)
    t_exact = _cpu(decode_exact, args.repeat)
    t_agg = _cpu(aggregate_all, args.repeat)
    t_core = _cpu(core_all, args.repeat)
    t_core_exact = _cpu(core_exact, args.repeat)

    agg = fresh()
    for d in decoded:
        agg.ingest_decoded(d)
    open_state = len(agg.snapshot())  # the open windows as checkpointed (cells, 2 segments)
    n_open = len(agg.windows)
    sizes = []
    per_window = []
    first = cfg.segments[0]
    for part in agg.flush():
        for prof in part.profiles.values():
            if prof.events >= 1000:
                sizes.append(len(prof.to_bytes(include_schema=False)) / len(prof.features))
        per_window.append(sum(p.events for k, p in part.profiles.items() if k[0] == first))

    print(f"workload: {n} events, {size:.0f} bytes/event JSON, 25 fields (20 numeric, "
          f"5 categorical), segments region(8) device(5), batches of {args.batch}, "
          f"window {args.window}")
    print(f"reference  : {n / t_parse:>10,.0f} events/s per core  "
          f"({t_parse / n * 1e6:.2f} us/event)   orjson.loads per record alone, no columns")
    print(f"decode     : {n / t_dec:>10,.0f} events/s per core  ({t_dec / n * 1e6:.2f} us/event)"
          f"   native fast path ({eng.decoder.fast_chunks} chunks fast, "
          f"{eng.decoder.exact_chunks} exact)")
    print(f"  exact    : {n / t_exact:>10,.0f} events/s per core  "
          f"({t_exact / n * 1e6:.2f} us/event)   the msgspec path alone (fast=False)")
    print(f"aggregate  : {n / t_agg:>10,.0f} events/s per core  ({t_agg / n * 1e6:.2f} us/event, "
          f"a region and a device profile per event; global merged at emit)")
    print(f"core path  : {n / t_core:>10,.0f} events/s per core  ({t_core / n * 1e6:.2f} us/event)"
          f"   target >= 300,000")
    print(f"  exact    : {n / t_core_exact:>10,.0f} events/s per core  "
          f"({t_core_exact / n * 1e6:.2f} us/event)   with the msgspec path alone (fast=False)")
    print(f"state      : {np.median(sizes) / 1024:.1f} KB median, {max(sizes) / 1024:.1f} KB max "
          f"per feature x cohort x window (serialized; windows of {per_window} events)"
          f"   target <= 16 KB")
    cohorts = len(sizes) / max(len(per_window), 1)
    print(f"open state : {open_state / (n_open * cohorts * len(cfg.features)) / 1024:.1f} KB "
          f"per feature x cohort x open window ({n_open} open windows held as cells, "
          f"{open_state / 1024:.0f} KB snapshot, {cohorts:.0f} cohorts per window)")
    print("rerun: .venv/bin/python -m bench.bench_engine "
          f"--events {args.events} --batch {args.batch} --window {args.window}")


if __name__ == "__main__":
    main()
