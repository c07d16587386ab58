"""Model quality: label-join throughput, join state per pending prediction, the join sample's
memory budget, and the estimate's error next to NannyML CBPE on a covariate shift.

* Join: predictions (with a segment) and their labels (30 % time-stamped just before their
  prediction, the rest 1-600 s after), fed in chunks of 10,000 predictions each followed by the
  labels up to the same time, through :class:`stream.performance.PerformanceTracker` -- events
  (predictions + labels) per CPU second.
* State: bytes per pending prediction (tracemalloc of the join table holding N of them).
* Sample: at 100k predictions/s, the pending predictions a ``max_delay`` holds, and the sample
  rate that keeps them within a memory budget.
* Estimation: P(y | x) = sigmoid(2x) everywhere (the score is calibrated); reference
  x ~ N(0, 1.5), analysis windows of 1,000 predictions with x ~ N(0, 1.5) then N(0, 0.4) (the
  predictions crowd at the boundary: accuracy and AUC fall). driftline's estimate (isotonic map
  from the baseline + expected confusion matrix over the score grid) and NannyML's CBPE (its own
  venv, ``bench/peers/nannyml_cbpe.py``) on the same rows; error = |estimated - realized|.
* Regression: y = 2x + 1 + noise with sd 0.1 + x (the model predicts the mean 2x + 1);
  reference x ~ U(0, 2), analysis windows of 1,000 predictions with x ~ U(0, 2) then U(1.5, 2)
  (the noisy region: MAE and RMSE rise ~70 %). driftline's estimate (the baseline's error map
  over 64 prediction-quantile bins, :mod:`sketches.regression`) and NannyML's DLE (LightGBM on
  the features and the prediction, its own venv, ``bench/peers/nannyml_dle.py``) on the same
  rows. A second run moves the noise to a feature z the model does not use (sd 0.1 + z, z
  shifted to [1.5, 2], x unchanged): the prediction distribution does not move, so driftline's
  estimate cannot see it, while DLE, which also reads z, can.

    python -m bench.bench_quality [--quick] [--json]
"""

from __future__ import annotations

import gc
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.peers import Peer, PeerUnavailable
from bench.peers._measure import Timer
from bench.section import emit, section_args
from driftline.sketches.calibration import Calibration, estimate
from driftline.sketches.performance import PerformanceState
from driftline.sketches.regression import ErrorMap
from driftline.stream.config.labels import LabelsConfig, ModelConfig
from driftline.stream.performance.join import LabelJoin, Pending
from driftline.stream.performance.tracker import PerformanceTracker

RATE = 100_000  # predictions per second of the firehose
BUDGET = 1 << 30  # bytes of join state


def bench_join(n: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 3600, n))
    ids = [f"req-{i}" for i in range(n)]
    s = rng.uniform(0, 1, n)
    region = rng.choice(np.array(["eu", "us", "apac"], dtype=object), n)
    y = (rng.uniform(0, 1, n) < s).astype(float)
    lt = t + np.where(rng.uniform(0, 1, n) < 0.3, -1.0, rng.uniform(1, 600, n))
    order = np.argsort(lt, kind="stable")
    tr = PerformanceTracker(model=ModelConfig(prediction="s", id="i"),
                            labels=LabelsConfig(id="i", label="y", max_delay=7200),
                            window_size=300.0, segments=["region"])
    lab_ids = [ids[i] for i in order.tolist()]
    chunk = 10_000
    with Timer() as tm:
        for lo in range(0, n, chunk):  # predictions then the labels up to the same time
            hi = min(lo + chunk, n)
            tr.add_predictions(t[lo:hi], ids[lo:hi], s[lo:hi], None, {"region": region[lo:hi]})
            a, b = np.searchsorted(lt[order], [t[lo], t[hi - 1]], side="right")
            a = int(np.searchsorted(lt[order], -np.inf)) if lo == 0 else a
            tr.add_labels(lt[order][a:b], lab_ids[a:b], y[order][a:b])
        rest = int(np.searchsorted(lt[order], t[-1], side="right"))
        tr.add_labels(lt[order][rest:], lab_ids[rest:], y[order][rest:])
        tr.finish()
    c = tr.counters()
    return {"events": 2 * n, "cpu_s": tm.cpu, "wall_s": tm.wall,
            "per_core": 2 * n / tm.cpu, "joined": c["joined"] + c["joined_early"],
            "joined_early": c["joined_early"]}


