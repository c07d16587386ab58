"""Prometheus metrics of model quality: exact values from a tracker fed directly."""

from __future__ import annotations

import numpy as np
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from driftline.stream.config.labels import LabelsConfig, ModelConfig
from driftline.stream.monitor.performance_metrics import PerformanceCollector
from driftline.stream.performance.join import LAG_BUCKETS
from driftline.stream.performance.tracker import PerformanceTracker


def scrape(reg: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(generate_latest(reg).decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_performance_metrics_exact() -> None:
    t = PerformanceTracker(model=ModelConfig(prediction="s", id="i"),
                           labels=LabelsConfig(id="i", label="y", max_delay=3600),
                           window_size=60.0, segments=["region"])
    s = np.array([0.9, 0.8, 0.3, 0.2, 0.6, 0.4])
    ids = [f"p{k}" for k in range(6)]
    t.add_predictions(np.arange(6.0), ids, s, None,
                      {"region": np.array(["eu", "eu", "eu", "us", "us", "us"], dtype=object)})
    t.add_labels(np.array([10.0, 20.0, 30.0, 40.0, 41.0, 42.0]),
                 ["p0", "p1", "p2", "p3", "p0", "zz"], np.array([1.0, 0.0, 0.0, 0.0, 1.0, 1.0]))
    t.finish()
    t.publish("realized", "1m", 0.0, 60.0, "all", "all")
    reg = CollectorRegistry()
    reg.register(PerformanceCollector(monitor="m", tracker=t))
    got = scrape(reg)
    base = (("cohort", "all"), ("kind", "realized"), ("monitor", "m"), ("segment", "all"),
            ("window", "1m"))
    acc = got[("driftline_model_performance", tuple(sorted((*base, ("metric", "accuracy")))))]
    assert acc == 0.75  # p0 right, p1 wrong, p2 right, p3 right
    cov = got[("driftline_label_coverage", (("cohort", "all"), ("monitor", "m"),
                                            ("segment", "all"), ("window", "1m")))]
    assert cov == 4 / 6
    outcome = {k[1][1][1]: v for k, v in got.items() if k[0] == "driftline_labels_total"}
    assert (outcome["joined"], outcome["duplicate"], outcome["unknown_id"]) == (4, 1, 1)
    assert got[("driftline_label_lag_seconds_count", (("monitor", "m"),))] == 4
    assert got[("driftline_label_lag_seconds_sum", (("monitor", "m"),))] == 10 + 19 + 28 + 37
    le60 = got[("driftline_label_lag_seconds_bucket", (("le", "60.0"), ("monitor", "m")))]
    assert le60 == 4 and LAG_BUCKETS[1] == 60.0
    assert got[("driftline_label_pending", (("monitor", "m"), ("state", "predictions")))] == 2
