"""The source side of ``driftline run``: assigned event partitions -> partial windows.

One :class:`~stream.engine.aggregator.PartitionAggregator` per assigned source partition. Each loop:
fetch a large batch (:class:`~stream.kafka.consumer.BatchConsumer`), decode and aggregate it
per partition (vectorized; a partition is decoded in a thread, where the native decoder runs
without the GIL, while the one before it is aggregated), send dead letters to the DLQ, send
the partial windows the watermark closed and the watermarks themselves to the partials topic,
and every ``checkpoint_interval`` write a checkpoint per partition.

Exactness (what a kill -9 cannot break):

* a checkpoint holds the aggregator snapshot *and* the next offset it covers; on assignment
  the snapshot is restored and the consumer seeks there, so each record counts exactly once;
* a checkpoint is written only after every partial and dead letter emitted before it was
  acknowledged by Kafka: a window dropped from state is never lost; a crash between sending
  and checkpointing re-sends it after the restart, and the merger keeps one per (window, source);
* on revocation (rebalance, graceful stop) the partitions are checkpointed before the group
  moves on.

>>> source_key("fraud", "transactions", 2)
'fraud|transactions|2'
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from aiokafka import TopicPartition

from driftline.stream.decode.decoder import DecodedBatch
from driftline.stream.engine.aggregator import PartitionAggregator
from driftline.stream.engine.batch import IngestReport
from driftline.stream.engine.cohorts import AdmittedView
from driftline.stream.kafka.checkpoint import Checkpoint, CheckpointStore, checkpoint_key
from driftline.stream.kafka.consumer import PartitionRecords
from driftline.stream.kafka.partials import PartialSender
from driftline.stream.kafka.producer import DeadLetter, DeadLetterWriter
from driftline.stream.kafka.records import RecordCounters, without_tombstones
from driftline.stream.kafka.source_settings import Aggregation, EventConsumer

log = logging.getLogger(__name__)

BatchObserver = Callable[[PartitionRecords, DecodedBatch, IngestReport], None]


def source_key(monitor: str, topic: str, partition: int) -> str:
    """Checkpoint key of a source partition's aggregator."""
    return checkpoint_key(monitor, topic, partition)


@dataclass
class SourceCounters:
    """Process-local monotonic counters (Prometheus counters must never go down)."""

    records: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    late: dict[str, int] = field(default_factory=dict)
    invalid: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, report: IngestReport) -> None:
        t = report.topic
        self.records[t] = self.records.get(t, 0) + report.records
        self.events[t] = self.events.get(t, 0) + report.events
        self.late[t] = self.late.get(t, 0) + report.late
        for dl in report.dead_letters:
            key = (t, dl.reason)
            self.invalid[key] = self.invalid.get(key, 0) + 1


@dataclass(frozen=True, slots=True)
class _Decoded:
    """A partition batch ready to aggregate (``decoded`` None: it holds no event)."""

    agg: PartitionAggregator
    fetched: PartitionRecords
    usable: PartitionRecords
    decoded: DecodedBatch | None


