"""Estimated regression error before labels: a covariate shift into the region where the model
errs more raises the estimated MAE/RMSE when the window closes, the realized values follow when
the labels come, and both equal numpy on the same rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from scipy import stats

from driftline.sketches.performance import PerformanceState
from driftline.sketches.regression import SHRINK, ErrorMap, ValueGrid
from driftline.stream.config.model import parse_config
from driftline.stream.kafka.labels_report import merged_report
from driftline.stream.performance.alerts import drop_measurements
from driftline.stream.performance.columns import tracker_for
from driftline.stream.performance.merge import PerformanceMerger, label_partial
from driftline.stream.performance.state import restore, snapshot
from driftline.stream.sources.backtest import run_backtest
from driftline.stream.sources.baselines import build_baseline

PER_WINDOW = 1500
DELAY = 7200.0


def cfg() -> Any:
    return parse_config({
        "monitor": "prices", "source": {"event_time": {"field": "ts"}},
        "features": [{"name": "x", "type": "numeric"}], "windows": {"size": "10m"},
        "drift": {"enabled": False}, "volume": {"enabled": False},
        "model": {"task": "regression", "prediction": "pred", "id": "id"},
        "labels": {"id": "id", "label": "y", "time": "lt", "max_delay": "3h"},
        "performance": {"metrics": ["mae", "rmse"]}})


def dump(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return path


def generate(rng: np.random.Generator, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The model predicts the mean 2x + 1 exactly; the noise grows with x (sd 0.1 + x)."""
    pred = 2 * x + 1
    return pred, pred + rng.normal(0, 1, x.shape[0]) * (0.1 + x)


def data(tmp: Path) -> dict[str, Any]:
    """x ~ U(0, 2) in training and windows 0-3, U(1.5, 2) (the noisy region) from window 4;
    labels come 2 h after their prediction."""
    rng = np.random.default_rng(21)
    tx = rng.uniform(0, 2, 20_000)
    tp, ty = generate(rng, tx)
    x = np.concatenate([rng.uniform(0, 2, 4 * PER_WINDOW), rng.uniform(1.5, 2, 4 * PER_WINDOW)])
    pred, y = generate(rng, x)
    t = np.concatenate([np.sort(rng.uniform(w * 600, (w + 1) * 600, PER_WINDOW))
                        for w in range(8)])
    train = [{"ts": float(i), "id": f"t{i}", "x": float(tx[i]), "pred": float(tp[i]),
              "y": float(ty[i])} for i in range(tx.shape[0])]
    events = [{"ts": float(t[i]), "id": f"p{i}", "x": float(x[i]), "pred": float(pred[i])}
              for i in range(x.shape[0])]
    labels = [{"id": f"p{i}", "y": float(y[i]), "lt": float(t[i] + DELAY)}
              for i in range(x.shape[0])]
    return {"train": dump(tmp / "train.jsonl", train), "events": dump(tmp / "events.jsonl", events),
            "labels": dump(tmp / "labels.jsonl", labels), "tp": tp, "ty": ty, "t": t,
            "pred": pred, "y": y}


