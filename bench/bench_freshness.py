"""Cost of feeding the freshness clock from the worker's hot path (a benchmark, not a test).

One ``FreshnessClock.observe`` call per fetched batch: record times, a non-null mask per
feature, the cohort of each record per segment. Reports milliseconds per batch and nanoseconds
per event for cohorts given as ``(codes, labels)`` (what the decoder has) and as label arrays.

    .venv/bin/python -m bench.bench_freshness --batch 50000 --features 25 --segments 2
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from driftline.stream.config.alerts import FreshnessRule
from driftline.stream.monitor.freshness import FreshnessClock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--features", type=int, default=25)
    parser.add_argument("--segments", type=int, default=2)
    parser.add_argument("--cohorts", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    n = args.batch
    times = time.time() - rng.random(n)
    present = {f"f{i}": rng.random(n) > 0.1 for i in range(args.features)}
    labels = [f"c{i:02d}" for i in range(args.cohorts)]
    table = np.array(labels, dtype=object)
    codes = {f"s{j}": rng.integers(0, args.cohorts, n) for j in range(args.segments)}
    forms = {
        "no_segments": {},
        "codes": {s: (c, labels) for s, c in codes.items()},
        "label_arrays": {s: table[c] for s, c in codes.items()},
    }
    clock = FreshnessClock("bench", [FreshnessRule(topic="t", max_staleness=60)])
    out: dict[str, object] = {"batch": n, "features": args.features,
                              "segments": args.segments, "cohorts": args.cohorts}
    for name, segments in forms.items():
        clock.observe("t", times, present=present, segments=segments)  # warm-up
        t0 = time.perf_counter()
        for _ in range(args.repeat):
            clock.observe("t", times, present=present, segments=segments)
        per_batch = (time.perf_counter() - t0) / args.repeat
        out[f"{name}_ms_per_batch"] = round(per_batch * 1000, 2)
        out[f"{name}_ns_per_event"] = round(per_batch / n * 1e9)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
