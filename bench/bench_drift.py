"""Drift computation: driftline from sketches vs Evidently from raw data, same windows.

A reference window and a current window of the 25-field workload (the current one has
``x_normal`` shifted by 0.3 sd, the rest is the same distribution). driftline builds its
baseline and the current profile once, then computes each metric for every feature from the
sketches; Evidently runs one Report per method over the raw columns (in its own venv). Both are
compared with exact values (scipy on the raw data, driftline's bin definitions).

    python -m bench.bench_drift [--quick] [--json]
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import driftline.sketches as sk
from bench.bench_accuracy import exact_scores
from bench.peers import CACHE, Peer, PeerUnavailable
from bench.peers._measure import Timer
from bench.section import run_section
from driftline.stream.demo.workloads import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    generate,
    write_parquet,
)

EVIDENTLY_NAME = {"psi": "psi", "ks": "ks", "js": "jensenshannon", "wasserstein": "wasserstein",
                  "chi2": "chisquare"}
SHOWN = ("x_normal", "amount", "n_items", "x_bimodal", "merchant_category", "country")
EVIDENTLY_MEANS = {
    "psi": "PSI over its own bins (numeric: Sturges equal-width bins over ref+cur)",
    "ks": "p-value of scipy's ks_2samp (not the statistic)",
    "js": "Jensen-Shannon *distance* (sqrt of divergence) over its own bins",
    "wasserstein": "W1 / std(reference): same definition as driftline",
    "chi2": "p-value of the chi-square test (not Cramer's V)",
}


def _specs() -> list[sk.FeatureSpec]:
    return [sk.NumericSpec(f) for f in NUMERIC_FEATURES] + [
        sk.CategoricalSpec(f) for f in CATEGORICAL_FEATURES]


def _cols(cols: dict[str, np.ndarray]) -> dict[str, sk.Column]:
    return {f: sk.Column(cols[f]) for f in NUMERIC_FEATURES + CATEGORICAL_FEATURES}


def driftline_side(ref: dict[str, np.ndarray], cur: dict[str, np.ndarray], repeat: int
                   ) -> dict[str, object]:
    with Timer() as t_base:
        baseline = sk.Baseline.build(_specs(), _cols(ref))
    n_cur = len(cur["ts"])
    with Timer() as t_prof:
        live = sk.CohortProfile(baseline.schema)
        live.update(_cols(cur), n_cur)
    base = baseline.global_profile
    timings: dict[str, dict[str, float]] = {}
    values: dict[str, dict[str, sk.DriftScore]] = {}
    for metric in ("psi", "ks", "js", "wasserstein", "chi2"):
        feats = [f for f in baseline.schema.names if metric in sk.metrics_for(live[f])]
        best = None
        for _ in range(repeat):
            with Timer() as t:
                out = {f: sk.compare(live[f], base[f], [metric], {}, 1)[metric] for f in feats}
            best = t if best is None or t.cpu < best.cpu else best
            values[metric] = out
        assert best is not None
        timings[metric] = {"cpu_s": best.cpu, "wall_s": best.wall, "columns": len(feats)}
    return {"baseline_build_cpu_s": t_base.cpu, "profile_cpu_s": t_prof.cpu,
            "metrics": timings, "values": values, "schema": baseline.schema}


def run(quick: bool = False) -> dict[str, object]:
    n_ref, n_cur = (20_000, 5_000) if quick else (100_000, 20_000)
    repeat = 1 if quick else 3
    ref = generate(n_ref, seed=11).columns
    cur = generate(n_cur, seed=12, scenario="abrupt_shift", change_at=0, magnitude=0.3).columns
    data = CACHE / "data"
    ref_path = write_parquet(ref, data / f"drift-ref-{n_ref}.parquet")
    cur_path = write_parquet(cur, data / f"drift-cur-{n_cur}.parquet")
    dl = driftline_side(ref, cur, repeat)
    schema = dl["schema"]
    assert isinstance(schema, sk.ProfileSchema)
    exact: dict[str, dict[str, float]] = {}
    t0 = time.process_time()
    for f in schema.names:
        exact[f] = exact_scores(cur[f], ref[f], schema[f])  # type: ignore[arg-type]
    exact_cpu = time.process_time() - t0
    ev, ev_error = _evidently(ref_path, cur_path, repeat)
    timing_rows: list[list[object]] = []
    dl_metrics = dl["metrics"]
    assert isinstance(dl_metrics, dict)
    for metric, t in dl_metrics.items():
        kinds = ("categorical",) if metric == "chi2" else ("numeric", "categorical")
        ev_ts = [ev[k] for k in (f"{kind}:{EVIDENTLY_NAME[metric]}" for kind in kinds) if k in ev]
        ev_cpu = sum(float(x["cpu_s"]) for x in ev_ts)
        ev_ms = f"{1000 * ev_cpu:.1f}" if ev_ts else "n/a"
        ratio = f"{ev_cpu / t['cpu_s']:.0f}x" if ev_ts and t["cpu_s"] > 0 else "n/a"
        per_col = 1e6 * t["cpu_s"] / max(1, t["columns"])
        timing_rows.append([metric, t["columns"], f"{1000 * t['cpu_s']:.2f}", f"{per_col:.0f}",
                            ev_ms, ratio])
    values = dl["values"]
    assert isinstance(values, dict)
    value_rows: list[list[object]] = []
    for f in SHOWN:
        kind = "categorical" if f in CATEGORICAL_FEATURES else "numeric"
        for metric, per in values.items():
            if f not in per:
                continue
            score = per[f]
            ev_v = (ev or {}).get(f"{kind}:{EVIDENTLY_NAME[metric]}", {}).get("values", {}).get(f)
            value_rows.append([f, metric, f"{score.value:.4f}", f"{exact[f][metric]:.4f}",
                               f"{abs(score.value - exact[f][metric]):.2g}",
                               f"{score.p_value:.3g}",
                               "n/a" if ev_v is None else f"{ev_v:.4g}"])
    text = [
        f"Reference {n_ref:,} events, current {n_cur:,} events (x_normal shifted +0.3 sd); "
        f"{len(NUMERIC_FEATURES)} numeric + {len(CATEGORICAL_FEATURES)} categorical features. "
        "Times are process CPU ms for all columns of that metric (best of "
        f"{repeat}). driftline one-off costs, not in the per-metric times: baseline build "
        f"{1000 * float(dl['baseline_build_cpu_s']):.0f} ms (once per training set), profiling "
        f"the current window {1000 * float(dl['profile_cpu_s']):.0f} ms (done while ingesting); "
        f"exact scipy on raw data, all metrics and features: {1000 * exact_cpu:.0f} ms.",
        "Evidently's values follow Evidently's own definitions, reported as returned: "
        + "; ".join(f"{m}: {d}" for m, d in EVIDENTLY_MEANS.items()) + ".",
    ]
    if ev_error:
        text.append(f"Evidently could not run here: {ev_error}")
    dl_total = sum(float(t["cpu_s"]) for t in dl_metrics.values())
    ev_total = sum(float(x["cpu_s"]) for x in ev.values()) if ev else 0.0
    numeric_err = {m: max(abs(values[m][f].value - exact[f][m]) for f in values[m])
                   for m in values}
    summary = [
        f"Drift: every metric for all {len(schema.names)} features from sketches in "
        f"{1000 * dl_total:.0f} ms of CPU"
        + (f" vs Evidently {1000 * ev_total:,.0f} ms from raw data ({ev_total / dl_total:.0f}x)"
           if ev_total else "")
        + "; largest |driftline - exact| per metric: "
        + ", ".join(f"{m} {e:.2g}" for m, e in numeric_err.items()) + "."]
    raw_values = {m: {f: s.to_dict() for f, s in per.items()} for m, per in values.items()}
    return {
        "title": "Drift computation: driftline (sketches) vs Evidently (raw data)",
        "summary": summary,
        "text": text,
        "tables": [
            {"headers": ["metric", "columns", "driftline ms", "driftline us/column",
                         "Evidently ms", "Evidently / driftline"], "rows": timing_rows},
            {"headers": ["feature", "metric", "driftline", "exact", "abs diff",
                         "driftline p-value", "Evidently value"], "rows": value_rows},
        ],
        "raw": {"driftline": raw_values, "exact": exact, "evidently": ev,
                "driftline_timing": dl_metrics},
    }


def _evidently(ref: Path, cur: Path, repeat: int) -> tuple[dict[str, dict], str | None]:
    peer = Peer("evidently")
    try:
        peer.ensure()
        res = peer.run("evidently_drift.py", [
            str(ref), str(cur), "--numeric", *NUMERIC_FEATURES,
            "--categorical", *CATEGORICAL_FEATURES, "--repeat", str(repeat)])
    except (PeerUnavailable, RuntimeError) as exc:
        return {}, str(exc)
    return dict(res["methods"]), None


def main() -> None:
    run_section(__doc__, run)


if __name__ == "__main__":
    main()
