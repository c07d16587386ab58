"""The Prometheus exporter renders the metric contract from current state; promtool accepts it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest

from driftline.alerts import Alerting
from driftline.stream.config.model import parse_config
from driftline.stream.engine.core import Engine, RecordBatch
from driftline.stream.monitor.core import Monitor
from driftline.stream.monitor.exporter import DriftlineCollector, serve
from driftline.stream.monitor.freshness import FreshnessClock
from driftline.stream.sources.baselines import build_baseline
from tests.test_engine_support import T0, columns, config_dict, to_records

RATE = 50.0


def _series(text: str, name: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith(name + "{") or ln == name]


def _promtool(text: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (apt-get install -y prometheus)"
    res = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                         capture_output=True, timeout=60)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d: Path = tmp_path_factory.mktemp("exporter")
    data = config_dict(freshness=[{"topic": "tx", "max_staleness": "5m"},
                                  {"feature": "x", "max_staleness": "1h"}])
    cfg = parse_config(data)
    train = d / "train.jsonl"
    train.write_bytes(b"\n".join(to_records(columns(30_000, seed=1, rate=RATE,
                                                    t0=T0 - 86_400))))
    base = build_baseline(cfg, train, min_cohort_rows=2000)
    return cfg, base


def test_exposition_follows_the_contract_and_passes_promtool(setup) -> None:  # type: ignore[no-untyped-def]
    cfg, base = setup
    cols = columns(30_000, seed=2, rate=RATE)  # 10 minutes
    hit = (cols["ts"] >= T0 + 180) & (cols["ts"] < T0 + 300) & (cols["region"] == "latam")
    cols["x"] = np.where(hit, cols["x"] + 1.5, cols["x"])
    recs = to_records(cols)
    recs[10] = b"{not json"
    alerting = Alerting.from_config(cfg, deliver=False)
    now = [T0 + 310.0]
    fresh = FreshnessClock(cfg.monitor, cfg.freshness, clock=lambda: now[0])
    monitor = Monitor(Engine(cfg, base), alerting)
    collector = DriftlineCollector(monitor, freshness=fresh, lag=lambda: {("tx", 0): 42})
    server = serve(collector, "127.0.0.1", 0)
    url = f"http://{server[0]}:{server[1]}/metrics"
    try:
        # minutes 0-5: the shift in latam fires
        monitor.ingest(RecordBatch("tx", 0, list(range(15_500)), None, recs[:15_500]))
        monitor.tick()
        fresh.observe_topic("tx", T0 + 309.0)
        text = httpx.get(url, timeout=10).text
        _promtool(text)
        active = _series(text, "driftline_alert_active")
        assert active == [
            'driftline_alert_active{check="drift",cohort="latam",feature="x",'
            'monitor="test-model",reference="training",segment="region",severity="critical",'
            'window="1m"} 1.0']
        assert ('driftline_alerts_firing{monitor="test-model",severity="critical"} 1.0'
                in text)
        psi = [ln for ln in _series(text, "driftline_drift_score")
               if 'cohort="latam"' in ln and 'feature="x"' in ln and 'metric="psi"' in ln]
        assert len(psi) == 1 and float(psi[0].rsplit(" ", 1)[1]) > 0.2
        assert ('driftline_events_invalid_total{monitor="test-model",reason="invalid_json",'
                'topic="tx"} 1.0') in text
        assert 'driftline_events_total{monitor="test-model",topic="tx"} 15500.0' in text
        (end,) = _series(text, "driftline_window_end_timestamp_seconds")
        assert end.startswith('driftline_window_end_timestamp_seconds{monitor="test-model",'
                              'window="1m"} ') and float(end.rsplit(" ", 1)[1]) == T0 + 300
        assert ('driftline_staleness_seconds{kind="topic",monitor="test-model",'
                'rule="topic:tx",target="tx"} 1.0') in text
        assert ('driftline_staleness_sla_seconds{kind="topic",monitor="test-model",'
                'rule="topic:tx",target="tx"} 300.0') in text
        assert ('driftline_consumer_lag_records{monitor="test-model",partition="0",'
                'topic="tx"} 42.0') in text
        assert 'driftline_cohorts{monitor="test-model",segment="region"} 4.0' in text
        assert _series(text, "driftline_feature_quantile")
        q = [ln for ln in _series(text, "driftline_feature_quantile")
             if 'cohort="all"' in ln and 'feature="amount"' in ln]
        assert {ln.split('quantile="')[1].split('"')[0] for ln in q} == {
            "0.05", "0.25", "0.5", "0.75", "0.95"}
        assert {ln.split('source="')[1].split('"')[0] for ln in q} == {"current", "baseline"}
        kinds = {ln.split('kind="')[1].split('"')[0]
                 for ln in _series(text, "driftline_quality_ratio")}
        assert kinds == {"null", "nan", "out_of_range", "unseen", "invalid"}
        assert 'driftline_evaluation_duration_seconds_count{monitor="test-model",window="1m"}' \
            in text
        assert 'driftline_build_info{version="' in text
        assert ('driftline_window_events{cohort="all",monitor="test-model",segment="all",'
                'window="1m"} 3000.0') in text
        # minutes 5-10 are clean: the alert resolves and its series disappears
        monitor.ingest(RecordBatch("tx", 0, list(range(15_500, 30_000)), None, recs[15_500:]))
        monitor.tick()
        monitor.flush()
        text = httpx.get(url, timeout=10).text
        _promtool(text)
        assert _series(text, "driftline_alert_active") == []
        assert ('driftline_alerts_firing{monitor="test-model",severity="critical"} 0.0'
                in text)
    finally:
        server.close()
