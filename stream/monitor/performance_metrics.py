"""Prometheus metrics of model quality, rendered from a
:class:`~stream.performance.PerformanceTracker` at scrape time (no stale series).

``window`` is the window tier, as on every driftline metric.

======================================  =========================================================
metric                                  labels / meaning
======================================  =========================================================
``driftline_model_performance``         monitor, window, segment, cohort, kind (realized |
                                        estimated), metric: the newest window's value
``driftline_model_performance_reference``  monitor, segment, cohort, metric: the baseline's
``driftline_label_coverage``            monitor, window, segment, cohort: labelled share of the
                                        newest matured window's predictions
``driftline_labels``                    counter; monitor, outcome: label join outcomes
                                        (joined, joined_early, duplicate, unknown_id, malformed,
                                        never_labeled, duplicate_prediction, unsampled)
``driftline_label_pending``             monitor, state (predictions | labels): join state size
``driftline_label_lag_seconds``         histogram; monitor: label time - prediction time
======================================  =========================================================

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> from driftline.stream.config.labels import ModelConfig, LabelsConfig
>>> t = PerformanceTracker(model=ModelConfig(prediction="s", id="i"),
...     labels=LabelsConfig(id="i", label="y"), window_size=60.0)
>>> reg = CollectorRegistry(); reg.register(PerformanceCollector(monitor="m", tracker=t))
>>> b'driftline_labels_total{monitor="m",outcome="joined"} 0.0' in generate_latest(reg)
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from driftline.stream.performance.join import LAG_BUCKETS
from driftline.stream.performance.tracker import PerformanceTracker


def _ok(x: object) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


class PerformanceCollector(Collector):
    """Renders the tracker's newest records and join counters; see the module doc."""

    def __init__(self, *, monitor: str, tracker: PerformanceTracker) -> None:
        self.monitor = monitor
        self.tracker = tracker

    def describe(self) -> list[object]:  # type: ignore[override]
        return []

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily
                                  | HistogramMetricFamily]:
        yield from model_families(self.monitor, [self.tracker])
        yield from join_families(self.monitor, [self.tracker])


def model_families(monitor: str, trackers: list[PerformanceTracker]
                   ) -> Iterator[GaugeMetricFamily]:
    """Performance, reference and label coverage of the newest published records of
    ``trackers`` (on Kafka: the label merger's merged view)."""
    mon = monitor
    perf = GaugeMetricFamily(
        "driftline_model_performance",
        "Model performance of the newest window (realized or estimated).",
        labels=["monitor", "window", "segment", "cohort", "kind", "metric"])
    ref = GaugeMetricFamily("driftline_model_performance_reference",
                            "The baseline's reference performance.",
                            labels=["monitor", "segment", "cohort", "metric"])
    cov = GaugeMetricFamily("driftline_label_coverage",
                            "Labelled share of the newest matured window's predictions.",
                            labels=["monitor", "window", "segment", "cohort"])
    refs_done: set[tuple[str, str]] = set()
    for t in trackers:
        for (tier, seg, cohort, kind), (_, rec) in sorted(t.latest.items()):
            for metric, v in rec[kind].items():
                if _ok(v):
                    perf.add_metric([mon, tier, seg, cohort, kind, metric], float(v))
            if kind == "realized" and _ok(rec["coverage"]):
                cov.add_metric([mon, tier, seg, cohort], float(rec["coverage"]))
            if rec.get("reference") and (seg, cohort) not in refs_done:
                refs_done.add((seg, cohort))
                for metric, v in rec["reference"].items():
                    if _ok(v):
                        ref.add_metric([mon, seg, cohort, metric], float(v))
    yield perf
    yield ref
    yield cov


def join_families(monitor: str, trackers: list[PerformanceTracker]
                  ) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
    """The join's outcome counters, state size and label-lag histogram, summed over
    ``trackers`` (a label worker has one per partition)."""
    counts = CounterMetricFamily("driftline_labels", "Label join outcomes.",
                                 labels=["monitor", "outcome"])
    total: dict[str, int] = {}
    lag_counts = [0] * (len(LAG_BUCKETS) + 1)
    lag_sum = 0.0
    for t in trackers:
        for k, v in t.counters().items():
            total[k] = total.get(k, 0) + v
        lag_counts = [a + b for a, b in zip(lag_counts, t.join.lag_counts, strict=True)]
        lag_sum += t.join.lag_sum
    for outcome, n in total.items():
        if outcome not in ("pending", "held_labels"):
            counts.add_metric([monitor, outcome], float(n))
    yield counts
    pend = GaugeMetricFamily("driftline_label_pending", "Join state: pending predictions "
                             "and labels held for their prediction.",
                             labels=["monitor", "state"])
    pend.add_metric([monitor, "predictions"], float(total.get("pending", 0)))
    pend.add_metric([monitor, "labels"], float(total.get("held_labels", 0)))
    yield pend
    lag = HistogramMetricFamily("driftline_label_lag_seconds",
                                "Label time minus prediction time of joined pairs.",
                                labels=["monitor"])
    cum, buckets = 0, []
    for le, n in zip([*map(str, LAG_BUCKETS), "+Inf"], lag_counts, strict=True):
        cum += n
        buckets.append((le, float(cum)))
    lag.add_metric([monitor], buckets, lag_sum)
    yield lag
