"""Event-time windows: watermark, allowed lateness, late counting, idle partitions, and the
top-K cohort cap under adversarial cardinality."""

from __future__ import annotations

import numpy as np
import orjson

from driftline.sketches.column import Column
from driftline.stream.decode.categories import encode_categories
from driftline.stream.decode.decoder import DecodedBatch
from driftline.stream.engine.cohorts import OTHER
from driftline.stream.engine.core import Engine, RecordBatch
from tests.test_engine_support import T0, small_config


def _rec(t: float, x: float = 1.0, region: str = "eu") -> bytes:
    return orjson.dumps({"ts": t, "x": x, "region": region})


def _config(**windows: object):  # type: ignore[no-untyped-def]
    return small_config(
        features=[{"name": "x", "type": "numeric"}], segments=["region"],
        windows={"size": "1m", **windows})


def _events(results, tier="1m"):  # type: ignore[no-untyped-def]
    return {r.start - T0: r.cohort("all", "all").n for r in results if r.tier == tier}


def test_late_events_are_counted_and_never_mixed_in_independent_of_batching() -> None:
    times = [5, 65, 30, 75, 20, 59, 119, 61, 130]
    # watermark = max - 10 s: 30 arrives before window 0 closes (wm 55); after 75 (wm 65)
    # window 0 is closed: 20 and 59 are late; 61 is still on time for window 1.
    outcomes = []
    for batch_size in (len(times), 1, 4):
        eng = Engine(_config(allowed_lateness="10s"))
        late = 0
        results = []
        for i in range(0, len(times), batch_size):
            chunk = times[i:i + batch_size]
            rep = eng.ingest(RecordBatch("tx", 0, list(range(i, i + len(chunk))), None,
                                         [_rec(T0 + t) for t in chunk]))
            late += rep.late
            results += eng.tick()
        results += eng.flush()
        assert late == 2
        assert eng.counters()["tx"]["late"] == 2
        outcomes.append(_events(results))
    assert outcomes[0] == outcomes[1] == outcomes[2] == {0: 2, 60: 4, 120: 1}


def test_windows_wait_for_every_partition_and_idle_partitions_advance_by_wall_clock() -> None:
    eng = Engine(_config(allowed_lateness="0s", idle_timeout="30s"), max_wait=1e9)
    eng.ingest(RecordBatch("tx", 1, [0], None, [_rec(T0 + 10)]), now=1000.0)
    eng.ingest(RecordBatch("tx", 0, [0, 1], None, [_rec(T0 + 20), _rec(T0 + 130)]), now=1001.0)
    # partition 1 is behind: window [0, 60) cannot close yet
    assert eng.tick(now=1010.0) == []
    # 40 s of silence on partition 1 (> idle_timeout): its watermark follows the wall clock
    # from its last event (T0 + 10 + 40 s < 60): still open
    assert eng.tick(now=1040.0) == []
    # at 1055 s partition 1's watermark is T0 + 65: window 0 closes with both partitions' data
    results = eng.tick(now=1055.0)
    assert _events(results) == {0: 2}
    assert _events(eng.flush()) == {120: 1}


def test_replayed_batches_do_not_count_twice() -> None:
    eng = Engine(_config(allowed_lateness="0s"))
    recs = [_rec(T0 + t) for t in range(100)]
    eng.ingest(RecordBatch("tx", 0, list(range(60)), None, recs[:60]))
    rep = eng.ingest(RecordBatch("tx", 0, list(range(40, 100)), None, recs[40:]))
    assert (rep.skipped, rep.events) == (20, 40)
    assert _events(eng.flush()) == {0: 60, 60: 40}


def test_cohort_cap_holds_under_a_million_distinct_values_with_bounded_memory() -> None:
    cfg = small_config(features=[{"name": "x", "type": "numeric"}], segments=["user"],
                       max_cohorts_per_segment=5, windows={"size": "1m",
                                                           "allowed_lateness": "0s"})
    eng = Engine(cfg)
    rng = np.random.default_rng(0)
    heavy = np.array(["eu", "us", "ap"], dtype=object)
    n_batch, batches = 100_000, 10
    biggest_window = 0
    for b in range(batches):
        ids = np.array([f"user-{b}-{i}" for i in range(n_batch)], dtype=object)
        is_heavy = rng.random(n_batch) < 0.3
        values = np.where(is_heavy, heavy[rng.integers(0, 3, n_batch)], ids)
        d = DecodedBatch(
            np.arange(n_batch), T0 + b * 30 + np.arange(n_batch) * (30 / n_batch),
            {"x": Column(rng.normal(size=n_batch), np.zeros(n_batch, bool),
                         np.zeros(n_batch, bool))},
            {}, {"user": encode_categories(values.tolist())})
        eng.ingest_decoded("tx", 0, d)
        for agg in eng.aggregators.values():
            for w in agg.windows.values():
                biggest_window = max(biggest_window, len(w.profiles))
        eng.tick()
    eng.flush()
    reg = eng.cohorts["user"]
    assert set(reg.admitted) == {"eu", "us", "ap"}  # the heavy hitters, no ID took a slot
    assert set(reg.active) == set(reg.admitted)  # state: one number per admitted value
    agg = eng.aggregators[("tx", 0)]
    # admitted cohorts + other values tracked until the merger decides + __other__ + global
    assert biggest_window <= 5 + agg.local_cap + 2
    results = eng.merger.acc  # no rollups configured: nothing accumulates
    assert results == {}


