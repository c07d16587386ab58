"""The live performance merger: partition states merged once (a re-sent state replaces, never
adds), windows close / update / mature by the slowest partition, a restored snapshot goes on
exactly as the original, and the records equal a single tracker fed everything."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from driftline.stream.config.model import parse_config
from driftline.stream.performance.columns import tracker_for
from driftline.stream.performance.merge import PerformanceMerger, label_partial
from driftline.stream.performance.tracker import PerformanceTracker

CFG = parse_config({
    "monitor": "m", "features": [{"name": "x", "type": "numeric"}], "segments": ["region"],
    "windows": {"size": "1m"}, "model": {"prediction": "s", "id": "i"},
    "labels": {"id": "i", "label": "y", "max_delay": "2m"}})


def feed(t: PerformanceTracker, ts: np.ndarray, ids: list[str], s: np.ndarray,
         region: np.ndarray, y: np.ndarray, lt: np.ndarray) -> None:
    """Predictions and labels in event-time order, 10 s at a time."""
    order = np.argsort(lt, kind="stable")
    for a in np.arange(0.0, 500.0, 10.0):
        p = np.flatnonzero((ts >= a) & (ts < a + 10))
        t.add_predictions(ts[p], [ids[i] for i in p.tolist()], s[p], None,
                          {"region": region[p]})
        q = order[(lt[order] >= a) & (lt[order] < a + 10)]
        t.add_labels(lt[q], [ids[i] for i in q.tolist()], y[q])


def records(outs: list[Any]) -> dict[tuple[float, str, str, str], dict[str, Any]]:
    return {(r["start_ts"], r["segment"], r["cohort"], r["performance"]["status"]):
            r["performance"] for o in outs for _, r in o.records}


def test_merged_partitions_equal_one_tracker_and_resends_replace() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    ts = np.sort(rng.uniform(0, 300, n))
    s = np.round(rng.uniform(0, 1, n), 3)
    y = (rng.uniform(0, 1, n) < s).astype(float)
    region = rng.choice(["eu", "us", "apac"], n).astype(object)
    lt = ts + rng.uniform(1, 100, n)
    ids = [str(i) for i in range(n)]
    whole = tracker_for(CFG, None)
    feed(whole, ts, ids, s, region, y, lt)
    parts = [tracker_for(CFG, None) for _ in range(2)]
    for p, t in enumerate(parts):
        rows = np.arange(n) % 2 == p
        feed(t, ts[rows], [ids[i] for i in np.flatnonzero(rows)], s[rows], region[rows],
             y[rows], lt[rows])
    m = PerformanceMerger(config=CFG, baseline=None)
    m.expect([("preds", 0), ("preds", 1)])
    m.apply(label_partial(0, parts[0].join.clock, 300.0, True, parts[0].states))
    assert m.ready() == []  # partition 1 has not reported: nothing closes
    for p in (0, 1):  # partition 0 twice: its state replaces, it is not added again
        m.apply(label_partial(p, 150.0, 300.0, False, parts[p].states))
    half = records(m.ready())
    assert {k[0] for k in half} == {0.0, 60.0, 120.0, 180.0, 240.0}  # closed, none matured
    assert all(k[3] == "maturing" for k in half)
    # a snapshot restored into a new merger goes on exactly as the original
    copy = PerformanceMerger(config=CFG, baseline=None)
    copy.restore(m.snapshot())
    assert copy.view.latest == m.view.latest  # what /metrics shows, right after a takeover
    for merger in (m, copy):
        for p in (0, 1):
            merger.apply(label_partial(p, 10_000.0, 300.0, True, parts[p].states))
    final, again = records(m.ready()), records(copy.ready())
    assert final == again
    assert {k[3] for k in final} == {"matured"}
    for (w, seg, cohort, _), perf in final.items():
        expect = whole.record(w, w + 60.0, seg, cohort, {"eu", "us", "apac"})
        assert (perf["predictions"], perf["labeled"]) == (expect["predictions"],
                                                          expect["labeled"])
        assert perf["realized"] == pytest.approx(expect["realized"], abs=1e-12)
    assert sum(p["predictions"] for k, p in final.items() if k[1] == "all") == n
    assert m.sources == {0: {}, 1: {}} and not m.open  # matured windows leave the merger


CANARY = parse_config({
    "monitor": "m", "features": [{"name": "x", "type": "numeric"}],
    "segments": ["model_version"], "compare": {"segment": "model_version", "reference": "stable"},
    "windows": {"size": "1m"}, "model": {"prediction": "s", "id": "i"},
    "labels": {"id": "i", "label": "y", "max_delay": "1m"}})


def test_a_canary_is_measured_against_the_stable_cohort_of_the_same_window(tmp_path: Any
                                                                           ) -> None:
    """``compare:`` live: every other cohort of the segment gets ``performance.against`` and a
    ``check: performance`` measurement with ``reference: cohort:stable``; every measurement
    carries the baseline's version, and the canary's drop alerts."""
    from scipy import stats

    from driftline.alerts import Alerting
    from driftline.sketches.baseline import Baseline
    from driftline.sketches.column import Column
    from driftline.sketches.schema import NumericSpec

    rng = np.random.default_rng(11)
    n = 6000
    ts = np.sort(rng.uniform(0, 120, n))
    s = rng.uniform(0, 1, n)
    version = np.where(rng.uniform(0, 1, n) < 0.5, "stable", "canary").astype(object)
    truth = rng.uniform(0, 1, n)
    y = np.where(version == "stable", truth < s, truth < 0.5).astype(float)  # canary: a coin
    ids = [str(i) for i in range(n)]
    t = tracker_for(CANARY, None)
    for a in np.arange(0.0, 130.0, 10.0):  # labels 1 s after their prediction
        p = np.flatnonzero((ts >= a) & (ts < a + 10))
        t.add_predictions(ts[p], [ids[i] for i in p.tolist()], s[p], None,
                          {"model_version": version[p]})
        q = np.flatnonzero((ts + 1 >= a) & (ts + 1 < a + 10))
        t.add_labels(ts[q] + 1, [ids[i] for i in q.tolist()], y[q])
    ref = t.new_state()
    ref.add_predictions(s, s >= 0.5)
    ref.add_labels(s, s >= 0.5, y)
    base = Baseline.build([NumericSpec("x")], {"x": Column(s)}, bins=4)
    base.attachments["performance:all=all"] = ref.to_bytes()
    m = PerformanceMerger(config=CANARY, baseline=base)
    m.expect([("preds", 0)])
    m.apply(label_partial(0, 10_000.0, 10_000.0, True, t.states))
    outs = m.ready()
    recs = records(outs)
    assert sorted(k for k, p in recs.items() if "against" in p) == [
        (0.0, "model_version", "canary", "matured"), (60.0, "model_version", "canary", "matured")]
    ms = [x for o in outs for batch in o.alerts for x in batch]
    assert {x.details["baseline_version"] for x in ms} == {base.version}
    assert {(x.reference, x.window) for x in ms} == {("training", "1m+labels"),
                                                      ("cohort:stable", "1m+labels")}
    for w in (0.0, 60.0):
        rows = (ts >= w) & (ts < w + 60)
        acc = {v: float(np.mean((s[rows & (version == v)] >= 0.5) == y[rows & (version == v)]))
               for v in ("stable", "canary")}
        n_v = {v: int(np.sum(rows & (version == v))) for v in ("stable", "canary")}
        against = recs[(w, "model_version", "canary", "matured")]["against"]
        stable = recs[(w, "model_version", "stable", "matured")]
        assert against["reference"] == "cohort:stable"
        assert against["effective_n"] == n_v["stable"]
        assert against["realized"]["accuracy"] == pytest.approx(acc["stable"], abs=1e-12)
        assert against["realized"]["roc_auc"] == stable["realized"]["roc_auc"]
        assert against["drop"]["accuracy"] == pytest.approx(acc["stable"] - acc["canary"],
                                                            abs=1e-12)
        pooled = (acc["stable"] * n_v["stable"] + acc["canary"] * n_v["canary"]) / (
            n_v["stable"] + n_v["canary"])
        z = (acc["stable"] - acc["canary"]) / np.sqrt(
            pooled * (1 - pooled) * (1 / n_v["stable"] + 1 / n_v["canary"]))
        assert against["p_raw"]["accuracy"] == pytest.approx(stats.norm.sf(z), rel=1e-9)
        window = [x for x in ms if x.window_start == w]  # one window's batch, adjusted together
        q = stats.false_discovery_control([x.details["p_raw"] for x in window])
        mine = [i for i, x in enumerate(window) if x.reference == "cohort:stable"]
        assert [against["p_value"][window[i].metric] for i in mine] == pytest.approx(
            [q[i] for i in mine], rel=1e-9)
    alerting = Alerting.from_config(CANARY, state_dir=tmp_path, deliver=False)
    events = [e for o in outs for batch in o.alerts for e in alerting.observe_window(batch)]
    firing = {(e.cohort, e.metric, e.reference) for e in events if e.state == "firing"}
    # one alert per key (the worst metric's drop): the canary below stable and below training
    assert firing == {("canary", "roc_auc", "cohort:stable"), ("canary", "roc_auc", "training")}
    assert all(e.details["baseline_version"] == base.version for e in events)
