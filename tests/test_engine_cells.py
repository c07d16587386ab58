"""Cells: with two or more segments every event updates the profile of its cell (its cohort in
each segment) and the cohorts are merged from the cells when a window is emitted. The results
must be those of updating every segment's cohort directly: exact counts and bins, sketches
within their error; windows with too many cells split and stay exact; snapshots resume."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

import driftline.stream.engine.aggregator as aggregator_module
from driftline.stream.engine.core import Engine, RecordBatch
from driftline.stream.engine.framing import pack, unpack
from driftline.stream.engine.results import WindowResult
from tests.helpers_kafka_worker import exact_counts
from tests.test_engine_merge import assert_same_profile
from tests.test_engine_support import T0, columns, small_config, to_records


@pytest.fixture(autouse=True)
def _cells_from_the_first_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every window with two segments opens in cells, whatever its size."""
    monkeypatch.setattr(aggregator_module, "CELL_MIN_EVENTS", 0)


def _ingest(eng: Engine, recs: list[bytes], batch: int = 1000,
            first: int = 0) -> list[WindowResult]:
    """Ingest ``recs`` (offsets from ``first``) in batches; the windows that closed."""
    out: list[WindowResult] = []
    for lo in range(0, len(recs), batch):
        chunk = recs[lo:lo + batch]
        eng.ingest(RecordBatch("tx", 0, list(range(first + lo, first + lo + len(chunk))), None,
                               chunk))
        out += eng.tick()
    return out


def _index(results: list[WindowResult]) -> dict[tuple[str, float, str, str], Any]:
    return {(r.tier, r.start, c.segment, c.cohort): c.profile for r in results
            for c in r.cohorts}


