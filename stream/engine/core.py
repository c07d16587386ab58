"""The engine: record batches in, evaluated windows out — the same object everywhere.

``Engine(config, baseline)`` holds one :class:`~stream.engine.aggregator.PartitionAggregator` per
source partition and one :class:`~stream.engine.merger.Merger`. The backtest (file replay), the demo
and a single Kafka worker use it as is; the scaled-out Kafka runtime uses the same two pieces
split across processes (aggregators where the partitions are, the merger where partials meet).

>>> import orjson
>>> from driftline.stream.config.model import parse_config
>>> cfg = parse_config({"monitor": "m", "features": [{"name": "x", "type": "numeric"}],
...     "source": {"event_time": {"field": "ts"}},
...     "windows": {"size": "1m", "allowed_lateness": 0}})
>>> eng = Engine(cfg)
>>> rec = [orjson.dumps({"ts": t, "x": float(t)}) for t in range(0, 120)]
>>> eng.ingest(RecordBatch("tx", 0, list(range(120)), None, rec)).events
120
>>> [(r.tier, r.cohorts[0].n) for r in eng.tick()], [r.cohorts[0].n for r in eng.flush()]
([('1m', 60)], [60])
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from driftline.sketches.baseline import Baseline
from driftline.sketches.schema import CategoricalSpec, NumericSpec, ProfileSchema
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.decode.decoder import DecodedBatch
from driftline.stream.decode.factory import decoder_for
from driftline.stream.engine.aggregator import PartitionAggregator
from driftline.stream.engine.batch import IngestReport, RecordBatch
from driftline.stream.engine.cohorts import Cohorts
from driftline.stream.engine.evaluation import WindowEvaluator
from driftline.stream.engine.framing import pack, unpack
from driftline.stream.engine.merger import Merger, Source
from driftline.stream.engine.plausible import PlausibleTimes
from driftline.stream.engine.references import ReferenceHistory, reference_specs
from driftline.stream.engine.results import WindowResult

__all__ = ["Engine", "IngestReport", "RecordBatch", "build_merger", "feature_specs",
           "schema_for"]

_MAGIC = b"DLEN"
_VERSION = 1


def feature_specs(config: DriftlineConfig) -> list[NumericSpec | CategoricalSpec]:
    """Sketch specs of the configured features (no edges/vocabulary: a baseline adds them)."""
    out: list[NumericSpec | CategoricalSpec] = []
    for f in config.features:
        if f.type == "numeric":
            out.append(NumericSpec(f.name, k=f.k, range=f.range))
        else:
            out.append(CategoricalSpec(f.name, cap=f.cap))
    return out


def schema_for(config: DriftlineConfig, baseline: Baseline | None = None) -> ProfileSchema:
    """The live profile schema: the baseline's (with its bin edges and vocabularies) when
    there is one — after checking it covers exactly the configured features — else the
    config's."""
    if baseline is None:
        return ProfileSchema(tuple(feature_specs(config)))
    want = {f.name: f.type for f in config.features}
    have = {s.name: s.kind for s in baseline.schema}
    if want != have:
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        typed = sorted(n for n in set(want) & set(have) if want[n] != have[n])
        raise ValueError(
            "the baseline does not match the configured features "
            f"(missing: {missing}, not configured: {extra}, different type: {typed}); "
            "rebuild it with `driftline baseline build`")
    return baseline.schema


def build_merger(config: DriftlineConfig, schema: ProfileSchema, baseline: Baseline | None,
                 max_wait: float | None) -> Merger:
    """The merger of a monitor (evaluator with every configured reference, cohorts, tiers,
    reference history, plausible-time repair): the same in one process and in the Kafka
    runtime's merger side."""
    evaluator = WindowEvaluator(config.monitor, schema, baseline, config.drift,
                                references=config.references, compare=config.compare)
    w = config.windows
    merger = Merger(evaluator, Cohorts.from_config(config), w.size, w.rollups, w.tiers, max_wait,
                    references=ReferenceHistory(schema, reference_specs(config)))
    merger.plausible = PlausibleTimes.from_config(config)
    return merger


