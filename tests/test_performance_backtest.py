"""Backtest with delayed labels: exact join outcomes and exact realized metrics per window x
cohort (against numpy/scipy on the raw data), the baseline's reference and calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from scipy import stats

from driftline.sketches.calibration import Calibration
from driftline.sketches.performance import PerformanceState
from driftline.stream.config.model import parse_config
from driftline.stream.config.types import ConfigError
from driftline.stream.sources.backtest import run_backtest
from driftline.stream.sources.baselines import build_baseline

N = 3000
SIZE = 600.0


def config(tmp: Path, **model: Any) -> Any:
    return parse_config({
        "monitor": "credit", "source": {"event_time": {"field": "ts"}},
        "features": [{"name": "x", "type": "numeric"}], "segments": ["region"],
        "windows": {"size": "10m"},
        "model": {"prediction": "model.score", "id": "request_id", **model},
        "labels": {"id": "request_id", "label": "repaid", "time": "label_ts",
                   "max_delay": "1h"}})


def write(path: Path, rows: list[dict[str, Any]], extra: tuple[bytes, ...] = ()) -> Path:
    path.write_bytes(b"\n".join([orjson.dumps(r) for r in rows] + list(extra)) + b"\n")
    return path


def make_data(tmp: Path, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.uniform(0, 3600, N))
    region = rng.choice(["eu", "us"], N)
    x = rng.normal(0, 1, N)
    score = np.round(1 / (1 + np.exp(-(1.5 * x + rng.normal(0, 0.7, N)))), 4)
    y = (rng.uniform(0, 1, N) < 1 / (1 + np.exp(-1.5 * x))).astype(int)
    events = [{"ts": float(ts[i]), "request_id": f"r{i}", "region": str(region[i]),
               "x": float(x[i]), "model": {"score": float(score[i])}} for i in range(N)]
    ids = rng.permutation(N)
    on_time, early = ids[:2000], ids[2000:2300]  # the rest is never labelled
    dup = on_time[:50]
    delay = rng.uniform(1, 1800, N)
    labels = [{"request_id": f"r{i}", "repaid": int(y[i]), "label_ts": float(ts[i] + delay[i])}
              for i in on_time]
    labels += [{"request_id": f"r{i}", "repaid": bool(y[i]), "label_ts": float(ts[i] - 5)}
               for i in early]  # before the prediction (true/false labels)
    labels += [{"request_id": f"r{i}", "repaid": 1 - int(y[i]),
                "label_ts": float(ts[i] + delay[i] + 10)} for i in dup]  # later: ignored
    labels += [{"request_id": f"zz{k}", "repaid": 1, "label_ts": 100.0 + k} for k in range(7)]
    labels += [{"request_id": "r1", "repaid": "maybe", "label_ts": 50.0},
               {"repaid": 1, "label_ts": 60.0}]
    order = rng.permutation(len(labels))  # file order is not time order
    write(tmp / "labels.jsonl", [labels[i] for i in order],
          (b"garbage", b'{"request_id": "r2", "repaid": 1}'))
    write(tmp / "events.jsonl", events)
    labelled = np.zeros(N, bool)
    labelled[on_time] = labelled[early] = True
    clock = max(float(ts.max()), max(r["label_ts"] for r in labels
                                     if "request_id" in r and r["repaid"] != "maybe"))
    never = int(np.count_nonzero(~labelled & (ts + 3600 < clock)))
    return {"ts": ts, "region": region, "score": score, "y": y, "labelled": labelled,
            "never": never, "events": tmp / "events.jsonl", "labels": tmp / "labels.jsonl"}


def exact(d: dict[str, Any], rows: np.ndarray) -> dict[str, float]:
    s, y = d["score"][rows], d["y"][rows]
    yhat = s >= 0.5
    tp, fp = np.sum(yhat & (y == 1)), np.sum(yhat & (y == 0))
    fn = np.sum(~yhat & (y == 1))
    u = stats.mannwhitneyu(s[y == 1], s[y == 0]).statistic
    c = np.clip(s, 1e-15, 1 - 1e-15)
    return {"roc_auc": u / (np.sum(y == 1) * np.sum(y == 0)),
            "accuracy": float(np.mean(yhat == (y == 1))), "precision": tp / (tp + fp),
            "recall": tp / (tp + fn), "f1": 2 * tp / (2 * tp + fp + fn),
            "log_loss": float(-np.mean(y * np.log(c) + (1 - y) * np.log(1 - c))),
            "brier": float(np.mean((y - s) ** 2))}


def test_backtest_joins_labels_exactly(tmp_path: Path) -> None:
    d = make_data(tmp_path)
    cfg = config(tmp_path)
    rep = run_backtest(cfg, None, d["events"], alerting=False, labels=d["labels"])
    lab = rep["input"]["labels"]
    assert lab["events"] == 2300 + 50 + 7 + 2 + 2
    assert lab["dead_letters"] == {"invalid_json": 1, "missing_event_time": 1}
    out = lab["outcomes"]
    assert (out["joined"], out["joined_early"], out["duplicate"], out["unknown_id"],
            out["malformed"]) == (2000, 300, 50, 7, 4)
    assert out["never_labeled"] == d["never"]
    assert out["joined"] + out["joined_early"] + out["duplicate"] + out["unknown_id"] + \
        out["malformed"] == lab["events"]
    checked = 0
    for w in rep["windows"]:
        in_win = (d["ts"] >= w["start_ts"]) & (d["ts"] < w["end_ts"])
        for c in w["cohorts"]:
            rows = in_win if c["segment"] == "all" else in_win & (d["region"] == c["cohort"])
            perf = c["performance"]
            assert perf["predictions"] == int(np.count_nonzero(rows))
            joined = np.flatnonzero(rows & d["labelled"])
            assert perf["labeled"] == joined.shape[0]
            assert perf["coverage"] == pytest.approx(joined.shape[0] / np.count_nonzero(rows))
            want = exact(d, joined)
            bound = perf["realized"]["roc_auc_error_bound"]
            assert abs(perf["realized"].pop("roc_auc") - want.pop("roc_auc")) <= bound < 0.005
            for k, v in want.items():
                assert perf["realized"][k] == pytest.approx(v, abs=1e-9), (w["start"], k)
            assert perf["estimated"] == {}  # no baseline: no calibration
            checked += 1
    assert checked == 6 * 3
    assert rep["windows"][0]["cohorts"][0]["performance"]["status"] == "matured"


def test_baseline_stores_reference_and_calibration_per_cohort(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 4000
    x = rng.normal(0, 1, n)
    p = 1 / (1 + np.exp(-1.5 * x))
    region = np.where(np.arange(n) < 3500, "eu", "us")  # us: 500 rows < min_cohort_rows
    rows = [{"ts": float(i), "request_id": f"t{i}", "region": str(region[i]), "x": float(x[i]),
             "model": {"score": float(p[i])}, "repaid": int(rng.uniform() < p[i])}
            for i in range(n)]
    train = write(tmp_path / "train.jsonl", rows)
    base = build_baseline(config(tmp_path), train, min_cohort_rows=1000)
    assert sorted(base.attachments) == ["calibration:all=all", "calibration:region=eu",
                                        "performance:all=all", "performance:region=eu"]
    ref = PerformanceState.from_bytes(base.attachments["performance:all=all"])
    assert (ref.predictions, ref.labeled) == (n, n)
    cal = Calibration.from_bytes(base.attachments["calibration:all=all"])
    assert np.all(np.diff(cal.probabilities) >= 0)
    # the report's estimate and reference come from it; labelled windows get label drift
    d = make_data(tmp_path)
    rep = run_backtest(config(tmp_path), base, d["events"], alerting=False, labels=d["labels"])
    perf = rep["windows"][0]["cohorts"][0]["performance"]
    assert set(perf["estimated"]) >= {"roc_auc", "accuracy", "precision", "recall", "f1"}
    assert perf["reference"]["accuracy"] == pytest.approx(ref.realized()["accuracy"])
    assert perf["label_drift"]["n"] == perf["labeled"]
    assert perf["prediction_drift"]["psi"] is not None


def test_regression_backtest(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    ts = np.arange(1200.0)
    pred, y = rng.normal(10, 2, 1200), rng.normal(10, 2, 1200)
    write(tmp_path / "e.jsonl", [{"ts": t, "request_id": i, "x": 1.0, "region": "eu",
                                  "model": {"score": float(pred[i])}}
                                 for i, t in enumerate(ts.tolist())])
    write(tmp_path / "l.jsonl", [{"request_id": i, "repaid": float(y[i]),
                                  "label_ts": float(ts[i] + 30)} for i in range(0, 1200, 2)])
    rep = run_backtest(config(tmp_path, task="regression"), None, tmp_path / "e.jsonl",
                       alerting=False, labels=tmp_path / "l.jsonl")
    perf = rep["windows"][0]["cohorts"][0]["performance"]
    e = pred[0:600:2] - y[0:600:2]
    assert (perf["predictions"], perf["labeled"]) == (600, 300)
    assert perf["realized"]["mae"] == pytest.approx(np.abs(e).mean())
    assert perf["realized"]["rmse"] == pytest.approx(np.sqrt((e * e).mean()))
    assert perf["realized"]["bias"] == pytest.approx(e.mean())


def test_labels_need_model_and_a_time_for_backtest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="labels needs model"):
        parse_config({"monitor": "m", "features": [{"name": "x", "type": "numeric"}],
                      "labels": {"id": "a", "label": "b"}})
    cfg = parse_config({"monitor": "m", "features": [{"name": "x", "type": "numeric"}],
                        "source": {"event_time": {"field": "ts"}},
                        "model": {"prediction": "s", "id": "a"},
                        "labels": {"id": "a", "label": "b"}})
    p = write(tmp_path / "e.jsonl", [{"ts": 1, "x": 1, "s": 0.5, "a": "1"}])
    with pytest.raises(ValueError, match="labels.time"):
        run_backtest(cfg, None, p, alerting=False, labels=p)


def test_tracker_checkpoint_restore_is_exact(tmp_path: Path) -> None:
    """Snapshot mid-stream, restore into a fresh tracker, feed the rest: the same counters
    and records as one uninterrupted run (what a restart from a checkpoint relies on)."""
    from driftline.stream.performance.columns import tracker_for
    from driftline.stream.performance.state import restore, snapshot

    rng = np.random.default_rng(8)
    cfg = config(tmp_path)
    n = 4000
    t = np.sort(rng.uniform(0, 3600, n))
    ids = [f"r{i}" for i in range(n)]
    s = rng.uniform(0, 1, n)
    region = rng.choice(np.array(["eu", "us"], dtype=object), n)
    lt = t + rng.uniform(-30, 900, n)
    y = (rng.uniform(0, 1, n) < s).astype(float)
    lo = np.argsort(lt, kind="stable")

    def feed(tr: Any, a: int, b: int) -> None:  # predictions [a, b) then labels up to t[b-1]
        tr.add_predictions(t[a:b], ids[a:b], s[a:b], None, {"region": region[a:b]})
        sel = lo[(lt[lo] > (t[a - 1] if a else -np.inf)) & (lt[lo] <= t[b - 1])]
        tr.add_labels(lt[sel], [ids[i] for i in sel], y[sel])

    whole = tracker_for(cfg, None)
    for a in range(0, n, 500):
        feed(whole, a, a + 500)
    first = tracker_for(cfg, None)
    for a in range(0, 2000, 500):
        feed(first, a, a + 500)
    second = tracker_for(cfg, None)
    restore(second, snapshot(first))
    for a in range(2000, n, 500):
        feed(second, a, a + 500)
    assert second.counters() == whole.counters()
    assert second.counters()["pending"] > 0
    for start in range(0, 3600, 600):
        for seg, cohort in (("all", "all"), ("region", "eu"), ("region", "us")):
            assert (second.record(start, start + 600, seg, cohort)
                    == whole.record(start, start + 600, seg, cohort))


def test_join_sample_is_weighted_exactly_and_reports_effective_n(tmp_path: Path) -> None:
    """sample_rate 0.2 + keep_above 0.9: the kept pairs are exactly those the id hash (or the
    score) selects, weighted 1/0.2 and 1; the weighted metrics equal the exact weighted ones,
    stay close to the unsampled truth, and n_eff is Kish's."""
    from driftline.stream.performance.columns import tracker_for
    from driftline.stream.performance.join import in_sample

    raw = config(tmp_path).model_dump(mode="json", exclude_none=True)
    raw["labels"].update(sample_rate=0.2, keep_above=0.9)
    cfg = parse_config(raw)
    rng = np.random.default_rng(4)
    n = 20_000
    t = np.sort(rng.uniform(0, 600, n))
    ids = [f"q{i}" for i in range(n)]
    s = rng.uniform(0, 1, n)
    y = (rng.uniform(0, 1, n) < s).astype(float)
    tr = tracker_for(cfg, None)
    tr.add_predictions(t, ids, s, None, {"region": np.array(["eu"] * n, dtype=object)})
    tr.add_labels(t + 1.0, ids, y)
    hashed = np.array([in_sample(i, 0.2) for i in ids])
    kept = hashed | (s >= 0.9)
    w = np.where(s >= 0.9, 1.0, 5.0)[kept]  # 1 / inclusion probability
    c = tr.counters()
    assert (c["joined"], c["unsampled"]) == (int(kept.sum()), 2 * int((~kept).sum()))
    st = tr.state_for(0.0, 600.0, "all", "all")
    r = st.realized()
    yk, sk = y[kept], s[kept]
    assert st.predictions == n and st.labeled == int(kept.sum())
    assert r["accuracy"] == pytest.approx(np.sum(w * ((sk >= 0.5) == (yk == 1))) / w.sum())
    assert r["effective_n"] == pytest.approx(w.sum() ** 2 / (w * w).sum())
    assert r["effective_n"] < st.labeled
    full = float(np.mean((s >= 0.5) == (y == 1)))
    assert abs(r["accuracy"] - full) < 4 * np.sqrt(full * (1 - full) / r["effective_n"])
    rec = tr.record(0.0, 600.0, "all", "all")
    # coverage = the estimated labelled share (sum of weights / predictions): all are labelled
    assert rec["coverage"] == pytest.approx(min(w.sum() / n, 1.0))
    assert abs(w.sum() / n - 1.0) < 0.05


