"""Checkpoints in a compacted Kafka topic: state bytes together with the next offset they cover.

A checkpoint is the source of truth for exactness: the aggregator of one source partition (or
the merger of one partials partition) is snapshotted *together with* the offset of the first
record its state does not include yet. After a crash the worker restores the snapshot and seeks
to that offset, so every record is counted exactly once, whatever Kafka's committed group
offsets say (those are committed too, but only for lag visibility).

Records are keyed ``monitor|topic|partition`` in a log-compacted topic (latest value per key is
kept), written with ``acks=all`` and idempotence; the value is a small binary header (magic,
version, next offset, wall time) followed by the opaque state bytes.

>>> cp = Checkpoint(next_offset=42, state=b"snapshot")
>>> Checkpoint.from_bytes(cp.to_bytes()).next_offset
42
>>> checkpoint_key("fraud", "transactions", 3)
'fraud|transactions|3'
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from driftline.stream.kafka.admin import TopicSpec

MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024
"""Largest checkpoint record (topic ``max.message.bytes`` and producer ``max_request_size``)."""

_MAGIC = b"DLCP"
_VERSION = 1
_HEADER = struct.Struct(">4sBqd")


def checkpoint_topic_spec(name: str) -> TopicSpec:
    """The checkpoint topic: one partition, log-compacted, large records allowed."""
    return TopicSpec(
        name,
        partitions=1,
        configs={
            "cleanup.policy": "compact",
            "max.message.bytes": str(MAX_CHECKPOINT_BYTES),
            "min.compaction.lag.ms": "0",
            "segment.ms": "3600000",
        },
    )


def checkpoint_key(monitor: str, topic: str, partition: int) -> str:
    """The compaction key of one partition's checkpoint."""
    return f"{monitor}|{topic}|{partition}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Opaque state plus the offset of the first record the state does NOT include."""

    next_offset: int
    state: bytes
    written_at: float = field(default_factory=time.time)

    def to_bytes(self) -> bytes:
        return _HEADER.pack(_MAGIC, _VERSION, self.next_offset, self.written_at) + self.state

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:
        if len(data) < _HEADER.size:
            raise ValueError(f"checkpoint record too short ({len(data)} bytes)")
        magic, version, offset, written_at = _HEADER.unpack_from(data)
        if magic != _MAGIC or version != _VERSION:
            raise ValueError(f"not a driftline checkpoint (magic {magic!r}, version {version})")
        return cls(next_offset=offset, state=bytes(data[_HEADER.size :]), written_at=written_at)


class CheckpointStore:
    """Write and read partition checkpoints in one compacted topic (asyncio, aiokafka).

    ``client`` is ``cfg.kafka.aiokafka_kwargs()`` (bootstrap servers and security). The topic
    must exist (the worker creates it compacted at start). Reads catch up incrementally: each
    :meth:`load` reads only what was appended since the previous one, then answers from the
    latest value per key — so checkpoints written by another worker just before a rebalance
    are seen by the worker that takes the partition over.

    Example (needs a broker)::

        store = CheckpointStore("driftline.fraud.checkpoints", {"bootstrap_servers": "..."})
        await store.start()
        await store.save({"fraud|events|0": Checkpoint(1200, state_bytes)})
        (await store.load(["fraud|events|0"]))["fraud|events|0"].next_offset   # 1200
        await store.stop()
    """

    def __init__(self, topic: str, client: Mapping[str, Any]) -> None:
        self.topic = topic
        self._client = dict(client)
        self._producer: AIOKafkaProducer | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._latest: dict[str, bytes | None] = {}
        self._read_lock = asyncio.Lock()
        self.writes = 0
        self.bytes_written = 0

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            **self._client,
            acks="all",
            enable_idempotence=True,
            max_request_size=MAX_CHECKPOINT_BYTES,
            linger_ms=0,
        )
        await self._producer.start()
        self._reader = AIOKafkaConsumer(
            **self._client,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=MAX_CHECKPOINT_BYTES,
            fetch_max_bytes=MAX_CHECKPOINT_BYTES,
        )
        await self._reader.start()
        parts = self._reader.partitions_for_topic(self.topic)
        if not parts:
            await self._reader._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
            parts = self._reader.partitions_for_topic(self.topic)
        if not parts:
            raise RuntimeError(f"checkpoint topic {self.topic!r} does not exist")
        self._partitions = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self._reader.assign(self._partitions)
        await self._reader.seek_to_beginning(*self._partitions)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None

    async def save(self, checkpoints: Mapping[str, Checkpoint]) -> None:
        """Write all checkpoints and wait until the broker acknowledged every one (acks=all)."""
        assert self._producer is not None, "start() first"
        futures = []
        for key, cp in checkpoints.items():
            value = cp.to_bytes()
            futures.append(await self._producer.send(self.topic, value, key=key.encode()))
            self.bytes_written += len(value)
        if futures:
            await asyncio.gather(*futures)
        for key, cp in checkpoints.items():  # our own writes are the newest for these keys
            self._latest[key] = cp.to_bytes()
        self.writes += len(futures)

    async def delete(self, keys: Iterable[str]) -> None:
        """Tombstone checkpoints (e.g. a partition whose state is reset on purpose)."""
        assert self._producer is not None, "start() first"
        futures = [await self._producer.send(self.topic, None, key=k.encode()) for k in keys]
        if futures:
            await asyncio.gather(*futures)
        for k in keys:
            self._latest[k] = None

    async def load(self, keys: Iterable[str], timeout_s: float = 60.0) -> dict[str, Checkpoint]:
        """Latest checkpoint of each key that has one (read up to the topic's current end)."""
        await self._catch_up(timeout_s)
        out: dict[str, Checkpoint] = {}
        for key in keys:
            raw = self._latest.get(key)
            if raw is not None:
                out[key] = Checkpoint.from_bytes(raw)
        return out

    async def _catch_up(self, timeout_s: float) -> None:
        reader = self._reader
        assert reader is not None, "start() first"
        async with self._read_lock:
            ends = await reader.end_offsets(self._partitions)
            deadline = time.monotonic() + timeout_s
            while True:
                pending = [tp for tp in self._partitions if await reader.position(tp) < ends[tp]]
                if not pending:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading checkpoints from {self.topic} took > {timeout_s}s")
                batches = await reader.getmany(*pending, timeout_ms=500, max_records=10_000)
                for records in batches.values():
                    for rec in records:
                        if rec.key is not None:
                            self._latest[rec.key.decode()] = rec.value