def _per_segment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every window splits at once: the per-segment updates cells replace."""
    monkeypatch.setattr(aggregator_module, "MAX_CELLS", 0)


def _assert_same_results(a: list[WindowResult], b: list[WindowResult]) -> None:
    ia, ib = _index(a), _index(b)
    assert sorted(ia) == sorted(ib)
    for key in ia:
        assert_same_profile(ia[key], ib[key])


def _wide(n: int, regions: int, devices: int, seed: int = 3) -> tuple[list[bytes],
                                                                        dict[str, np.ndarray]]:
    cols = columns(n, seed=seed, rate=100.0)
    rng = np.random.default_rng(seed)
    cols["region"] = np.array([f"r{i}" for i in range(regions)], dtype=object)[
        rng.integers(0, regions, n)]
    cols["device"] = np.array([f"d{i}" for i in range(devices)], dtype=object)[
        rng.integers(0, devices, n)]
    return to_records(cols), cols


def test_cells_give_the_results_of_updating_each_segment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = small_config()
    recs = to_records(columns(18_000, seed=21, rate=100.0))  # 3 minutes
    cells = Engine(cfg)
    got = _ingest(cells, recs) + cells.flush()
    agg = cells.aggregators[("tx", 0)]
    assert agg.windows == {}
    _per_segment(monkeypatch)
    direct = Engine(cfg)
    want = _ingest(direct, recs) + direct.flush()
    _assert_same_results(got, want)
    assert len({r.start for r in got}) == 3


def test_a_window_with_more_cells_than_the_cap_splits_and_stays_exact(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = small_config(max_cohorts_per_segment=50)
    recs, cols = _wide(12_000, regions=30, devices=8)  # up to 240 cells per window
    eng = Engine(cfg)
    split_seen = False
    results: list[WindowResult] = []
    for lo in range(0, len(recs), 500):
        chunk = recs[lo:lo + 500]
        eng.ingest(RecordBatch("tx", 0, list(range(lo, lo + len(chunk))), None, chunk))
        for w in eng.aggregators[("tx", 0)].windows.values():
            assert w.cells is None or len(w.cells) <= aggregator_module.MAX_CELLS
            split_seen |= w.cells is None
        results += eng.tick()
    results += eng.flush()
    assert split_seen
    counts = {(r.start, c.segment, c.cohort): c.n for r in results for c in r.cohorts}
    assert counts == exact_counts(cols["ts"], 60.0, {"region": cols["region"],
                                                     "device": cols["device"]})
    _per_segment(monkeypatch)
    direct = Engine(cfg)
    _assert_same_results(results, _ingest(direct, recs, 500) + direct.flush())


def test_small_windows_skip_cells_and_large_ones_use_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aggregator_module, "CELL_MIN_EVENTS", 5000)
    recs = to_records(columns(18_000, seed=5, rate=100.0))  # 6,000 events a minute
    eng = Engine(small_config())
    agg = eng.aggregator("tx", 0)
    in_cells: dict[int, bool] = {}
    got: list[WindowResult] = []
    for lo in range(0, len(recs), 4000):  # each window opens with 2,000 or 4,000 events
        eng.ingest(RecordBatch("tx", 0, list(range(lo, lo + 4000)), None, recs[lo:lo + 4000]))
        in_cells.update((i, w.cells is not None) for i, w in agg.windows.items())
        got += eng.tick()
    got += eng.flush()
    # the first two open before any window closed; the third after a window of 6,000 events
    assert list(in_cells.values()) == [False, False, True]
    big = Engine(small_config())  # a batch that brings 5,000 events opens its window in cells
    big.ingest(RecordBatch("tx", 0, list(range(5000)), None, recs[:5000]))
    assert [w.cells is not None for w in big.aggregators[("tx", 0)].windows.values()] == [True]
    _per_segment(monkeypatch)
    direct = Engine(small_config())
    _assert_same_results(got, _ingest(direct, recs) + direct.flush())


def test_three_segments() -> None:
    cfg = small_config(segments=["region", "device", "plan"])
    cols = columns(9000, seed=4, rate=100.0)
    cols["plan"] = np.array(["free", "pro", "team"], dtype=object)[
        np.random.default_rng(4).integers(0, 3, 9000)]
    eng = Engine(cfg)
    results = _ingest(eng, to_records(cols)) + eng.flush()
    counts = {(r.start, c.segment, c.cohort): c.n for r in results for c in r.cohorts}
    assert counts == exact_counts(cols["ts"], 60.0, {s: cols[s] for s in
                                                     ("region", "device", "plan")})


def test_a_snapshot_in_cell_mode_resumes_exactly_and_version_1_snapshots_restore(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = small_config()
    recs = to_records(columns(9000, seed=8, rate=100.0))
    reference = Engine(cfg)
    want = _ingest(reference, recs) + reference.flush()

    first = Engine(cfg)
    _ingest(first, recs[:7500])  # mid-way through the second minute: open windows in cells
    agg = first.aggregators[("tx", 0)]
    assert any(w.cells for w in agg.windows.values())
    state = agg.snapshot()
    second = Engine(cfg)
    second.aggregator("tx", 0).restore(state)
    second.merger.restore(first.merger.snapshot())
    got = _ingest(second, recs[7500:], first=7500) + second.flush()
    early = [r for r in want if r.end <= T0 + 60]  # emitted before the snapshot
    _assert_same_results(early + got, want)

    # a version-1 snapshot (no cells, no routes) of the same point restores too
    _per_segment(monkeypatch)
    old = Engine(cfg)
    _ingest(old, recs[:7500])
    _, meta, blobs = unpack(old.aggregators[("tx", 0)].snapshot(), b"DLAG", {2})
    for w in meta["windows"]:
        assert w.pop("cells") is None
        w.pop("own")
    v1 = pack(b"DLAG", 1, orjson.loads(orjson.dumps(meta)), blobs)
    monkeypatch.undo()
    third = Engine(cfg)
    third.aggregator("tx", 0).restore(v1)
    third.merger.restore(old.merger.snapshot())
    got = _ingest(third, recs[7500:], first=7500) + third.flush()
    _assert_same_results(early + got, want)
