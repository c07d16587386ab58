"""Cohort admission needs sustained traffic and lets cohorts age out (issue 10 item 3): a
burst of 30k unique segment values (n=1 each) never holds a slot, and ``eu``/``us`` traffic
that follows gets its own cohorts within one window, with exact counts everywhere (the
values without a cohort count in ``all`` and ``__other__``). The same scenario through a real
broker is in ``tests/test_worker_poison_restart.py``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import orjson

from driftline.stream.config.model import parse_config
from driftline.stream.engine.cohorts import OTHER, CohortRegistry
from driftline.stream.sources.backtest import run_backtest
from tests.poison_corpus import T0, cohort_scenario


def _config(**over: object) -> object:
    return parse_config({
        "monitor": "cohorts",
        "source": {"event_time": {"field": "ts", "unit": "s"}},
        "features": [{"name": "x_normal", "type": "numeric"},
                     {"name": "channel", "type": "categorical"}],
        "segments": ["region"],
        "windows": {"size": "10s", "allowed_lateness": "0s"},
        **over,
    })


def test_a_burst_of_unique_values_never_holds_slots_and_eu_us_get_cohorts(
        tmp_path: Path) -> None:
    records, times, regions = cohort_scenario()
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(records))
    report = run_backtest(_config(), None, path, alerting=False)
    got = {(w["start_ts"], c["cohort"]): c["n"] for w in report["windows"]
           for c in w["cohorts"] if c["segment"] in ("region", "all")}
    starts = np.floor(np.asarray(times) / 10) * 10
    want: Counter[tuple[float, str]] = Counter()
    for s, r in zip(starts.tolist(), regions, strict=True):
        want[(s, "all")] += 1
        want[(s, r if r in ("eu", "us") else OTHER)] += 1
    # eu and us have their own cohort from the first window of their traffic (T0: ids first,
    # then eu/us from T0 + 5 s), no ID ever has one, and every count is exact
    assert got == dict(want)
    assert {c for _, c in got} == {"all", "eu", "us", OTHER}
    assert got[(T0, OTHER)] == 30_000


def test_cohorts_age_out_and_free_their_slots() -> None:
    reg = CohortRegistry(2, min_events=20, expire_after=3)
    assert reg.observe_window({"a": 100, "b": 100}) == ["a", "b"]
    for _ in range(2):  # b is quiet, c is busy but no slot is free
        assert reg.observe_window({"a": 100, "c": 100}) == []
    assert reg.observe_window({"a": 100, "c": 100}) == ["c"]  # b's 3rd quiet window
    assert set(reg.admitted) == {"a", "c"}
    # a restored registry keeps the ages (and older states without them restore too)
    again = CohortRegistry.from_state(orjson.loads(orjson.dumps(reg.state())))
    assert (again.admitted, again.active, again.windows) == (reg.admitted, reg.active, 4)
    old = CohortRegistry.from_state({"max_cohorts": 2, "admitted": ["a"], "min_share": 0.05,
                                     "traffic": {"a": 5}, "total": 5})
    assert (list(old.admitted), old.min_events) == (["a"], 20)


def test_a_value_needs_min_events_and_min_share_of_its_window() -> None:
    reg = CohortRegistry(50, min_events=20)  # min_share 1/500
    assert reg.observe_window({"a": 19, OTHER: 10}) == []  # too few events
    assert reg.observe_window({"a": 25, OTHER: 100_000}) == []  # 0.025 % of the window
    assert reg.observe_window({"a": 250, OTHER: 100_000}) == ["a"]
    assert reg.observe_window({"b": 20, OTHER: 20}) == ["b"]


def test_cohort_settings_come_from_the_config() -> None:
    from driftline.stream.engine.core import Engine

    eng = Engine(_config(cohorts={"min_events": 5, "min_share": 0.5, "expire_after": 2}))
    reg = eng.cohorts["region"]
    assert (reg.min_events, reg.min_share, reg.expire_after) == (5, 0.5, 2)