def bench_state(n: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    j = LabelJoin(max_delay=86400.0)
    for i in range(n):
        j.add_prediction(f"req-{i:012d}", Pending(time=float(i), window=0.0, score=0.5,
                                                        predicted=True, weight=1.0,
                                                        keys=("eu",)))
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / n


def shifted(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = 1 / (1 + np.exp(-2 * x))
    return p, (rng.uniform(0, 1, x.shape[0]) < p).astype(float)


def bench_estimation(windows: int, per: int, tmp: Path) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    ref_s, ref_y = shifted(rng, rng.normal(0, 1.5, 20 * per))
    half = windows // 2
    x = np.concatenate([rng.normal(0, 1.5, half * per), rng.normal(0, 0.4, (windows - half) * per)])
    s, y = shifted(rng, x)
    ref = PerformanceState()
    ref.add_predictions(ref_s, ref_s >= 0.5)
    ref.add_labels(ref_s, ref_s >= 0.5, ref_y)
    cal = Calibration.fit(ref)
    rows = []
    for w in range(windows):
        sl = slice(w * per, (w + 1) * per)
        st = PerformanceState()
        st.add_predictions(s[sl], s[sl] >= 0.5)
        est = estimate(st, cal)
        st.add_labels(s[sl], s[sl] >= 0.5, y[sl])
        real = st.realized()
        rows.append({"window": w, "realized_auc": real["roc_auc"], "est_auc": est["roc_auc"],
                     "realized_acc": real["accuracy"], "est_acc": est["accuracy"]})
    for name, (ss, yy) in {"ref": (ref_s, ref_y), "ana": (s, y)}.items():
        pq.write_table(pa.table({"score": ss, "y_pred": (ss >= 0.5).astype(int),
                                 "y": yy.astype(int)}), tmp / f"{name}.parquet")
    peer: dict[str, Any] = {}
    try:
        p = Peer("nannyml")
        p.ensure()
        peer = p.run("nannyml_cbpe.py", [str(tmp / "ref.parquet"), str(tmp / "ana.parquet"),
                                         "--chunk", str(per)])
        for r, auc, acc in zip(rows, peer["roc_auc"], peer["accuracy"], strict=False):
            r["nml_auc"], r["nml_acc"] = auc, acc
    except (PeerUnavailable, OSError, RuntimeError, KeyError, ValueError) as exc:
        peer = {"error": str(exc)}
    return {"rows": rows, "peer": {k: v for k, v in peer.items()
                                   if k not in ("roc_auc", "accuracy")}}


def heteroscedastic(rng: np.random.Generator, x: np.ndarray, z: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    pred = 2 * x + 1
    return pred, pred + rng.normal(0, 1, x.shape[0]) * (0.1 + z)


def bench_regression(windows: int, per: int, tmp: Path, hidden: bool = False, seed: int = 0
                     ) -> dict[str, Any]:
    """The noise grows with x (``hidden``: with z, a feature the model does not use); the
    second half of the windows moves x (``hidden``: z) to [1.5, 2]."""
    rng = np.random.default_rng(11 + seed)
    ref_x, ref_z = rng.uniform(0, 2, 20 * per), rng.uniform(0, 2, 20 * per)
    ref_p, ref_y = heteroscedastic(rng, ref_x, ref_z if hidden else ref_x)
    half = windows // 2
    moved = np.concatenate([rng.uniform(0, 2, half * per),
                            rng.uniform(1.5, 2, (windows - half) * per)])
    still = rng.uniform(0, 2, windows * per)
    x, z = (still, moved) if hidden else (moved, still)
    p, y = heteroscedastic(rng, x, z if hidden else x)
    emap = ErrorMap.fit(ref_p, ref_y, bins=64)
    rows = []
    for w in range(windows):
        sl = slice(w * per, (w + 1) * per)
        st = PerformanceState(task="regression", values=emap.grid)
        st.add_predictions(p[sl])
        est = emap.estimate(st.pred_hist[0])
        st.add_labels(p[sl], None, y[sl])
        real = st.realized()
        rows.append({"seed": seed, "window": w, "realized_mae": float(real["mae"]),
                     "est_mae": est["mae"], "realized_rmse": float(real["rmse"]),
                     "est_rmse": est["rmse"]})
    for name, cols in {"ref": (ref_x, ref_z, ref_p, ref_y), "ana": (x, z, p, y)}.items():
        pq.write_table(pa.table(dict(zip(("x", "z", "pred", "y"), cols, strict=True))),
                       tmp / f"reg-{name}.parquet")
    peer: dict[str, Any] = {}
    try:
        nml = Peer("nannyml")
        nml.ensure()
        peer = nml.run("nannyml_dle.py", [str(tmp / "reg-ref.parquet"),
                                          str(tmp / "reg-ana.parquet"), "--chunk", str(per)])
        for r, mae, rmse in zip(rows, peer["mae"], peer["rmse"], strict=False):
            r["nml_mae"], r["nml_rmse"] = mae, rmse
    except (PeerUnavailable, OSError, RuntimeError, KeyError, ValueError) as exc:
        peer = {"error": str(exc)}
    return {"rows": rows, "reference": {"mae": float(np.abs(ref_p - ref_y).mean()),
                                        "rmse": float(np.sqrt(np.mean((ref_p - ref_y) ** 2)))},
            "peer": {k: v for k, v in peer.items() if k not in ("mae", "rmse")}}


def _mae(rows: list[dict[str, Any]], a: str, b: str) -> float | None:
    vals = [abs(r[a] - r[b]) for r in rows if a in r and b in r]
    return float(np.mean(vals)) if vals else None


def main(argv: list[str] | None = None) -> None:
    a = section_args(__doc__).parse_args(argv)
    n = 50_000 if a.quick else 400_000
    join = bench_join(n)
    per_pending = bench_state(20_000 if a.quick else 200_000)
    with tempfile.TemporaryDirectory() as d:
        est = bench_estimation(8 if a.quick else 20, 1000, Path(d))
        seeds = range(2 if a.quick else 10)  # the realized value's own noise varies by seed
        reg, hid = ({"rows": [], "peer": {}, "reference": {}} for _ in range(2))
        for seed in seeds:
            for acc, hidden in ((reg, False), (hid, True)):
                r = bench_regression(8 if a.quick else 20, 1000, Path(d), hidden, seed)
                acc["rows"] += r["rows"]
                acc["peer"] = acc["peer"] or r["peer"]
                acc["reference"] = acc["reference"] or r["reference"]
    rows = est["rows"]
    text = [
        f"Join: {join['events']:,} events (predictions + labels, {join['joined_early']:,} labels "
        f"before their prediction) in {join['cpu_s']:.2f} CPU s = "
        f"{join['per_core']:,.0f} events/s per core ({join['joined']:,} joined).",
        f"Join state: {per_pending:.0f} bytes per pending prediction (Python dict entry).",
    ]
    for delay_h in (1, 24, 24 * 7):
        pending = RATE * delay_h * 3600
        rate = min(1.0, BUDGET / (pending * per_pending))
        text.append(f"Firehose {RATE:,}/s, max_delay {delay_h} h: {pending:,} pending "
                    f"= {pending * per_pending / 2**30:,.1f} GiB at rate 1; sample_rate "
                    f"{rate:.4g} keeps it within 1 GiB (n_eff per 1,000-prediction window "
                    f"~{1000 * rate:,.0f}).")
    text.append(
        "Estimation error |estimated - realized| per 1,000-prediction window, mean over windows: "
        f"driftline ROC AUC {_mae(rows, 'est_auc', 'realized_auc'):.4f}, accuracy "
        f"{_mae(rows, 'est_acc', 'realized_acc'):.4f}; NannyML CBPE ROC AUC "
        f"{_mae(rows, 'nml_auc', 'realized_auc') or float('nan'):.4f}, accuracy "
        f"{_mae(rows, 'nml_acc', 'realized_acc') or float('nan'):.4f}.")
    if est["peer"].get("error"):
        text.append(f"NannyML: {est['peer']['error']}")
    for label, r in (("shift of x (seen in the prediction)", reg),
                     ("shift of z (not seen in the prediction)", hid)):
        rr = r["rows"]
        text.append(
            f"Regression, {label}: |estimated - realized| per 1,000-prediction window, mean "
            f"over {len(seeds)} seeds x windows: driftline MAE "
            f"{_mae(rr, 'est_mae', 'realized_mae'):.4f}, RMSE "
            f"{_mae(rr, 'est_rmse', 'realized_rmse'):.4f}; NannyML DLE MAE "
            f"{_mae(rr, 'nml_mae', 'realized_mae') or float('nan'):.4f}, RMSE "
            f"{_mae(rr, 'nml_rmse', 'realized_rmse') or float('nan'):.4f}; the two estimates "
            f"differ by {_mae(rr, 'est_mae', 'nml_mae') or float('nan'):.4f} (MAE) on average "
            f"(reference MAE {r['reference']['mae']:.4f}, RMSE {r['reference']['rmse']:.4f}).")
        if r["peer"].get("error"):
            text.append(f"NannyML DLE: {r['peer']['error']}")
    rr = [r for r in reg["rows"] if r["seed"] == 0]
    emit({"key": "quality", "text": text, "join": join, "bytes_per_pending": per_pending,
          "estimation": est, "regression": reg, "regression_hidden": hid,
          "tables": [_vs_nannyml(rows, {"auc": "AUC", "acc": "acc"}),
                     _vs_nannyml(rr, {"mae": "MAE", "rmse": "RMSE"})]}, a.json)


def _vs_nannyml(rows: list[dict[str, Any]], metrics: dict[str, str]) -> dict[str, Any]:
    """A table of windows: per metric (key: label) realized, driftline's and NannyML's
    estimates (None where NannyML gave none)."""
    headers = ["window"]
    for label in metrics.values():
        headers += [f"realized {label}", "driftline est.", "NannyML est."]
    table = [[r["window"], *(v for m in metrics for v in (
        round(r[f"realized_{m}"], 4), round(r[f"est_{m}"], 4),
        round(r[f"nml_{m}"], 4) if f"nml_{m}" in r else None))] for r in rows]
    return {"headers": headers, "rows": table}


if __name__ == "__main__":
    main()