class Engine:
    """Aggregators for all partitions + the merger, in one process; see the module doc."""

    def __init__(self, config: DriftlineConfig, baseline: Baseline | None = None,
                 max_wait: float | None = None) -> None:
        self.config = config
        self.monitor: str = config.monitor
        self.baseline = baseline
        self.schema = schema_for(config, baseline)
        self.decoder = decoder_for(config)
        w = config.windows
        wait = max_wait if max_wait is not None else w.allowed_lateness + 2 * w.idle_timeout
        self.merger = build_merger(config, self.schema, baseline, wait)
        self.cohorts = self.merger.cohorts
        self.evaluator = self.merger.evaluator
        self.plausible = self.merger.plausible
        self.aggregators: dict[Source, PartitionAggregator] = {}

    # -- partitions -------------------------------------------------------------------------
    def aggregator(self, topic: str, partition: int) -> PartitionAggregator:
        key = (str(topic), int(partition))
        agg = self.aggregators.get(key)
        if agg is None:
            w = self.config.windows
            agg = PartitionAggregator(key[0], key[1], self.schema, self.decoder, w.size,
                                      w.allowed_lateness, w.idle_timeout, self.cohorts,
                                      plausible=self.plausible)
            self.aggregators[key] = agg
            self.merger.expect([key])
        return agg

    def assign(self, sources: Iterable[Source]) -> None:
        """Declare the source partitions up front (windows wait for all of them)."""
        for t, p in sources:
            self.aggregator(t, p)

    # -- data -------------------------------------------------------------------------------
    def ingest(self, batch: RecordBatch, now: float | None = None) -> IngestReport:
        """Decode and aggregate one batch. ``now`` (wall clock) enables idle detection; leave it
        None for replays, which then depend on event time only."""
        agg = self.aggregator(batch.topic, batch.partition)
        report = agg.ingest(batch, now)
        self._drain(agg, now)
        return report

    def ingest_decoded(self, topic: str, partition: int, decoded: DecodedBatch,
                       now: float | None = None) -> IngestReport:
        """Aggregate columns that did not come as JSON bytes (CSV/Parquet replay)."""
        agg = self.aggregator(topic, partition)
        report = agg.ingest_decoded(decoded, now=now)
        self._drain(agg, now)
        return report

    def _drain(self, agg: PartitionAggregator, now: float | None) -> None:
        for partial in agg.ready(now):
            self.merger.add(partial, now)
        self.merger.advance((agg.topic, agg.partition), agg.watermark)

    def tick(self, now: float | None = None) -> list[WindowResult]:
        """Close what can be closed: idle partitions advance (when ``now`` is given), windows
        every partition has passed are merged and evaluated."""
        for agg in self.aggregators.values():
            self._drain(agg, now)
        return self.merger.ready(now)

    def flush(self) -> list[WindowResult]:
        """End of input: close every window and rollup."""
        for agg in self.aggregators.values():
            for partial in agg.flush():
                self.merger.add(partial)
            self.merger.advance((agg.topic, agg.partition), math.inf)
        results = self.merger.ready()
        results.extend(self.merger.flush())
        return results

    # -- state ------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Every aggregator (with the offset its state covers) and the merger, in one frame —
        for a single process; the Kafka runtime checkpoints the pieces separately.

        >>> from driftline.stream.config.model import parse_config
        >>> cfg = parse_config({"monitor": "m", "features": [{"name": "x", "type": "numeric"}],
        ...     "source": {"event_time": {"field": "ts"}}})
        >>> a = Engine(cfg); _ = a.ingest(RecordBatch("t", 0, [7], None, [b'{"ts": 1, "x": 1}']))
        >>> b = Engine(cfg); b.restore(a.snapshot()); b.aggregators[("t", 0)].next_offset
        8
        """
        sources = sorted(self.aggregators)
        blobs = [self.aggregators[s].snapshot() for s in sources] + [self.merger.snapshot()]
        return pack(_MAGIC, _VERSION, {"sources": [list(s) for s in sources]}, blobs)

    def restore(self, data: bytes) -> None:
        _, meta, blobs = unpack(data, _MAGIC, {_VERSION})
        for (topic, partition), blob in zip(meta["sources"], blobs, strict=False):
            self.aggregator(topic, int(partition)).restore(blob)
        self.merger.restore(blobs[-1])

    # -- introspection ----------------------------------------------------------------------
    def counters(self) -> dict[str, dict[str, Any]]:
        """Per topic: records, events, late and dead letters by reason (exporter input)."""
        out: dict[str, dict[str, Any]] = {}
        for agg in list(self.aggregators.values()):  # a scrape may run during an ingest
            c = out.setdefault(agg.topic, {"records": 0, "events": 0, "late": 0, "invalid": {}})
            c["records"] += agg.records
            c["events"] += agg.events
            c["late"] += agg.late
            for reason, n in list(agg.invalid.items()):
                c["invalid"][reason] = c["invalid"].get(reason, 0) + n
        return out

    def last_seen(self) -> dict[str, float]:
        """Latest event time per ``topic:<name>``, ``feature:<name>`` (non-null values) and
        ``cohort:<segment>=<value>`` (freshness input)."""
        out: dict[str, float] = {}
        for agg in list(self.aggregators.values()):
            for key, t in list(agg.last_seen.items()):
                k = f"topic:{agg.topic}" if key == "topic" else key
                if t > out.get(k, -math.inf):
                    out[k] = t
        return out
