"""Evaluation cost per series (feature x cohort, every metric): one window of ``cohorts`` x 25
features of the demo workload against its baseline, the vectorized window evaluation
(``evaluate_profiles``, what the engine runs) beside the per-series reference
(``evaluate_profile`` per cohort) on the same profiles in the same process. Best of
``repeat`` CPU times. Target: <= 50 us per series, 1,000 series <= 50 ms.

    python -m bench.bench_evaluation [--cohorts 40] [--events 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import driftline.sketches as sk
from bench.bench_memory import FEATURE_COUNT, _baseline
from driftline.sketches.evaluate import evaluate_profile
from driftline.sketches.evaluate_batch import evaluate_profiles
from driftline.stream.demo.workloads import FEATURES, generate
from driftline.stream.engine.results import ALL_METRICS


def _best_cpu(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def run(cohorts: int = 40, events: int = 2_000, repeat: int = 3) -> dict[str, float]:
    _, base = _baseline()
    pool = generate(events * 4, seed=72).columns
    pairs = []
    for i in range(cohorts):
        p = sk.CohortProfile(base.schema)
        j = i % 4
        p.update({f: sk.Column(pool[f][j * events:(j + 1) * events]) for f in FEATURES}, events)
        pairs.append((p, base.global_profile if i == 0 else base.profile_for("region", f"r{i}")))
    for cur, _ in pairs:  # sorted views are cached per sketch: build them outside the timing
        for s in cur.features.values():
            if isinstance(s, sk.NumericSketch):
                s.sorted_view()
    thresholds = dict(sk.DEFAULT_THRESHOLDS)
    batch = _best_cpu(lambda: evaluate_profiles(pairs, ALL_METRICS, thresholds, 500, 0.01),
                      repeat)
    ref = _best_cpu(lambda: [evaluate_profile(c, b, ALL_METRICS, thresholds, 500, 0.01)
                             for c, b in pairs], repeat)
    series = cohorts * FEATURE_COUNT
    return {"series": series, "events_per_cohort": events,
            "batch_ms": round(1e3 * batch, 1),
            "batch_us_per_series": round(1e6 * batch / series, 1),
            "reference_ms": round(1e3 * ref, 1),
            "reference_us_per_series": round(1e6 * ref / series, 1),
            "speedup": round(ref / batch, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cohorts", type=int, default=40)
    ap.add_argument("--events", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    print(json.dumps(run(a.cohorts, a.events, a.repeat)))


if __name__ == "__main__":
    main()
