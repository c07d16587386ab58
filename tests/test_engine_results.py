"""WindowResult serializations and the measurements alerting consumes."""

from __future__ import annotations

import orjson
import pytest

from driftline.sketches.baseline import Baseline
from driftline.stream.engine.core import Engine, RecordBatch
from driftline.stream.engine.results import WindowResult
from driftline.stream.monitor.measurements import QUALITY_KINDS, to_measurements
from driftline.stream.sources.baselines import build_baseline
from tests.test_engine_support import T0, columns, small_config, to_records


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> WindowResult:
    path = tmp_path_factory.mktemp("res") / "train.jsonl"
    path.write_bytes(b"\n".join(to_records(columns(12_000, seed=1, rate=50.0,
                                                   t0=T0 - 86_400))))
    base: Baseline = build_baseline(small_config(), path, min_cohort_rows=2000)
    eng = Engine(small_config(), base)
    recs = to_records(columns(3000, seed=3, rate=50.0))
    eng.ingest(RecordBatch("tx", 0, list(range(3000)), None, recs))
    (res,) = eng.flush()
    return res


def test_json_records_one_per_cohort_with_the_design_fields(result: WindowResult) -> None:
    records = result.to_json_records()
    assert [(r["segment"], r["cohort"]) for r in records] == [
        ("all", "all"), ("device", "android"), ("device", "ios"), ("device", "web"),
        ("region", "ap"), ("region", "eu"), ("region", "latam"), ("region", "us")]
    glob = records[0]
    assert (glob["monitor"], glob["tier"], glob["n"]) == ("test-model", "1m", 3000)
    assert glob["start"] == "2023-11-14T22:00:00Z" and glob["end_ts"] == T0 + 60
    assert glob["expected_events"] == pytest.approx(3000, rel=1e-3)
    by_name = {f["name"]: f for f in glob["features"]}
    assert by_name["x"]["chi2"] is None and by_name["merchant"]["ks"] is None
    assert by_name["x"]["status"] == "ok" and by_name["x"]["metric"] == "psi"
    assert by_name["amount"]["quantiles"]["levels"] == [0.05, 0.25, 0.5, 0.75, 0.95]
    orjson.dumps(records)  # JSON-ready: no NaN objects, no numpy scalars


def test_measurements_cover_drift_quality_and_volume(result: WindowResult) -> None:
    ms = to_measurements(result)
    cohorts = len(result.cohorts)
    drift = [m for m in ms if m.check == "drift"]
    quality = [m for m in ms if m.check == "quality"]
    volume = [m for m in ms if m.check == "volume"]
    # numeric: psi ks js wasserstein; categorical: psi js chi2
    assert len(drift) == cohorts * (3 * 4 + 2 * 3)
    assert len(quality) == cohorts * 5 * len(QUALITY_KINDS)
    assert len(volume) == cohorts
    psi = next(m for m in drift if m.metric == "psi" and m.feature == "x"
               and m.segment == "all")
    assert psi.p_value is not None and 0 <= psi.p_value <= 1 and psi.n == 3000
    assert psi.m == 12_000 and psi.window == "1m" and psi.window_end == T0 + 60
    assert psi.details["contributions"] and "quantiles" in psi.details
    vol = next(m for m in volume if m.segment == "all")
    assert vol.value == 3000 and vol.details["expected"] == pytest.approx(3000, rel=1e-3)
