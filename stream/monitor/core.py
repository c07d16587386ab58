"""Monitor: the composition root of backtest, demo and run — engine + alerting + results.

``Monitor`` feeds batches to the :class:`~stream.engine.core.Engine`, and for every closed window
stores the result (:class:`ResultsStore`, what the Prometheus exporter renders), turns it into
measurements for the (optional) ``alerts.Alerting`` and calls the subscribed callbacks (e.g. the
results-topic publisher). Alert transitions are kept (``alert_log``) and the currently firing
alerts tracked (``active_alerts``) for the exporter.

>>> import orjson
>>> from driftline.stream.config.model import parse_config
>>> cfg = parse_config({"monitor": "m", "features": [{"name": "x", "type": "numeric"}],
...     "source": {"event_time": {"field": "ts"}}, "windows": {"size": "1m"}})
>>> mon = Monitor(Engine(cfg))
>>> _ = mon.ingest(RecordBatch("tx", 0, [0], None, [orjson.dumps({"ts": 1, "x": 2.0})]))
>>> [r.tier for r in mon.flush()], mon.store.latest("1m", "all", "all").n
(['1m'], 1)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from driftline.alerts.alerting import Alerting
from driftline.alerts.model import AlertEvent
from driftline.stream.engine.batch import IngestReport, RecordBatch
from driftline.stream.engine.core import Engine
from driftline.stream.engine.results import CohortResult, WindowResult
from driftline.stream.monitor.measurements import to_measurements

# prometheus default-like buckets for evaluation durations (seconds)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

ResultCallback = Callable[[WindowResult], None]


class ResultsStore:
    """The latest result per (tier, segment, cohort) — hence per feature too — plus the
    evaluation-duration histogram per tier. Thread-safe (the exporter reads while the engine
    writes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str, str], tuple[WindowResult, CohortResult]] = {}
        self._last_end: dict[str, float] = {}
        self._window_events: dict[tuple[str, str, str], int] = {}
        self._hist: dict[str, list[int]] = {}
        self._hist_sum: dict[str, float] = {}
        self.windows = 0

    def update(self, result: WindowResult) -> None:
        with self._lock:
            self.windows += 1
            tier = result.tier
            if result.complete:
                self._last_end[tier] = max(self._last_end.get(tier, 0.0), result.end)
                for c in result.cohorts:
                    self._latest[(tier, c.segment, c.cohort)] = (result, c)
            buckets = self._hist.setdefault(tier, [0] * (len(DURATION_BUCKETS) + 1))
            i = next((i for i, b in enumerate(DURATION_BUCKETS)
                      if result.evaluation_seconds <= b), len(DURATION_BUCKETS))
            buckets[i] += 1
            self._hist_sum[tier] = self._hist_sum.get(tier, 0.0) + result.evaluation_seconds

    def latest(self, tier: str, segment: str, cohort: str) -> CohortResult | None:
        with self._lock:
            hit = self._latest.get((tier, segment, cohort))
        return None if hit is None else hit[1]

    def items(self) -> list[tuple[WindowResult, CohortResult]]:
        with self._lock:
            return list(self._latest.values())

    def last_window_end(self) -> dict[str, float]:
        with self._lock:
            return dict(self._last_end)

    def durations(self) -> dict[str, tuple[list[int], float]]:
        """Per tier: non-cumulative bucket counts (last = +Inf) and the sum of seconds."""
        with self._lock:
            return {t: (list(b), self._hist_sum[t]) for t, b in self._hist.items()}


class Publisher:
    """Stores, alerts on and hands out evaluated windows: what happens to a result wherever it
    was evaluated (the Kafka runtime evaluates merged windows itself and publishes them here).
    """

    def __init__(self, monitor: str, alerting: Alerting | None = None, *,
                 on_result: ResultCallback | None = None) -> None:
        self.monitor = monitor
        self.alerting = alerting
        self.store = ResultsStore()
        self.callbacks: list[ResultCallback] = [on_result] if on_result else []
        self.alert_log: list[AlertEvent] = []
        # more measurements of a closed window (e.g. estimated model performance), alerted on
        # together with the window's own
        self.measurement_sources: list[Callable[[WindowResult], list[Any]]] = []
        self.active_alerts: dict[Any, AlertEvent] = {}
        self._alerts_lock = threading.Lock()  # alert bookkeeping (read by the exporter)

    def subscribe(self, callback: ResultCallback) -> None:
        self.callbacks.append(callback)

    def counters(self) -> dict[str, dict[str, Any]]:
        """Per topic: records, late, invalid by reason (none known here: see Monitor)."""
        return {}

    def cohorts(self) -> dict[str, int]:
        """Admitted cohorts per segment (none known here: see Monitor)."""
        return {}

    def publish(self, results: list[WindowResult]) -> None:
        """Store, alert on and hand out evaluated windows."""
        for r in results:
            self.store.update(r)
            if self.alerting is not None and r.complete:
                ms = to_measurements(r)
                for source in self.measurement_sources:
                    ms.extend(source(r))
                events = self.alerting.observe_window(ms)
                self._track(events)
            for cb in self.callbacks:
                cb(r)

    def observe_alert_events(self, events: list[AlertEvent]) -> None:
        """Transitions from elsewhere (freshness) to keep ``active_alerts`` right."""
        self._track(events)

    def _track(self, events: list[AlertEvent]) -> None:
        with self._alerts_lock:
            self.alert_log.extend(events)
            for e in events:
                if e.state == "firing":
                    self.active_alerts[e.key] = e
                elif e.state == "resolved":
                    self.active_alerts.pop(e.key, None)

    def firing(self) -> list[AlertEvent]:
        with self._alerts_lock:
            return list(self.active_alerts.values())


class Monitor(Publisher):
    """Engine + results store + alerting + callbacks; see the module doc."""

    def __init__(self, engine: Engine, alerting: Alerting | None = None, *,
                 on_result: ResultCallback | None = None) -> None:
        super().__init__(engine.monitor, alerting, on_result=on_result)
        self.engine = engine
        self._lock = threading.Lock()  # engine access

    def counters(self) -> dict[str, dict[str, Any]]:
        return self.engine.counters()

    def cohorts(self) -> dict[str, int]:
        return self.engine.cohorts.live()

    def ingest(self, batch: RecordBatch, now: float | None = None) -> IngestReport:
        with self._lock:
            return self.engine.ingest(batch, now)

    def tick(self, now: float | None = None) -> list[WindowResult]:
        with self._lock:
            results = self.engine.tick(now)
        self.publish(results)
        return results

    def flush(self) -> list[WindowResult]:
        with self._lock:
            results = self.engine.flush()
        self.publish(results)
        return results
