"""Partial windows between workers: the partials topic, and the merger side that consumes it.

Every worker's source side sends each closed :class:`~stream.engine.partial.PartialWindow` to the
partials topic, keyed by the start of the *longest* window tier containing it (so all partials
of a window — and every base window of a rollup — meet in one partition), followed by
watermark records broadcast to every partition (a partition with no events in a window sends
no partial; its watermark tells the merger it has nothing more for that window).

The merger side is a plain aiokafka consumer group (``<group>.merger``) on the partials topic,
one :class:`~stream.engine.merger.Merger` per assigned partials partition, checkpointed exactly like
the source side (merger snapshot + next partials offset in the compacted checkpoint topic).
Why not a faust agent + table: the state is one opaque blob per partition that must move
together with an offset; faust tables would store it per key with changelog semantics that
the design notes found lossy for bytes values, and windowed tables are unsuitable.

Results are published (results topic, exporter, alerting) *before* the merger checkpoint that
records the window as closed, so a crash re-evaluates a window from the same partials (same
counts) rather than losing it; consumers of the results topic keep the latest record per key
``tier|start|segment|cohort``.

>>> route_key(3725.0, 3600.0)
b'3600'
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from driftline.sketches.schema import ProfileSchema
from driftline.stream.engine.merger import Merger
from driftline.stream.engine.partial import PartialWindow
from driftline.stream.kafka.checkpoint import (
    MAX_CHECKPOINT_BYTES,
    Checkpoint,
    CheckpointStore,
    checkpoint_key,
)
from driftline.stream.kafka.consumer import BatchConsumer

log = logging.getLogger(__name__)

KIND = "driftline.kind"
PARTIAL = b"partial"
WATERMARK = b"watermark"

Publish = Callable[[list[Any]], Awaitable[None]]
Apply = Callable[[Any, bytes, float], None]


def route_key(start: float, longest_tier: float) -> bytes:
    """Partition key of a partial: the start of the longest tier's window containing it."""
    return str(int(math.floor(start / longest_tier) * longest_tier)).encode()


class SentPartials:
    """The partials this process sent, by their bytes, until its merger side reads them back.

    When a worker's merger side owns the partials partition that its source side writes to,
    it reads back the very bytes it sent: :meth:`take` then returns the sent
    :class:`~stream.engine.partial.PartialWindow` (equal bytes, so equal to what decoding them
    gives) instead of decoding them again. Partials that another worker reads, or that are not
    read back within ``max_age`` seconds, are forgotten, oldest first, as are the oldest past
    ``max_bytes``; a record not found here is decoded.

    >>> p = PartialWindow("events", 0, 0.0, 60.0, {}, 60.0)
    >>> value = p.to_bytes()
    >>> kept = SentPartials(); kept.keep(value, p)
    >>> kept.take(bytes(value)) is p, kept.take(value)
    (True, None)
    >>> kept = SentPartials(max_bytes=len(value) + 1)  # room for one of the two
    >>> kept.keep(value, p); kept.keep(value + b" ", p); len(kept)
    1
    """

    def __init__(self, *, max_bytes: int = 64 * 1024 * 1024, max_age: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._clock = clock
        self._sent: OrderedDict[bytes, tuple[float, PartialWindow]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._sent)

    def keep(self, value: bytes, partial: PartialWindow) -> None:
        now = self._clock()
        if self._sent.pop(value, None) is None:
            self._bytes += len(value)
        self._sent[value] = (now, partial)
        while self._sent and (self._bytes > self.max_bytes
                              or next(iter(self._sent.values()))[0] < now - self.max_age):
            old, _ = self._sent.popitem(last=False)
            self._bytes -= len(old)

    def take(self, value: bytes) -> PartialWindow | None:
        found = self._sent.pop(value, None)
        if found is None:
            return None
        self._bytes -= len(value)
        return found[1]


class PartialSender:
    """Sends partials and watermarks (aiokafka, acks=all, idempotent, ordered per partition).

    :meth:`flush` waits until everything sent so far is acknowledged; the source side calls it
    before each checkpoint.

    Example (needs a broker)::

        sender = PartialSender("driftline.fraud.partials", {"bootstrap_servers": "..."}, 3600)
        await sender.start()
        await sender.send_partial(partial)                  # a closed window of events[2]
        await sender.send_watermark("events", 2, partial.end)
        await sender.flush()                                # acknowledged: now checkpoint
    """

    def __init__(self, topic: str, client: dict[str, Any], longest_tier: float, *,
                 sent: SentPartials | None = None) -> None:
        self.topic = topic
        self.longest_tier = longest_tier
        self.sent = sent
        self._producer = AIOKafkaProducer(
            **client, acks="all", enable_idempotence=True, linger_ms=5,
            max_request_size=MAX_CHECKPOINT_BYTES,
        )
        self._pending: list[asyncio.Future[Any]] = []
        self._partitions: list[int] = []
        self.partials_sent = 0

    async def start(self) -> None:
        await self._producer.start()
        parts = await self._producer.partitions_for(self.topic)
        self._partitions = sorted(parts)

    async def stop(self) -> None:
        await self.flush()
        await self._producer.stop()

    async def send_partial(self, partial: PartialWindow) -> None:
        value = partial.to_bytes()
        if self.sent is not None:
            self.sent.keep(value, partial)
        fut = await self._producer.send(
            self.topic, value, key=route_key(partial.start, self.longest_tier),
            headers=[(KIND, PARTIAL)],
        )
        self._pending.append(fut)
        self.partials_sent += 1

    async def send_watermark(self, topic: str, partition: int, watermark: float) -> None:
        value = orjson.dumps({"topic": topic, "partition": partition, "watermark": watermark})
        for p in self._partitions:
            fut = await self._producer.send(
                self.topic, value, partition=p, headers=[(KIND, WATERMARK)])
            self._pending.append(fut)

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)


