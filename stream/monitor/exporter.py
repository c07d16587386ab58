"""Prometheus exporter: a custom Collector that renders the metric contract from current state.

Nothing is pre-registered: every scrape reads the :class:`~stream.monitor.core.Publisher`'s results
store (latest window per tier x cohort), the engine counters, and — when given — the freshness
clock, the alerting facade and a consumer-lag provider, so a cohort or alert that disappears
leaves no stale series behind. Names and labels are fixed by the contract in DESIGN.md.

>>> import orjson
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> from driftline.stream.config.model import parse_config
>>> from driftline.stream.engine.core import Engine, RecordBatch
>>> from driftline.stream.monitor.core import Monitor
>>> cfg = parse_config({"monitor": "m", "features": [{"name": "x", "type": "numeric"}],
...     "source": {"event_time": {"field": "ts"}}, "windows": {"size": "1m"}})
>>> mon = Monitor(Engine(cfg))
>>> _ = mon.ingest(RecordBatch("tx", 0, [0], None, [orjson.dumps({"ts": 1, "x": 2.0})]))
>>> _ = mon.flush()
>>> reg = CollectorRegistry(); reg.register(DriftlineCollector(mon))
>>> b'driftline_events_total{monitor="m",topic="tx"} 1.0' in generate_latest(reg)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from driftline.alerts.alerting import Alerting
from driftline.sketches.evaluate import QUANTILE_LEVELS
from driftline.stream.monitor.core import DURATION_BUCKETS, Publisher
from driftline.stream.monitor.freshness import FreshnessClock

LagProvider = Callable[[], Mapping[tuple[str, int], float]]
CountersProvider = Callable[[], Mapping[str, Mapping[str, Any]]]
CohortsProvider = Callable[[], Mapping[str, int]]
# {"version": str | None, "swaps": int, "rejected": {reason: n}} of the running worker
BaselineProvider = Callable[[], Mapping[str, Any]]
QUALITY = (("null", "null_ratio"), ("nan", "nan_ratio"), ("out_of_range", "out_of_range_ratio"),
           ("unseen", "unseen_ratio"), ("invalid", "invalid_ratio"))
OUTCOMES = ("sent", "retried", "failed", "dropped")
# delivery_stats outcomes of the alerting facade -> the contract's outcomes
_OUTCOME_MAP = {"sent": "sent", "resent": "sent", "retried": "retried",
                "rate_limited": "retried", "failed": "failed", "expired": "dropped",
                "dropped": "dropped"}


# Kafka record kinds counted by the worker (see stream.kafka.records), by counters key
RECORD_KIND_COUNTERS = {
    "tombstones": ("driftline_records_tombstone",
                   "Records with a null value (tombstones), skipped: not events."),
    "keyed": ("driftline_records_keyed", "Records that carry a key (ignored for statistics)."),
    "with_headers": ("driftline_records_with_headers",
                     "Records that carry headers (ignored for statistics)."),
    "skipped_offsets": ("driftline_offsets_skipped",
                        "Offsets passed without a record: transaction markers, aborted "
                        "transactions (read_committed), offsets removed by compaction."),
}


def _ok(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _q(level: float) -> str:
    return f"{level:g}"


def _version() -> str:
    try:
        return version("driftline")
    except PackageNotFoundError:
        return "unknown"


class DriftlineCollector(Collector):
    """Renders ``driftline_*`` metrics on every scrape; see the module doc.

    Providers override what the monitor knows (the Kafka runtime splits the engine
    across processes): ``counters()`` -> ``{topic: {"records", "late", "invalid": {reason: n}}}``,
    ``lag()`` -> ``{(topic, partition): records}``, ``cohorts()`` -> ``{segment: admitted}``,
    ``baseline()`` -> the running baseline's version and its swap/rejection counts.
    """

    def __init__(
        self,
        monitor: Publisher,
        *,
        freshness: FreshnessClock | None = None,
        alerting: Alerting | None = None,
        lag: LagProvider | None = None,
        counters: CountersProvider | None = None,
        cohorts: CohortsProvider | None = None,
        baseline: BaselineProvider | None = None,
    ) -> None:
        self.monitor = monitor
        self.baseline = baseline
        self.name = monitor.monitor
        self.freshness = freshness
        self.alerting = alerting if alerting is not None else monitor.alerting
        self.lag = lag
        self.counters = counters or monitor.counters
        self.cohorts = cohorts or monitor.cohorts

    def describe(self) -> list[Metric]:
        return []  # dynamic: registering must not call collect() before state exists

    def collect(self) -> Iterator[Metric]:
        yield from self._results()
        yield from self._counters()
        yield from self._freshness()
        yield from self._lag()
        yield from self._alerts()
        yield from self._durations()
        yield from self._baseline()
        cohorts = GaugeMetricFamily("driftline_cohorts", "Own cohorts per segment (top-K cap).",
                                    labels=["monitor", "segment"])
        for segment, n in self.cohorts().items():
            cohorts.add_metric([self.name, segment], n)
        yield cohorts
        info = GaugeMetricFamily("driftline_build_info", "driftline version.", labels=["version"])
        info.add_metric([_version()], 1)
        yield info

    def _results(self) -> Iterator[Metric]:
        m = self.name
        base = ["monitor", "feature", "segment", "cohort", "window"]
        # ``reference``: training, trailing, seasonal or cohort:<value> (at most 3 + 1 values)
        score = GaugeMetricFamily("driftline_drift_score", "Drift score of the last closed window.",
                                  labels=[*base, "metric", "reference"])
        pval = GaugeMetricFamily("driftline_drift_p_value",
                                 "p-value of the drift score.", labels=[*base, "metric",
                                                                        "reference"])
        # typed summary: the exposition rules reserve the "quantile" label for summaries
        quant = Metric("driftline_feature_quantile",
                       "Quantiles of the current window and of the baseline.", "summary")
        qnames = [*base, "source", "quantile"]
        qual = GaugeMetricFamily("driftline_quality_ratio",
                                 "Data-quality ratios of the last closed window.",
                                 labels=[*base, "kind"])
        events = GaugeMetricFamily("driftline_window_events", "Events in the last closed window.",
                                   labels=["monitor", "segment", "cohort", "window"])
        for result, c in self.monitor.store.items():
            w = result.tier
            events.add_metric([m, c.segment, c.cohort, w], c.n)
            compared = [("training", c.evaluation)] + [(r.reference, r.evaluation)
                                                       for r in c.references]
            for reference, evaluation in compared:
                for fe in evaluation.features.values():
                    labels = [m, fe.name, c.segment, c.cohort, w]
                    for metric, s in fe.scores.items():
                        if _ok(s.value):
                            score.add_metric([*labels, metric, reference], s.value)
                        if _ok(s.p_value):
                            pval.add_metric([*labels, metric, reference], s.p_value)
            for fe in c.features.values():
                labels = [m, fe.name, c.segment, c.cohort, w]
                for source, values in (("current", fe.quantiles_current),
                                       ("baseline", fe.quantiles_baseline)):
                    for level, v in zip(QUANTILE_LEVELS, values or (), strict=False):
                        if _ok(v):
                            quant.add_sample("driftline_feature_quantile",
                                             dict(zip(qnames, [*labels, source, _q(level)],
                                                      strict=True)), v)
                for kind, attr in QUALITY:
                    v = getattr(fe.quality, attr)
                    if _ok(v):
                        qual.add_metric([*labels, kind], v)
        end = GaugeMetricFamily("driftline_window_end_timestamp_seconds",
                                "End time of the last evaluated window.",
                                labels=["monitor", "window"])
        for tier, t in self.monitor.store.last_window_end().items():
            end.add_metric([m, tier], t)
        yield from (score, pval, quant, qual, events, end)

    def _baseline(self) -> Iterator[Metric]:
        if self.baseline is None:
            return
        b = self.baseline()
        info = GaugeMetricFamily("driftline_baseline_info",
                                 "The baseline version windows are evaluated against (1).",
                                 labels=["monitor", "version"])
        if b.get("version"):
            info.add_metric([self.name, str(b["version"])], 1)
        swaps = CounterMetricFamily("driftline_baseline_swaps",
                                    "New baselines taken into use without a restart.",
                                    labels=["monitor"])
        swaps.add_metric([self.name], int(b.get("swaps", 0)))
        rejected = CounterMetricFamily("driftline_baseline_rejected",
                                       "New baselines not used (the running one stays), by "
                                       "reason: unreachable, unreadable, incompatible.",
                                       labels=["monitor", "reason"])
        for reason, n in dict(b.get("rejected", {})).items():
            rejected.add_metric([self.name, reason], n)
        yield from (info, swaps, rejected)

    def _counters(self) -> Iterator[Metric]:
        m = self.name
        total = CounterMetricFamily("driftline_events", "Records consumed.",
                                    labels=["monitor", "topic"])
        invalid = CounterMetricFamily("driftline_events_invalid",
                                      "Records sent to the dead-letter queue, by reason.",
                                      labels=["monitor", "topic", "reason"])
        late = CounterMetricFamily("driftline_events_late",
                                   "Events dropped because their window had closed.",
                                   labels=["monitor", "topic"])
        kinds = {key: CounterMetricFamily(name, doc, labels=["monitor", "topic"])
                 for key, (name, doc) in RECORD_KIND_COUNTERS.items()}
        for topic, c in self.counters().items():
            total.add_metric([m, topic], c.get("records", 0))
            late.add_metric([m, topic], c.get("late", 0))
            for reason, n in dict(c.get("invalid", {})).items():
                invalid.add_metric([m, topic, reason], n)
            for key, fam in kinds.items():
                if key in c:
                    fam.add_metric([m, topic], c[key])
        yield from (total, invalid, late, *kinds.values())

    def _freshness(self) -> Iterator[Metric]:
        labels = ["monitor", "rule", "kind", "target"]
        stale = GaugeMetricFamily("driftline_staleness_seconds",
                                  "Seconds since the last event of a freshness target.",
                                  labels=labels)
        sla = GaugeMetricFamily("driftline_staleness_sla_seconds",
                                "Maximum staleness allowed by the freshness rule.", labels=labels)
        if self.freshness is not None:
            for meas in self.freshness.evaluate():
                d = meas.details
                lab = [self.name, meas.feature, str(d.get("kind", "")), str(d.get("target", ""))]
                if _ok(meas.value):
                    stale.add_metric(lab, meas.value)
                if _ok(d.get("max_staleness")):
                    sla.add_metric(lab, float(d["max_staleness"]))
        yield from (stale, sla)

    def _lag(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily("driftline_consumer_lag_records",
                                "Records between the committed offset and the log end.",
                                labels=["monitor", "topic", "partition"])
        if self.lag is not None:
            for (topic, partition), n in sorted(self.lag().items()):
                if _ok(n):
                    lag.add_metric([self.name, topic, str(partition)], n)
        yield lag

    def _alerts(self) -> Iterator[Metric]:
        m = self.name
        firing = GaugeMetricFamily("driftline_alerts_firing", "Alerts firing, by severity.",
                                   labels=["monitor", "severity"])
        active = GaugeMetricFamily(
            "driftline_alert_active", "1 per firing alert.",
            labels=["monitor", "check", "feature", "segment", "cohort", "window", "severity",
                    "reference"])
        notes = CounterMetricFamily("driftline_notifications",
                                    "Notification deliveries by channel and outcome.",
                                    labels=["monitor", "channel", "outcome"])
        if self.alerting is not None:
            for severity, n in sorted(self.alerting.firing().items()):
                firing.add_metric([m, severity], n)
            counts: dict[tuple[str, str], float] = {}
            channels = set(getattr(getattr(self.alerting, "cfg", None), "channels", {}) or {})
            for (channel, outcome), n in self.alerting.delivery_stats().items():
                channels.add(channel)
                key = (channel, _OUTCOME_MAP.get(outcome, "failed"))
                counts[key] = counts.get(key, 0) + n
            for channel in sorted(channels):
                for outcome in OUTCOMES:
                    notes.add_metric([m, channel, outcome], counts.get((channel, outcome), 0))
        for e in self.monitor.firing():
            active.add_metric([m, e.check, e.feature, e.segment, e.cohort, e.window, e.severity,
                               e.reference], 1)
        yield from (firing, active, notes)

    def _durations(self) -> Iterator[Metric]:
        hist = HistogramMetricFamily("driftline_evaluation_duration_seconds",
                                     "Time to merge and evaluate a closed window.",
                                     labels=["monitor", "window"])
        for tier, (buckets, total) in sorted(self.monitor.store.durations().items()):
            cum, acc = [], 0
            for bound, n in zip([*map(str, DURATION_BUCKETS), "+Inf"], buckets, strict=True):
                acc += n
                cum.append((bound, acc))
            hist.add_metric([self.name, tier], cum, total)
        yield hist


class MetricsServer(tuple[str, int]):
    """``(host, port)`` of a running exporter; ``.close()`` stops it."""

    server: Any

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(collector: Collector, host: str | tuple[str, int] = "127.0.0.1",
          port: int | None = None) -> MetricsServer:
    """Serve ``collector`` on its own registry: ``serve(c, "127.0.0.1:9108")``,
    ``serve(c, ("127.0.0.1", 0))`` or ``serve(c, "127.0.0.1", 0)`` (0 = any free port)."""
    if isinstance(host, tuple):
        host, port = host
    elif port is None:
        h, _, p = host.rpartition(":")
        host, port = h or "0.0.0.0", int(p)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    server, _thread = start_http_server(int(port), addr=host, registry=registry)
    out = MetricsServer((host, int(server.server_address[1])))
    out.server = server
    return out
