"""Where the runtime's outputs go: results topic, alerting, freshness clock, Prometheus.

The merger side calls :meth:`Sinks.publish` once per batch of closed windows (results topic
first, acknowledged, then alerting and the exporter's current state); the source side feeds each
decoded batch to :meth:`Sinks.observe_batch` (freshness: record times, non-null features,
cohorts); :meth:`Sinks.run_freshness` ticks the freshness clock on its timer, seeded from
Kafka's newest record timestamps so staleness is right right after a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
from aiokafka import AIOKafkaProducer

from driftline.alerts import Alerting
from driftline.alerts.model import Measurement
from driftline.sketches.baseline import Baseline
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.decode.decoder import DecodedBatch
from driftline.stream.engine.batch import IngestReport
from driftline.stream.engine.results import WindowResult
from driftline.stream.kafka.consumer import PartitionRecords
from driftline.stream.kafka.probes import latest_timestamps
from driftline.stream.monitor.core import Publisher
from driftline.stream.monitor.exporter import (
    BaselineProvider,
    CohortsProvider,
    CountersProvider,
    DriftlineCollector,
    LagProvider,
    MetricsServer,
    serve,
)
from driftline.stream.monitor.freshness import FreshnessClock, no_data_slas, run_clock

log = logging.getLogger(__name__)



def result_records(results: Sequence[WindowResult]) -> list[tuple[bytes, bytes]]:
    """(key, value) of every results-topic record: one per window x cohort, keyed
    ``tier|start|segment|cohort`` (a re-evaluation after a crash has the same key)."""
    out = []
    for r in results:
        for rec in r.to_json_records():
            key = f"{r.tier}|{r.start:.0f}|{rec['segment']}|{rec['cohort']}"
            out.append((key.encode(), orjson.dumps(rec, option=orjson.OPT_SERIALIZE_NUMPY)))
    return out


class Sinks:
    """Outputs of one worker; see the module doc.

    Example (needs a broker; the runtime wires it)::

        sinks = Sinks(cfg, baseline, os.environ)
        await sinks.start(aclient, kclient, lag=source.lag, counters=counters, cohorts=live)
        await sinks.publish(results)          # results topic, then alerting and /metrics
        await sinks.stop()
    """

    def __init__(
        self, cfg: DriftlineConfig, baseline: Baseline | None, environ: Mapping[str, str]
    ) -> None:
        self.cfg = cfg
        self.baseline = baseline
        self.environ = environ
        self.results_topic = str(cfg.kafka.results_topic)
        baseline_cohorts: list[str] = []
        no_data: dict[str, float] = {}
        if baseline is not None:
            meta = baseline.meta or {}
            rows = dict(meta.get("segment_rows") or {})
            baseline_cohorts = [f"{s}={v}" for s, vs in rows.items() for v in vs]
            no_data = no_data_slas(rows, float(meta.get("span_seconds") or 0.0),
                                   cfg.windows.size)
        self.freshness = FreshnessClock(
            cfg.monitor, cfg.freshness, tick=cfg.freshness_tick,
            baseline_cohorts=baseline_cohorts, no_data_after=no_data or None,
        )
        self.alerting = Alerting.from_config(cfg, environ=environ)
        # the runtime splits the engine (aggregators per partition, merger on the partials topic)
        # and publishes the merged results here
        self.monitor = Publisher(cfg.monitor, self.alerting)
        self.freshness_measurements: list[Measurement] = []
        self.metrics_address: str | None = None
        self._producer: AIOKafkaProducer | None = None
        self._kclient: dict[str, Any] = {}
        self._lag: LagProvider = dict
        self._counters: CountersProvider = dict
        self._cohorts: CohortsProvider = dict
        self._baseline: BaselineProvider | None = None
        self._server: MetricsServer | None = None

    async def start(
        self,
        aclient: dict[str, Any],
        kclient: dict[str, Any],
        lag: LagProvider,
        counters: CountersProvider,
        cohorts: CohortsProvider,
        baseline: BaselineProvider | None = None,
    ) -> None:
        self._kclient = kclient
        self._baseline = baseline
        self._lag = lag
        self._counters = counters
        self._cohorts = cohorts
        self._producer = AIOKafkaProducer(
            **aclient, acks="all", enable_idempotence=True, linger_ms=5,
            max_request_size=16 * 1024 * 1024,
        )
        await self._producer.start()
        self.alerting.start()
        try:
            seed = await asyncio.to_thread(latest_timestamps, kclient, list(self.cfg.kafka.topics))
            self.freshness.seed_from_kafka(seed)
        except Exception as exc:  # freshness then starts from what the stream shows
            log.warning("could not seed freshness from Kafka: %s", type(exc).__name__)
        self._start_exporter()

    def _start_exporter(self) -> None:
        hp = self.cfg.metrics.host_port
        if hp is None:
            return
        # /metrics of `driftline run`: the runtime's state is split, so it supplies the providers:
        # counters are the source side's process-local counters (monotonic whatever partitions
        # come and go), lag is per owned partition, cohorts are the merger's registry
        collector = DriftlineCollector(
            self.monitor, freshness=self.freshness, alerting=self.alerting, lag=self._lag,
            counters=self._counters, cohorts=self._cohorts, baseline=self._baseline,
        )
        self._server = serve(collector, hp[0], hp[1])
        self.metrics_address = f"{self._server[0]}:{self._server[1]}"

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await asyncio.to_thread(self.alerting.close)
        if self._server is not None:
            self._server.close()
            self._server = None

    # -- results ----------------------------------------------------------------------------
    async def publish(self, results: list[WindowResult]) -> None:
        """Results topic (acknowledged), then alerting and the exporter's state."""
        assert self._producer is not None
        futures = [
            await self._producer.send(self.results_topic, value, key=key)
            for key, value in result_records(results)
        ]
        if futures:
            await asyncio.gather(*futures)
        self.monitor.publish(results)

    # -- freshness --------------------------------------------------------------------------
    def observe_batch(
        self, fetched: PartitionRecords, decoded: DecodedBatch, report: IngestReport
    ) -> None:
        """Feed record times, non-null features and cohorts of the valid events."""
        if decoded.n == 0:
            return
        ts = np.asarray(fetched.timestamps_ms, dtype=np.float64)[decoded.rows] / 1000.0
        present = {}
        for name, col in decoded.numeric.items():
            present[name] = _present(col.null, col.invalid, decoded.n)
        for name, codes in decoded.categorical.items():
            present[name] = ~(codes.null | codes.invalid)
        segments = {}
        for seg, codes in decoded.segments.items():
            # (codes, labels): one reduction per label; code -1 (missing) is the last label
            segments[seg] = (codes.codes, [*codes.labels, "__missing__"])
        self.freshness.observe(fetched.topic, ts, present=present, segments=segments)

    async def run_freshness(self, stop: asyncio.Event) -> None:
        topics = list(self.cfg.kafka.topics)
        kclient = self._kclient

        def probe() -> Any:
            return latest_timestamps(kclient, topics)

        await run_clock(self.freshness, self._emit_freshness, probe=probe, stop=stop)

    def _emit_freshness(self, measurements: list[Measurement]) -> None:
        self.freshness_measurements = measurements
        if measurements:
            self.monitor.observe_alert_events(self.alerting.observe_freshness(measurements))


def _present(null: np.ndarray | None, invalid: np.ndarray | None, n: int) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    if null is not None:
        mask &= ~null
    if invalid is not None:
        mask &= ~invalid
    return mask