def test_baseline_without_labels_still_builds_and_says_why(tmp_path: Path) -> None:
    rows = [{"ts": float(i), "request_id": f"t{i}", "region": "eu", "x": 1.0,
             "model": {"score": 0.5}} for i in range(200)]
    base = build_baseline(config(tmp_path), write(tmp_path / "train.jsonl", rows))
    assert base.attachments == {}
    assert base.meta["model_quality"]["cohorts"] == []
    assert "no row has both a valid prediction" in base.meta["model_quality"]["skipped"]


def test_matured_windows_are_evicted_after_retention(tmp_path: Path) -> None:
    from driftline.stream.performance.columns import tracker_for

    raw = config(tmp_path).model_dump(mode="json", exclude_none=True)
    raw["labels"].update(max_delay="1h", retention="2h")
    tr = tracker_for(parse_config(raw), None)
    t = np.arange(0.0, 6 * 3600, 60.0)  # six hours, one prediction a minute
    tr.add_predictions(t, [str(i) for i in range(t.shape[0])], np.full(t.shape[0], 0.7), None,
                       {"region": np.array(["eu"] * t.shape[0], dtype=object)})
    assert {k[0] for k in tr.states} == set(np.arange(0.0, 6 * 3600, 600.0))
    assert tr.evict(2 * 3600.0) == 0  # no label read: no window has matured
    tr.advance_labels(float(t[-1]))  # every label there is has been read (an idle label stream)
    dropped = tr.evict(2 * 3600.0)
    # clock 21540 s: windows ending (start + 600) before 21540 - 3600 - 7200 are dropped
    kept = sorted({k[0] for k in tr.states})
    assert kept[0] == 10200.0 and dropped == 2 * 17  # 17 windows x (all, region=eu)
    assert tr.record(10200.0, 10800.0, "all", "all")["predictions"] == 10