def numpy_map(tp: np.ndarray, ty: np.ndarray, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The documented global error map, in numpy: quantile cuts, per-bin mean |e| and e^2."""
    cuts = np.unique(np.quantile(tp, np.arange(1, bins) / bins))
    b = np.searchsorted(cuts, tp, side="right")
    e = np.abs(tp - ty)
    n = np.bincount(b, minlength=bins)
    assert n.min() > 0
    ex = np.stack([np.bincount(b, weights=v, minlength=bins) / n for v in (e, e * e)])
    return cuts, ex


def test_estimated_error_rises_before_labels_and_realized_follows(tmp_path: Path) -> None:
    d = data(tmp_path)
    config = cfg()
    base = build_baseline(config, d["train"])
    assert sorted(k for k in base.attachments if k.startswith("errors:")) == ["errors:all=all"]
    rep = run_backtest(config, base, d["events"], labels=d["labels"], chunk=500)
    cuts, ex = numpy_map(d["tp"], d["ty"])
    ref_e = d["tp"] - d["ty"]
    ref_mae, ref_rmse = np.abs(ref_e).mean(), np.sqrt((ref_e * ref_e).mean())
    for k, w in enumerate(rep["windows"]):
        rows = (d["t"] >= w["start_ts"]) & (d["t"] < w["end_ts"])
        perf = w["cohorts"][0]["performance"]
        e = d["pred"][rows] - d["y"][rows]
        assert (perf["predictions"], perf["labeled"]) == (PER_WINDOW, PER_WINDOW)
        # matured once max_delay (3 h) has passed its end on the clock of the last label
        clock = float(d["t"].max()) + DELAY
        assert perf["status"] == ("matured" if w["end_ts"] + 3 * 3600 <= clock else "maturing")
        assert perf["realized"]["mae"] == pytest.approx(np.abs(e).mean(), abs=1e-9)
        assert perf["realized"]["rmse"] == pytest.approx(np.sqrt((e * e).mean()), abs=1e-9)
        assert perf["realized"]["mse"] == pytest.approx((e * e).mean(), abs=1e-9)
        assert perf["realized"]["bias"] == pytest.approx(e.mean(), abs=1e-9)
        b = np.searchsorted(cuts, d["pred"][rows], side="right")
        mae, mse = ex[0][b].mean(), ex[1][b].mean()
        assert perf["estimated"] == pytest.approx(
            {"mae": mae, "rmse": np.sqrt(mse), "mse": mse}, abs=1e-9)
        assert perf["reference"]["mae"] == pytest.approx(ref_mae, abs=1e-9)
        # the estimate tracks the realized error (within its sampling noise) on both sides
        assert perf["estimated"]["mae"] == pytest.approx(perf["realized"]["mae"], rel=0.08)
        rise = perf["estimated"]["mae"] / ref_mae - 1
        assert (rise > 0.5) if k >= 4 else (abs(rise) < 0.08), (k, rise)
        assert perf["prediction_drift"]["psi"] is not None
    assert ref_rmse > ref_mae
    # the estimated MAE of the first shifted window is known when it closes, before any of its
    # labels exists; the realized one when its labels are in
    points = {(p["kind"], p["window_start"]): p for p in rep["performance_timeline"]}
    est, real = points[("estimated", 2400.0)], points[("realized", 2400.0)]
    assert est["at"] < 2400.0 + DELAY <= real["at"]
    assert est["mae"] > 1.5 * ref_mae and real["mae"] > 1.5 * ref_mae
    perf_alerts = [a for a in rep["alerts"] if a["check"] == "performance"]
    fired = [(a["feature"], a["window"], a["window_start"], a["severity"]) for a in perf_alerts
             if a["state"] == "firing"]
    # an increase of the error is the bad direction: one page per kind, the estimate first
    assert fired == [("estimated", "10m", 2400.0, "critical"),
                     ("realized", "10m+labels", 2400.0, "critical")]


def test_regression_state_histogram_merges_and_reads_older_bytes() -> None:
    rng = np.random.default_rng(4)
    grid = ValueGrid.quantiles(rng.normal(0, 1, 5000), 16)
    p, y = rng.normal(0, 1, 3000), rng.normal(0, 1, 3000)
    whole = PerformanceState(task="regression", values=grid)
    whole.add_predictions(p)
    whole.add_labels(p, None, y)
    parts = [PerformanceState(task="regression", values=grid) for _ in range(3)]
    for i, part in enumerate(parts):
        part.add_predictions(p[i::3])
        part.add_labels(p[i::3], None, y[i::3])
    merged = PerformanceState.from_bytes(parts[0].to_bytes()).merge(parts[1]).merge(parts[2])
    assert np.array_equal(merged.pred_hist[0], np.bincount(
        np.searchsorted(grid.cuts, p, side="right"), minlength=grid.bins))
    assert merged.realized() == pytest.approx(whole.realized())
    emap = ErrorMap.fit(p, y, grid=grid)
    assert ErrorMap.from_bytes(emap.to_bytes()).estimate(merged.pred_hist[0]) == pytest.approx(
        emap.estimate(whole.pred_hist[0]))
    # a cohort's bins shrink toward the global map's with SHRINK pseudo-rows
    sub = ErrorMap.fit(p[:200], y[:200], grid=grid, parent=emap)
    b = np.searchsorted(grid.cuts, p[:200], side="right")
    n = np.bincount(b, minlength=grid.bins)
    sums = np.bincount(b, weights=np.abs(p[:200] - y[:200]), minlength=grid.bins)
    assert sub.expected[0] == pytest.approx((sums + SHRINK * emap.expected[0]) / (n + SHRINK))
    with pytest.raises(ValueError, match="different tasks or grids"):
        merged.merge(PerformanceState(task="regression"))
    # a state written before the prediction histogram and the e^4 sum: still loads
    old = PerformanceState(task="regression")
    old.add_predictions(p)
    old.add_labels(p, None, y)
    old.sums = old.sums[:5]  # the older layout: err, |err|, err^2, y, y^2
    blob = old.to_bytes()
    assert PerformanceState.from_bytes(blob).realized()["mae"] == pytest.approx(
        np.abs(p - y).mean())


def test_partitions_checkpoint_and_merge_keep_the_estimate(tmp_path: Path) -> None:
    """The label worker's path: one tracker per partition, checkpointed, restored and merged
    (``merged_report``) gives the estimate of one tracker fed everything."""
    d = data(tmp_path)
    config = cfg()
    base = build_baseline(config, d["train"])
    n = d["t"].shape[0]
    ids = np.array([f"p{i}" for i in range(n)], dtype=object)
    single = tracker_for(config, base)
    single.add_predictions(d["t"], list(ids), d["pred"], None, {})
    states = {}
    for part in (0, 1):
        rows = np.arange(part, n, 2)
        t = tracker_for(config, base)
        t.add_predictions(d["t"][rows], list(ids[rows]), d["pred"][rows], None, {})
        back = tracker_for(config, base)
        restore(back, snapshot(t))
        states[part] = ({"predictions": rows.shape[0], "labels": 0}, back)
    rep = merged_report(config, base, states)
    assert len(rep["windows"]) == 8
    for w in rep["windows"]:
        want = single.record(w["start_ts"], w["end_ts"], "all", "all")
        got = w["cohorts"][0]["performance"]
        assert got["predictions"] == PER_WINDOW
        assert got["estimated"] == pytest.approx(want["estimated"], abs=1e-12)
        assert got["status"] == "pending"
    # the live merger (label workers' partials) merges the same partitions: its window records
    # carry the same estimate
    merger = PerformanceMerger(config=config, baseline=base)
    merger.expect([("preds", 0), ("preds", 1)])
    end = float(d["t"].max())
    for part, (_, back) in states.items():
        merger.apply(label_partial(part, back.join.clock, end, True, back.states))
    live = {r["start_ts"]: r["performance"] for o in merger.ready() for _, r in o.records
            if r["segment"] == "all"}
    assert len(live) == 7  # every window the predictions' clock has passed
    for w0, perf in live.items():
        want = single.record(w0, w0 + 600.0, "all", "all")
        assert perf["predictions"] == PER_WINDOW
        assert perf["estimated"] == pytest.approx(want["estimated"], abs=1e-12)
    # a checkpoint of another baseline's prediction bins is refused, not mixed
    other = build_baseline(config, dump(tmp_path / "small.jsonl", [
        {"ts": float(i), "id": f"s{i}", "x": 1.0, "pred": float(i % 7), "y": 0.0}
        for i in range(600)]))
    with pytest.raises(ValueError, match="another baseline's regression error map"):
        restore(tracker_for(config, other), snapshot(single))


def test_rise_measurements_equal_scipy_on_the_same_rows(tmp_path: Path) -> None:
    d = data(tmp_path)
    config = cfg()
    base = build_baseline(config, d["train"])
    t = tracker_for(config, base)
    rows = np.flatnonzero((d["t"] >= 2400.0) & (d["t"] < 3000.0))  # the first shifted window
    ids = [f"p{i}" for i in rows.tolist()]
    t.add_predictions(d["t"][rows], ids, d["pred"][rows], None, {})
    est = {m.metric: m for m in drop_measurements(t, "prices", "10m", 2400.0, 3000.0, "all",
                                                  "all", None, "estimated", ["mae", "rmse"])}
    t.add_labels(d["t"][rows] + DELAY, ids, d["y"][rows])
    real = {m.metric: m for m in drop_measurements(t, "prices", "10m", 2400.0, 3000.0, "all",
                                                   "all", None, "realized", ["mae", "rmse",
                                                                             "accuracy"])}
    assert sorted(real) == ["mae", "rmse"]  # accuracy does not apply to regression
    e, r = np.abs(d["pred"][rows] - d["y"][rows]), np.abs(d["tp"] - d["ty"])
    n, n_ref = e.shape[0], r.shape[0]
    for metric, cur, ref in (("mae", e, r), ("rmse", e * e, r * r)):
        z = (cur.mean() - ref.mean()) / np.sqrt(cur.var() / n + ref.var() / n_ref)
        m = real[metric]
        assert m.p_value == pytest.approx(stats.norm.sf(z), rel=1e-6, abs=1e-300)
        want = cur.mean() / ref.mean() if metric == "mae" else np.sqrt(cur.mean() / ref.mean())
        assert m.value == pytest.approx(want - 1, abs=1e-9)
        assert (m.window, m.n, m.feature) == ("10m+labels", n, "realized")
        assert est[metric].value > 0.4 and est[metric].n == n and est[metric].window == "10m"
        assert est[metric].p_value is not None and est[metric].p_value < 1e-10
