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
