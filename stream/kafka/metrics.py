"""/metrics of ``driftline run``: the engine's exporter over the runtime's live state.

The :class:`~stream.monitor.exporter.DriftlineCollector` renders the metric contract on every
scrape; the runtime supplies its own providers, because its state is split: counters are the source
side's process-local counters (monotonic, whatever partitions come and go), consumer lag is
per owned partition, cohorts are the merger's registry, results and alerts are the monitor's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from driftline.stream.monitor.exporter import DriftlineCollector, MetricsServer, serve

CountersProvider = Callable[[], Mapping[str, Mapping[str, Any]]]
LagProvider = Callable[[], Mapping[tuple[str, int], float]]


class LiveCohorts:
    """Stands in for the engine's cohort registry in the exporter: ``live()`` per segment."""

    def __init__(self, provider: Callable[[], Mapping[str, int]]) -> None:
        self._provider = provider

    def live(self) -> dict[str, int]:
        return dict(self._provider())


def serve_runtime_metrics(
    sinks: Any,
    host: str,
    port: int,
    counters: CountersProvider,
    lag: LagProvider,
    cohorts: Callable[[], Mapping[str, int]],
) -> MetricsServer:
    """Start the HTTP endpoint; returns ``(host, port)`` with ``.close()``."""
    sinks.monitor.engine.cohorts = LiveCohorts(cohorts)
    collector = DriftlineCollector(
        sinks.monitor, freshness=sinks.freshness, alerting=sinks.alerting, lag=lag,
        counters=counters,
    )
    return serve(collector, host, port)