class MergerSide:
    """Consumes the partials topic, merges and evaluates windows, publishes results.

    ``make_merger()`` builds a fresh :class:`Merger` (evaluator, cohorts, tiers);
    ``sources`` are all partitions of the event topics (a window waits for all of them).
    Any merge state with the same seams (``expect``, ``ready``, ``snapshot``, ``restore``) is
    driven the same way when ``apply(merger, value, now)`` feeds it a record: the label
    workers' performance merger (:mod:`stream.performance.merge`) is one.

    Example (needs a broker; the runtime wires it)::

        side = MergerSide("fraud", "driftline.fraud.partials", "driftline-fraud.merger",
                          client, schema, make_merger, [("events", 0), ("events", 1)],
                          publish, store=store)
        await side.start()
        while running:
            await side.step()     # merge what arrived, publish the windows that closed
        await side.stop()         # checkpoint, leave the group
    """

    def __init__(
        self,
        monitor: str,
        topic: str,
        group_id: str,
        client: dict[str, Any],
        schema: ProfileSchema | None,
        make_merger: Callable[[], Any],
        sources: Sequence[tuple[str, int]],
        publish: Publish,
        *,
        store: CheckpointStore,
        apply: Apply | None = None,
        sent: SentPartials | None = None,
        checkpoint_on_publish: bool = True,
        checkpoint_interval: float = 10.0,
        session_timeout_ms: int = 10_000,
        instance_id: str | None = None,
    ) -> None:
        self.monitor = monitor
        self.topic = topic
        self.schema = schema
        self.make_merger = make_merger
        self.sources = list(sources)
        self.publish = publish
        self.store = store
        self.checkpoint_interval = checkpoint_interval
        self.apply: Apply = apply or self._apply
        self.sent = sent  # this process's own partials, not decoded again (SentPartials)
        # False: checkpoint every checkpoint_interval only (a state whose rounds are
        # idempotent, e.g. keyed records, and costly to snapshot)
        self.checkpoint_on_publish = checkpoint_on_publish
        self.mergers: dict[TopicPartition, Any] = {}
        self.next_offsets: dict[TopicPartition, int] = {}
        self.windows_published = 0
        self._dirty: set[TopicPartition] = set()
        self._generation = 0  # bumped by every rebalance callback
        self._lock = asyncio.Lock()
        self._last_checkpoint = time.monotonic()
        extra: dict[str, Any] = {"group_instance_id": instance_id} if instance_id else {}
        self.consumer = BatchConsumer(
            [topic], group_id, {**client, **extra},
            on_assigned=self._on_assigned, on_revoked=self._on_revoked,
            max_records=10_000, auto_offset_reset="earliest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(500, session_timeout_ms // 5),
            max_partition_fetch_bytes=MAX_CHECKPOINT_BYTES,
        )

    def _key(self, tp: TopicPartition) -> str:
        return checkpoint_key(self.monitor, tp.topic, tp.partition)

    async def start(self) -> None:
        await self.consumer.start()

    async def stop(self) -> None:
        async with self._lock:
            await self._checkpoint(set(self.mergers))
            self.mergers.clear()
        await self.consumer.stop()

    async def _on_assigned(self, tps: set[TopicPartition]) -> None:
        async with self._lock:
            self._generation += 1
            found = await self.store.load(self._key(tp) for tp in tps)
            fresh = set()
            for tp in tps:
                merger = self.make_merger()
                cp = found.get(self._key(tp))
                if cp is not None:
                    merger.restore(cp.state)
                    self.consumer.seek(tp, cp.next_offset)
                    self.next_offsets[tp] = cp.next_offset
                else:
                    fresh.add(tp)
                merger.expect(self.sources)
                self.mergers[tp] = merger
            await self.consumer.seek_default(fresh)

    async def between_rounds(self, change: Callable[[], None]) -> None:
        """Run ``change`` while no window is being merged or evaluated (and no partition
        assigned): every window closes either entirely before it or entirely after it."""
        async with self._lock:
            change()

    async def _on_revoked(self, tps: set[TopicPartition]) -> None:
        async with self._lock:
            self._generation += 1
            owned = {tp for tp in tps if tp in self.mergers}
            await self._checkpoint(owned)
            for tp in owned:
                del self.mergers[tp]
                self.next_offsets.pop(tp, None)

    async def step(self, timeout_ms: int = 200) -> int:
        """One fetch -> merge -> close/evaluate -> publish round; returns records read."""
        generation = self._generation
        fetched = await self.consumer.getmany(timeout_ms=timeout_ms)
        now = time.time()
        n = 0
        async with self._lock:
            if generation != self._generation:  # may predate a seek: drop, fetch again
                fresh = set()
                for f in fetched:
                    tp = TopicPartition(f.topic, f.partition)
                    if tp not in self.mergers:
                        continue
                    if tp in self.next_offsets:
                        self.consumer.seek(tp, self.next_offsets[tp])
                    else:
                        fresh.add(tp)
                await self.consumer.seek_default(fresh)
                fetched = []
            for batch in fetched:
                tp = TopicPartition(batch.topic, batch.partition)
                merger = self.mergers.get(tp)
                if merger is None:
                    continue
                start = self.next_offsets.get(tp, -1)
                for i, offset in enumerate(batch.offsets):
                    if offset < start:
                        continue
                    self.apply(merger, batch.values[i], now)
                    n += 1
                self.next_offsets[tp] = batch.next_offset
                self._dirty.add(tp)
            results: list[Any] = []
            for tp, merger in self.mergers.items():
                closed = merger.ready(now)
                if closed:
                    results.extend(closed)
                    self._dirty.add(tp)
            if results:
                await self.publish(results)
                self.windows_published += len(results)
            # checkpoint right after publishing: a crash then re-evaluates (and re-alerts on) a
            # window only if it lands between the two acknowledgements
            due = time.monotonic() - self._last_checkpoint >= self.checkpoint_interval
            if (results and self.checkpoint_on_publish) or due:
                await self._checkpoint(set(self.mergers))
        return n

    def _apply(self, merger: Merger, value: bytes, now: float) -> None:
        if value.startswith(b"{"):  # a watermark record (partials are binary frames)
            wm = orjson.loads(value)
            merger.advance((wm["topic"], int(wm["partition"])), float(wm["watermark"]))
        else:
            assert self.schema is not None
            partial = self.sent.take(value) if self.sent is not None else None
            if partial is None:
                partial = PartialWindow.from_bytes(value, self.schema)
            if not merger.add(partial, now) and partial.events:
                log.info("dropped a partial of %s[%d] for window %s (%d events): the window "
                         "is closed (a re-send after a restart)", partial.topic,
                         partial.partition, partial.start, partial.events)

    async def _checkpoint(self, tps: set[TopicPartition]) -> None:
        entries = {
            self._key(tp): Checkpoint(self.next_offsets[tp], self.mergers[tp].snapshot())
            for tp in tps
            if tp in self.mergers and tp in self.next_offsets and tp in self._dirty
        }
        if entries:
            await self.store.save(entries)
            await self.consumer.commit({tp: self.next_offsets[tp] for tp in tps
                                        if tp in self.next_offsets})
        self._dirty -= tps
        self._last_checkpoint = time.monotonic()

    def lag(self) -> dict[tuple[str, int], int]:
        out = {}
        for tp in self.mergers:
            high = self.consumer.highwater(tp)
            if high is not None:
                out[(tp.topic, tp.partition)] = max(0, high - self.next_offsets.get(tp, 0))
        return out