def test_cohorts_beyond_the_cap_go_to_other_and_stay_stable() -> None:
    cfg = small_config(features=[{"name": "x", "type": "numeric"}], segments=["region"],
                       max_cohorts_per_segment=2, windows={"size": "1m",
                                                           "allowed_lateness": "0s"})
    eng = Engine(cfg)
    regions = ["eu"] * 50 + ["us"] * 30 + ["ap"] * 15 + ["latam"] * 5
    recs = [_rec(T0 + i * 0.5, region=r) for i, r in enumerate(regions)]
    # a second minute where "ap" becomes the biggest region: admitted cohorts do not change
    recs += [_rec(T0 + 60 + i * 0.5, region="ap") for i in range(100)]
    eng.ingest(RecordBatch("tx", 0, list(range(len(recs))), None, recs))
    results = eng.flush()
    first, second = results
    assert {(c.segment, c.cohort): c.n for c in first.cohorts} == {
        ("all", "all"): 100, ("region", "eu"): 50, ("region", "us"): 30,
        ("region", OTHER): 20}
    assert {(c.segment, c.cohort): c.n for c in second.cohorts} == {
        ("all", "all"): 100, ("region", OTHER): 100}


def test_last_seen_tracks_topics_features_with_values_and_cohorts() -> None:
    eng = Engine(_config(allowed_lateness="0s"))
    recs = [_rec(T0 + 1, region="eu"), _rec(T0 + 5, region="us"),
            orjson.dumps({"ts": T0 + 9, "region": "eu"})]  # x missing in the last event
    eng.ingest(RecordBatch("tx", 0, [0, 1, 2], None, recs))
    seen = eng.last_seen()
    assert seen["topic:tx"] == T0 + 9
    assert seen["feature:x"] == T0 + 5  # the last non-null value
    assert (seen["cohort:region=eu"], seen["cohort:region=us"]) == (T0 + 9, T0 + 5)


def test_a_partition_that_never_receives_data_does_not_block_windows_forever() -> None:
    cfg = _config(allowed_lateness="0s", idle_timeout="10s")
    eng = Engine(cfg)  # max_wait = lateness + 2 * idle_timeout = 20 s
    eng.assign([("tx", 0), ("tx", 1)])
    eng.ingest(RecordBatch("tx", 0, [0, 1], None, [_rec(T0 + 5), _rec(T0 + 70)]), now=100.0)
    assert eng.tick(now=100.0) == []  # tx/1 has said nothing yet
    assert eng.tick(now=119.0) == []
    assert _events(eng.tick(now=121.0)) == {0: 1}  # tx/1 silent for max_wait: not waited for


def test_a_worker_aggregator_keeps_the_mergers_admitted_values_apart_past_its_local_cap() -> None:
    """In the Kafka worker the aggregators hold at most ``local_cap`` raw values per window;
    values the merger admitted always get their own profile, even when a flood of other
    values came first (else their events would be in ``__other__`` for that window)."""
    from driftline.sketches.schema import NumericSpec, ProfileSchema
    from driftline.stream.decode.decoder import Decoder, FieldSpec
    from driftline.stream.engine.aggregator import PartitionAggregator
    from driftline.stream.engine.cohorts import AdmittedView, Cohorts

    merger = Cohorts(["user"], 5)
    merger["user"].observe_window({"heavy": 1000, "id-0": 500})
    assert set(merger["user"].admitted) == {"heavy", "id-0"}
    n_ids, n_heavy = 50, 30
    values = [f"id-{i}" for i in range(n_ids)] + ["heavy"] * n_heavy
    d = DecodedBatch(np.arange(len(values)), T0 + np.arange(len(values), dtype=float),
                     {"x": Column(np.ones(len(values)), np.zeros(len(values), bool),
                                  np.zeros(len(values), bool))},
                     {}, {"user": encode_categories(values)})
    got = {}
    for name, view in (("hinted", AdmittedView(lambda: [merger])), ("plain", None)):
        agg = PartitionAggregator("tx", 0, ProfileSchema((NumericSpec("x"),)),
                                  Decoder([FieldSpec("x", "numeric")], ["user"], "ts"),
                                  window_size=3600, cohorts=view, local_cap=3)
        agg.ingest_decoded(d)
        (partial,) = agg.flush()
        got[name] = {k[1]: p.events for k, p in partial.profiles.items() if k[0] == "user"}
    # hinted: the admitted values (heavy, id-0) and the first 3 others have their own profile
    assert got["hinted"] == {"heavy": n_heavy, "id-0": 1, "id-1": 1, "id-2": 1, "id-3": 1,
                             OTHER: n_ids - 4}
    # plain: the busiest value of the batch gets a local slot first, then the first IDs
    assert got["plain"] == {"heavy": n_heavy, "id-0": 1, "id-1": 1, OTHER: n_ids - 2}
    assert sum(got["hinted"].values()) == sum(got["plain"].values()) == len(values)