class SourceSide:
    """Consumes the event topics and turns them into partial windows; see the module doc.

    Example (needs a broker; the runtime wires it)::

        side = SourceSide(consumer=EventConsumer.from_config(cfg, client=client, ...),
                          aggregation=Aggregation.from_config(cfg, schema=schema, decoder=decoder),
                          store=store, sender=sender, dlq=writer)
        await side.start()
        while running:
            await side.step()
        await side.stop()          # checkpoints every owned partition, leaves the group
    """

    def __init__(
        self,
        *,
        consumer: EventConsumer,
        aggregation: Aggregation,
        store: CheckpointStore,
        sender: PartialSender,
        dlq: DeadLetterWriter | None,
        admitted: AdmittedView | None = None,
        observer: BatchObserver | None = None,
        checkpoint_interval: float = 10.0,
    ) -> None:
        a = aggregation
        self.monitor = a.monitor
        self.schema = a.schema
        self.decoder = a.decoder
        self.windows = a.windows
        self.local_cap = 2 * a.max_cohorts
        self.plausible = a.plausible
        self.coalesce_records = a.coalesce_records
        self.coalesce_seconds = a.coalesce_seconds
        self.store = store
        self.sender = sender
        self.dlq = dlq
        self.admitted = admitted  # the cohorts this process's mergers admitted (routing hints)
        self.checkpoint_interval = checkpoint_interval
        self.observer = observer
        self._buffers: dict[TopicPartition, tuple[float, PartitionRecords]] = {}
        self._generation = 0  # bumped by every rebalance callback
        self.aggs: dict[TopicPartition, PartitionAggregator] = {}
        self.counters = SourceCounters()
        self.record_counters = RecordCounters()
        self.checkpoints = 0
        self._lock = asyncio.Lock()
        self._last_checkpoint = time.monotonic()
        self._sent_watermark: dict[TopicPartition, float] = {}
        self.consumer = consumer.build(on_assigned=self._on_assigned, on_revoked=self._on_revoked)
        self._decoding = ThreadPoolExecutor(1, thread_name_prefix="driftline-decode")
        # (perf_counter, process_time) when the first records were fetched: throughput is
        # timed from there (records wait in the coalescing buffers before they are counted)
        self.first_fetch: tuple[float, float] | None = None

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        """Checkpoint every owned partition, then leave the group."""
        async with self._lock:
            await self._checkpoint(set(self.aggs))
            self.aggs.clear()
        self._decoding.shutdown()
        await self.consumer.stop()

    # -- rebalance --------------------------------------------------------------------------
    def _new_aggregator(self, tp: TopicPartition) -> PartitionAggregator:
        w = self.windows
        return PartitionAggregator(
            tp.topic, tp.partition, self.schema, self.decoder, w.size, w.allowed_lateness,
            w.idle_timeout, self.admitted, self.local_cap, plausible=self.plausible,
        )

    async def _on_assigned(self, tps: set[TopicPartition]) -> None:
        async with self._lock:
            self._generation += 1
            self._buffers.clear()
            found = await self.store.load(
                source_key(self.monitor, tp.topic, tp.partition) for tp in tps
            )
            fresh = set()
            for tp in tps:
                agg = self._new_aggregator(tp)
                cp = found.get(source_key(self.monitor, tp.topic, tp.partition))
                if cp is not None:
                    agg.restore(cp.state)
                    agg.next_offset = cp.next_offset
                    # idle time counts from now: a partition restored fully consumed must
                    # still close its last window after idle_timeout
                    agg.clock.touch(time.time())
                    self.consumer.seek(tp, cp.next_offset)
                else:
                    fresh.add(tp)
                self.aggs[tp] = agg
                self._sent_watermark.pop(tp, None)
            await self.consumer.seek_default(fresh)
            log.info("assigned %s (%d restored from checkpoints)", sorted(tps),
                     len(tps) - len(fresh))

    async def _on_revoked(self, tps: set[TopicPartition]) -> None:
        async with self._lock:
            self._generation += 1
            owned = {tp for tp in tps if tp in self.aggs}
            await self._checkpoint(owned)
            for tp in owned:
                del self.aggs[tp]
            for tp in tps:  # buffered records are re-read by the next owner from its checkpoint
                self._buffers.pop(tp, None)
            log.info("revoked %s (checkpointed)", sorted(owned))

    # -- the loop ---------------------------------------------------------------------------
    async def step(self, timeout_ms: int = 200) -> int:
        """One fetch -> aggregate -> partials round; returns the records processed."""
        generation = self._generation
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms)
        if fetched and self.first_fetch is None:
            self.first_fetch = (time.perf_counter(), time.process_time())
        now = time.time()
        processed = 0
        async with self._lock:
            if generation != self._generation:
                # a rebalance ran while this fetch was in flight: its records may predate the
                # seek to a restored checkpoint. Drop them and fetch again from the state.
                await self._rewind({TopicPartition(f.topic, f.partition) for f in fetched})
                fetched = []
            # partition i+1 is decoded (the native decoder runs without the GIL) while
            # partition i is aggregated
            for decoded in self._decoding.map(self._decode, self._coalesce(fetched)):
                processed += self._ingest(decoded, now)
            self._advance_to_positions()
            await self._emit(now)
            if time.monotonic() - self._last_checkpoint >= self.checkpoint_interval:
                await self._checkpoint(set(self.aggs))
        return processed

    async def _rewind(self, tps: set[TopicPartition]) -> None:
        """Seek owned partitions back to the next offset their state needs."""
        fresh = set()
        for tp in tps:
            agg = self.aggs.get(tp)
            if agg is None:
                continue
            if agg.next_offset is None:
                fresh.add(tp)
            else:
                self.consumer.seek(tp, agg.next_offset)
        await self.consumer.seek_default(fresh)

    def _coalesce(self, fetched: list[PartitionRecords]) -> list[PartitionRecords]:
        """Small fetches of a partition are buffered until ``coalesce_records`` records, or
        ``coalesce_seconds`` passed, or the partition is caught up: the sketches are updated
        once per (window, cohort, feature) per batch, so bigger batches cost less per event."""
        mono = time.monotonic()
        for f in fetched:
            tp = TopicPartition(f.topic, f.partition)
            if tp not in self.aggs:
                continue
            held = self._buffers.get(tp)
            if held is None:
                self._buffers[tp] = (mono, f)
            else:
                held[1].extend(f)
        ready = []
        for tp, (since, buf) in list(self._buffers.items()):
            high = self.consumer.fetchable_end(tp)
            pos = self.consumer.fetch_position(tp)
            caught_up = high is None or max(buf.next_offset, pos or 0) >= high
            if (len(buf.offsets) >= self.coalesce_records or caught_up
                    or mono - since >= self.coalesce_seconds):
                ready.append(buf)
                del self._buffers[tp]
        return ready

    def _decode(self, fetched: PartitionRecords) -> _Decoded | None:
        """A partition's new records, without tombstones, decoded (None: its partition was
        revoked while the fetch was in flight). Reads no state the aggregation changes but the
        partition's own next offset, so it runs in the decode thread while the partition
        before it is aggregated."""
        tp = TopicPartition(fetched.topic, fetched.partition)
        agg = self.aggs.get(tp)
        if agg is None:
            return None
        if agg.next_offset is not None:
            fetched = fetched.after(agg.next_offset)
        usable = without_tombstones(fetched)  # delete markers are not events
        decoded = None
        if usable.offsets:
            ts = np.asarray(usable.timestamps_ms, dtype=np.float64)
            decoded = self.decoder.decode(usable.values, ts)
        return _Decoded(agg, fetched, usable, decoded)

    def _ingest(self, d: _Decoded | None, now: float) -> int:
        """Aggregate a decoded partition batch; returns its records."""
        if d is None or not d.fetched.offsets:
            return 0
        agg, fetched, usable = d.agg, d.fetched, d.usable
        self.record_counters.add(fetched)
        base = fetched.offsets[0] if agg.next_offset is None else agg.next_offset
        self.record_counters.skipped(  # offsets inside the fetch without a record
            fetched.topic, fetched.next_offset - base - len(fetched.offsets))
        if d.decoded is None:
            agg.clock.touch(now)
            agg.next_offset = fetched.next_offset
            return len(fetched.offsets)
        report = agg.ingest_decoded(d.decoded, records=len(usable.values), now=now)
        agg.next_offset = fetched.next_offset
        if self.dlq is not None:
            keys = usable.keys
            for dl in report.dead_letters:
                self.dlq.write(DeadLetter(
                    usable.values[dl.index], dl.reason, usable.topic, usable.partition,
                    usable.offsets[dl.index], key=keys[dl.index] if keys else None,
                    timestamp_ms=usable.timestamps_ms[dl.index],
                ))
        self.counters.add(report)
        if self.observer is not None:
            self.observer(usable, d.decoded, report)
        return len(fetched.offsets)

    def _advance_to_positions(self) -> None:
        """Move each partition's next offset to the consumer's position when nothing fetched is
        still buffered: the offsets in between held no record for this consumer (transaction
        markers, aborted transactions, compaction), and a partition whose position reached the
        fetchable end is caught up even though its last offset was a marker."""
        for tp, agg in self.aggs.items():
            if tp in self._buffers:
                continue
            pos = self.consumer.fetch_position(tp)
            if pos is None:
                continue
            if agg.next_offset is None:
                agg.next_offset = pos
            elif pos > agg.next_offset:
                self.record_counters.skipped(tp.topic, pos - agg.next_offset)
                agg.next_offset = pos

    async def _emit(self, now: float) -> None:
        """Send closed windows, then the watermarks that say so (in this order)."""
        for tp, agg in self.aggs.items():
            end = self.consumer.fetchable_end(tp)
            caught_up = (end is not None and tp not in self._buffers
                         and (agg.next_offset or 0) >= end)
            for partial in agg.ready(now if caught_up else None):
                # The merger advances a source's watermark to the one a partial carries. All
                # windows a ready() call closes carry the same (latest) watermark, and a fetch
                # on the merger side may end between them: stamp each with its own end (a safe
                # lower bound) so the later ones cannot be closed without their partials. The
                # watermark record sent after them carries the real value.
                partial.watermark = min(partial.watermark, partial.end)
                await self.sender.send_partial(partial)
            wm = agg.watermark
            if wm > self._sent_watermark.get(tp, float("-inf")):
                await self.sender.send_watermark(tp.topic, tp.partition, wm)
                self._sent_watermark[tp] = wm

    async def _checkpoint(self, tps: set[TopicPartition]) -> None:
        """Make emitted partials and dead letters durable, then checkpoint ``tps``."""
        await self.sender.flush()
        if self.dlq is not None:
            await asyncio.to_thread(self.dlq.producer.flush)
            if self.dlq.producer.failed:
                raise RuntimeError(f"dead-letter delivery failed: {self.dlq.producer.last_error!r}")
        entries: dict[str, Checkpoint] = {}
        offsets: dict[TopicPartition, int] = {}
        for tp in tps:
            agg = self.aggs.get(tp)
            if agg is None or agg.next_offset is None:
                continue
            entries[source_key(self.monitor, tp.topic, tp.partition)] = Checkpoint(
                agg.next_offset, agg.snapshot())
            offsets[tp] = agg.next_offset
        if entries:
            await self.store.save(entries)
            await self.consumer.commit(offsets)
            self.checkpoints += len(entries)
        self._last_checkpoint = time.monotonic()

    async def checkpoint_now(self) -> None:
        async with self._lock:
            await self._checkpoint(set(self.aggs))

    # -- introspection ----------------------------------------------------------------------
    def lag(self) -> dict[tuple[str, int], int]:
        """Offsets between the consumer's position and the end of what it can read (the last
        stable offset under ``read_committed``), per owned partition, as of the last fetch; a
        trailing transaction marker is behind the position, so a caught-up partition has 0."""
        out = {}
        for tp, agg in self.aggs.items():
            end = self.consumer.fetchable_end(tp)
            if end is not None:
                out[(tp.topic, tp.partition)] = max(0, end - (agg.next_offset or 0))
        return out

    def caught_up(self) -> bool:
        lag = self.lag()
        return bool(self.aggs) and len(lag) == len(self.aggs) and not any(lag.values())
