"""Batched consumption of the high-volume event topics (aiokafka ``getmany``).

faust's own stream path costs ~60 µs per event (see docs/runtime.md), so the event topics are
read with a plain aiokafka consumer in the faust worker's event loop: large ``getmany`` batches,
its own consumer-group membership, no auto-commit, and a rebalance listener that hands
assignment and revocation to the owner (the worker), which restores state from checkpoints and
seeks on assignment, and checkpoints on revocation, before the group moves on.

>>> fetched = PartitionRecords("events", 0, offsets=[5, 6], timestamps_ms=[1000, 1001],
...                            values=[b'{"x": 1}', b'{"x": 2}'])
>>> fetched.next_offset
7
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import OffsetAndMetadata

log = logging.getLogger(__name__)

PartitionsCallback = Callable[[set[TopicPartition]], Awaitable[None]]


@dataclass(slots=True)
class PartitionRecords:
    """Records fetched from one partition, as parallel lists (in offset order).

    A null value (a tombstone) is ``b""`` in ``values`` and its index is in ``tombstones``;
    ``keys`` holds the record keys and ``with_headers`` the indices of the records that carry
    headers.
    """

    topic: str
    partition: int
    offsets: list[int]
    timestamps_ms: list[int]
    values: list[bytes]
    keys: list[bytes | None] = field(default_factory=list)
    tombstones: list[int] = field(default_factory=list)
    with_headers: list[int] = field(default_factory=list)

    @property
    def next_offset(self) -> int:
        return self.offsets[-1] + 1 if self.offsets else -1

    def extend(self, more: PartitionRecords) -> None:
        """Append the next records of the same partition (coalescing small fetches)."""
        base = len(self.offsets)
        self.offsets.extend(more.offsets)
        self.timestamps_ms.extend(more.timestamps_ms)
        self.values.extend(more.values)
        self.keys.extend(more.keys)
        self.tombstones.extend(i + base for i in more.tombstones)
        self.with_headers.extend(i + base for i in more.with_headers)

    def after(self, offset: int) -> PartitionRecords:
        """Only the records at ``offset`` or later (drops what a state already covers)."""
        if not self.offsets or self.offsets[0] >= offset:
            return self
        import bisect

        i = bisect.bisect_left(self.offsets, offset)
        return PartitionRecords(
            self.topic, self.partition, self.offsets[i:], self.timestamps_ms[i:], self.values[i:],
            self.keys[i:], [t - i for t in self.tombstones if t >= i],
            [h - i for h in self.with_headers if h >= i],
        )


class _Listener(ConsumerRebalanceListener):
    def __init__(self, on_assigned: PartitionsCallback, on_revoked: PartitionsCallback) -> None:
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self._on_assigned(set(assigned))


class BatchConsumer:
    """A consumer-group member that fetches large batches and delegates rebalances.

    ``on_assigned``/``on_revoked`` are awaited by aiokafka inside the rebalance (the group waits
    for them), so the owner can checkpoint before losing a partition and seek before fetching.

    Example (needs a broker)::

        consumer = BatchConsumer(["events"], "driftline-fraud", {"bootstrap_servers": "..."},
                                 on_assigned=restore, on_revoked=checkpoint)
        await consumer.start()
        for fetched in await consumer.getmany(timeout_ms=200):
            ...  # PartitionRecords per partition
    """

    def __init__(
        self,
        topics: list[str],
        group_id: str,
        client: Mapping[str, Any],
        *,
        on_assigned: PartitionsCallback,
        on_revoked: PartitionsCallback,
        max_records: int = 50_000,
        auto_offset_reset: str = "earliest",
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 2_000,
        max_partition_fetch_bytes: int = 8 * 1024 * 1024,
        isolation_level: str = "read_committed",
    ) -> None:
        self.topics = list(topics)
        self.isolation_level = isolation_level
        self.group_id = group_id
        self.max_records = max_records
        self.auto_offset_reset = auto_offset_reset
        self._listener = _Listener(on_assigned, on_revoked)
        self._consumer = AIOKafkaConsumer(
            **dict(client),
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
            max_partition_fetch_bytes=max_partition_fetch_bytes,
            fetch_max_bytes=64 * 1024 * 1024,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            max_poll_interval_ms=300_000,
            isolation_level=isolation_level,
        )

    @property
    def raw(self) -> AIOKafkaConsumer:
        return self._consumer

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.subscribe(self.topics, listener=self._listener)

    async def stop(self) -> None:
        """Leave the group (the revoke callback runs first, so state is checkpointed)."""
        await self._consumer.stop()

    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment())

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._consumer.seek(tp, offset)

    async def seek_default(self, tps: set[TopicPartition]) -> None:
        """Start partitions without a checkpoint per ``auto_offset_reset``."""
        if not tps:
            return
        if self.auto_offset_reset == "latest":
            await self._consumer.seek_to_end(*tps)
        else:
            await self._consumer.seek_to_beginning(*tps)

    async def position(self, tp: TopicPartition) -> int:
        return int(await self._consumer.position(tp))

    async def getmany(self, timeout_ms: int = 200) -> list[PartitionRecords]:
        """One fetch: up to ``max_records`` records, grouped per partition in offset order."""
        data = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        out = []
        for tp, records in data.items():
            if not records:
                continue
            values = [r.value for r in records]
            tombstones: list[int] = []
            if None in values:  # a C-level scan; tombstones are rare outside compacted topics
                tombstones = [i for i, v in enumerate(values) if v is None]
                for i in tombstones:
                    values[i] = b""
            out.append(
                PartitionRecords(
                    tp.topic,
                    tp.partition,
                    [r.offset for r in records],
                    [r.timestamp for r in records],
                    values,
                    [r.key for r in records],
                    tombstones,
                    [i for i, r in enumerate(records) if r.headers],
                )
            )
        return out

    def fetch_position(self, tp: TopicPartition) -> int | None:
        """See :func:`fetch_position`."""
        return fetch_position(self._consumer, tp)

    def fetchable_end(self, tp: TopicPartition) -> int | None:
        """See :func:`fetchable_end`."""
        return fetchable_end(self._consumer, tp, self.isolation_level)

    def highwater(self, tp: TopicPartition) -> int | None:
        """The partition's end offset as of the last fetch (None before the first fetch)."""
        return highwater(self._consumer, tp)

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit group offsets (for lag visibility; checkpoints are the source of truth)."""
        owned = self.assignment()
        mine = {tp: OffsetAndMetadata(off, "") for tp, off in offsets.items() if tp in owned}
        if not mine:
            return
        try:
            await self._consumer.commit(mine)
        except Exception as exc:  # a commit racing a rebalance is harmless here
            log.info("offset commit skipped: %s", exc)


def fetch_position(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """The offset after everything the last fetches returned *or skipped* (transaction
    markers, aborted transactions under ``read_committed``, offsets removed by compaction);
    None while the partition has no position (just assigned, or being reset)."""
    try:
        state = consumer._subscription.subscription.assignment.state_value(tp)
    except AttributeError:
        return None
    if state is None or not state.has_valid_position:
        return None
    return int(state.position)


def highwater(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    """The partition's end offset as of the last fetch (None before the first fetch)."""
    try:
        return consumer.highwater(tp)
    except (AssertionError, KeyError):
        return None


def fetchable_end(consumer: AIOKafkaConsumer, tp: TopicPartition, isolation_level: str
                  ) -> int | None:
    """The end of what ``consumer`` can read, as of the last fetch: the last stable offset
    under ``read_committed`` (records of open transactions are not readable yet), the high
    watermark under ``read_uncommitted``; None before the first fetch."""
    high = highwater(consumer, tp)
    if isolation_level == "read_committed":
        try:
            lso = consumer.last_stable_offset(tp)
        except (AssertionError, KeyError):
            lso = None
        if lso is not None and lso >= 0:
            return int(lso) if high is None else min(int(lso), int(high))
    return high


def caught_up(consumer: AIOKafkaConsumer, tp: TopicPartition, isolation_level: str) -> bool:
    """``consumer`` has read ``tp`` to the end of what it can read (as of the last fetch)."""
    pos, end = fetch_position(consumer, tp), fetchable_end(consumer, tp, isolation_level)
    return pos is not None and end is not None and pos >= end

