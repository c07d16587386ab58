"""The event-topic consumer on librdkafka (confluent-kafka): ``source.kafka.consumer: librdkafka``.

The same interface and guarantees as :class:`stream.kafka.consumer.BatchConsumer` (aiokafka):
large batches per partition, its own group membership, no auto-commit, and rebalances handed to
the owner before the group moves on. librdkafka calls its rebalance callbacks inside
``consume()``, on the thread that calls it; ``consume()`` runs in a worker thread here, and the
callback runs the owner's (async) ``on_assigned``/``on_revoked`` on the event loop and waits
for it, so the owner restores or checkpoints exactly as with aiokafka. The seeks the owner asks
for during an assignment become the offsets the partitions are assigned at.

Its batch ``consume()`` spends about half of aiokafka's CPU per record (docs/kafka.md,
"Consumers"); the per-partition lists are read from its ``Message`` objects with one C-level
``map`` per field (:func:`by_partition`). Caught-up and lag use librdkafka's position (which
moves past transaction markers and aborted transactions) and its cached high watermark.

>>> by_partition([])
[]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from itertools import compress
from operator import itemgetter
from typing import Any

import numpy as np
from aiokafka import TopicPartition

from driftline.stream.config.kafka import KafkaSettings
from driftline.stream.kafka.consumer import PartitionRecords, PartitionsCallback
from driftline.stream.kafka.consumer_native import NativeClient, native_client

log = logging.getLogger(__name__)


def rdkafka_config(settings: KafkaSettings, environ: Mapping[str, str] | None = None
                   ) -> dict[str, Any]:
    """librdkafka connection settings for a ``KafkaSettings`` (secrets from the environment)."""
    kw = settings.client_kwargs(environ)
    conf: dict[str, Any] = {"bootstrap.servers": ",".join(kw["bootstrap_servers"]),
                            "security.protocol": kw["security_protocol"].lower()}
    if "sasl_mechanism" in kw:
        conf.update({"sasl.mechanism": kw["sasl_mechanism"],
                     "sasl.username": kw["sasl_plain_username"],
                     "sasl.password": kw["sasl_plain_password"]})
    names = {"ssl_cafile": "ssl.ca.location", "ssl_certfile": "ssl.certificate.location",
             "ssl_keyfile": "ssl.key.location", "ssl_password": "ssl.key.password"}
    for key, name in names.items():
        if key in kw:
            conf[name] = kw[key]
    if "ssl_check_hostname" in kw:
        conf["ssl.endpoint.identification.algorithm"] = (
            "https" if kw["ssl_check_hostname"] else "none")
    return conf


class RdkafkaBatchConsumer:
    """:class:`~stream.kafka.consumer.BatchConsumer`'s interface on confluent-kafka."""

    def __init__(
        self,
        topics: list[str],
        group_id: str,
        conf: Mapping[str, Any],
        *,
        on_assigned: PartitionsCallback,
        on_revoked: PartitionsCallback,
        max_records: int = 50_000,
        auto_offset_reset: str = "earliest",
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 2_000,
        max_partition_fetch_bytes: int = 8 * 1024 * 1024,
        isolation_level: str = "read_committed",
        instance_id: str | None = None,
    ) -> None:
        import confluent_kafka

        self._ck = confluent_kafka
        self.topics = list(topics)
        self.group_id = group_id
        self.max_records = max_records
        self.auto_offset_reset = auto_offset_reset
        self.isolation_level = isolation_level
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        self._loop: asyncio.AbstractEventLoop | None = None
        self._assigning: dict[TopicPartition, int] | None = None  # seeks during an assignment
        self._assigned: set[TopicPartition] = set()
        # inside a rebalance callback the consume() thread owns the handle: commits asked for
        # by the owner then are made by that thread once the owner is done (before unassign)
        self._in_callback = False
        self._deferred: list[Any] = []
        full = {**conf, "group.id": group_id, "enable.auto.commit": False,
                "enable.auto.offset.store": False, "auto.offset.reset": auto_offset_reset,
                "isolation.level": isolation_level,
                "session.timeout.ms": session_timeout_ms,
                "heartbeat.interval.ms": heartbeat_interval_ms,
                "max.partition.fetch.bytes": max_partition_fetch_bytes,
                "fetch.max.bytes": 64 * 1024 * 1024, "max.poll.interval.ms": 300_000,
                # librdkafka (>= 2.3) waits fetch.queue.backoff.ms, 1 s by default, before it
                # fetches a partition whose prefetch queue was full: on a backlog the fetches
                # then stalled and one consumer read 180-190k records/s instead of 420-460k
                "fetch.queue.backoff.ms": 10}
        if instance_id:
            full["group.instance.id"] = instance_id
        # the native client where the extension is built; confluent-kafka's Consumer otherwise
        self._c: Any = native_client(full) or confluent_kafka.Consumer(full)
        # The native fetch holds no GIL: the next fetch runs ahead while the caller processes a
        # batch. Positions are those after the batch last returned; a fetch that was in flight
        # when a partition was sought or (re)assigned loses that partition's records, which
        # are sought again (they may predate the move).
        self._ahead: asyncio.Future[_Fetch] | None = None
        self._epoch = 0  # moves (seeks, assignments, revocations) so far
        self._moved: dict[TopicPartition, tuple[int, int | None]] = {}  # epoch, offset
        self._positions: dict[TopicPartition, int] = {}

    # -- lifecycle and rebalances ------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._c.subscribe(self.topics, on_assign=self._assign_cb, on_revoke=self._revoke_cb)

    async def stop(self) -> None:
        """Leave the group (the revoke callback runs first, so state is checkpointed); a fetch
        running ahead is dropped (its records are read again from the checkpoints)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            with contextlib.suppress(Exception):
                await ahead
        await asyncio.to_thread(self._c.close)

    def _run(self, coro: Any) -> None:
        assert self._loop is not None
        self._in_callback = True
        try:
            asyncio.run_coroutine_threadsafe(coro, self._loop).result()
        finally:
            self._in_callback = False
        deferred, self._deferred = self._deferred, []
        if deferred:
            self._commit_now(deferred)

    def _assign_cb(self, consumer: Any, partitions: list[Any]) -> None:
        tps = {TopicPartition(p.topic, p.partition) for p in partitions}
        self._assigning = {}
        try:
            self._run(self._on_assigned(tps))
            start = self._assigning
        finally:
            self._assigning = None
        ck = self._ck
        default = ck.OFFSET_END if self.auto_offset_reset == "latest" else ck.OFFSET_BEGINNING
        offsets = {tp: start.get(tp, default) for tp in tps}
        consumer.assign([ck.TopicPartition(tp.topic, tp.partition, off)
                         for tp, off in offsets.items()])
        self._assigned = tps
        for tp, off in offsets.items():
            self._moved_to(tp, off)

    def _revoke_cb(self, consumer: Any, partitions: list[Any]) -> None:
        tps = {TopicPartition(p.topic, p.partition) for p in partitions}
        self._run(self._on_revoked(tps))
        consumer.unassign()
        self._assigned = set()
        for tp in tps:
            self._moved_to(tp, None)

    # -- positions -------------------------------------------------------------------------
    def assignment(self) -> set[TopicPartition]:
        return set(self._assigned)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if self._assigning is not None:
            self._assigning[tp] = offset
        else:
            self._c.seek(self._ck.TopicPartition(tp.topic, tp.partition, offset))
            self._moved_to(tp, offset)

    def _moved_to(self, tp: TopicPartition, offset: int | None) -> None:
        """``tp`` continues at ``offset`` (None: revoked); its position is that offset now."""
        self._epoch += 1
        self._moved[tp] = (self._epoch, offset)
        if offset is not None and offset >= 0:
            self._positions[tp] = offset
        else:
            self._positions.pop(tp, None)

    async def seek_default(self, tps: set[TopicPartition]) -> None:
        """Start partitions without a checkpoint per ``auto_offset_reset``."""
        ck = self._ck
        offset = ck.OFFSET_END if self.auto_offset_reset == "latest" else ck.OFFSET_BEGINNING
        for tp in tps:
            self.seek(tp, offset)

    def fetch_position(self, tp: TopicPartition) -> int | None:
        """The offset after everything returned or skipped (markers, aborted records)."""
        return self._positions.get(tp) if tp in self._assigned else None

    def highwater(self, tp: TopicPartition) -> int | None:
        if tp not in self._assigned:
            return None
        try:
            _, high = self._c.get_watermark_offsets(
                self._ck.TopicPartition(tp.topic, tp.partition), cached=True)
        except self._ck.KafkaException:
            return None
        return int(high) if high >= 0 else None

    def fetchable_end(self, tp: TopicPartition) -> int | None:
        return self.highwater(tp)

    # -- fetching and committing -------------------------------------------------------------
    async def getmany(self, timeout_ms: int = 200) -> list[PartitionRecords]:
        """Up to ``max_records`` records, grouped per partition (both in a worker thread): those
        already fetched, or, when there are none, what arrives within ``timeout_ms`` (librdkafka
        returns then, or as soon as ``max_records`` arrived). With the native fetch the next
        batch is fetched while the caller processes this one."""
        fetch = self._ahead = self._ahead or self._fetch(timeout_ms)
        try:
            records, positions, since = await asyncio.shield(fetch)
        finally:  # a caller cancelled meanwhile leaves the running fetch to the next call/stop()
            if fetch.done():
                self._ahead = None
        moved = {tp: off for tp, (epoch, off) in self._moved.items() if epoch > since}
        self._moved.clear()
        if moved:  # those partitions' records and positions may predate their move
            records = [r for r in records if TopicPartition(r.topic, r.partition) not in moved]
            for tp, off in moved.items():
                positions.pop(tp, None)
                if off is not None and tp in self._assigned:
                    self._c.seek(self._ck.TopicPartition(tp.topic, tp.partition, off))
        self._positions.update(positions)
        if records and isinstance(self._c, NativeClient):
            self._ahead = self._fetch(timeout_ms)
        return records

    def _fetch(self, timeout_ms: int) -> asyncio.Future[_Fetch]:
        return asyncio.ensure_future(asyncio.to_thread(self._consume, timeout_ms, self._epoch))

    def _consume(self, timeout_ms: int, since: int) -> _Fetch:
        """A batch, the positions after it, and the moves it started after."""
        # what is already fetched first: a blocking consume() waits for max_records or the
        # timeout, and on a busy topic the worker would sit idle while librdkafka fills its queue
        records = self._read(0) or self._read(timeout_ms)
        ck = self._ck
        tps = list(self._assigned)
        found = self._c.position([ck.TopicPartition(tp.topic, tp.partition) for tp in tps])
        positions = {tp: int(p.offset) for tp, p in zip(tps, found, strict=True) if p.offset >= 0}
        return records, positions, since

    def _read(self, timeout_ms: int) -> list[PartitionRecords]:
        """One ``consume()``: up to ``max_records`` records within ``timeout_ms``."""
        if isinstance(self._c, NativeClient):
            return self._c.consume_records(self.max_records, timeout_ms)
        msgs = self._c.consume(self.max_records, timeout_ms / 1000)
        return by_partition(msgs, topic=self.topics[0] if len(self.topics) == 1 else None)

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit group offsets (for lag visibility; checkpoints are the source of truth)."""
        ck = self._ck
        mine = [ck.TopicPartition(tp.topic, tp.partition, off) for tp, off in offsets.items()
                if tp in self._assigned]
        if not mine:
            return
        if self._in_callback:
            self._deferred.extend(mine)
        else:
            await asyncio.to_thread(self._commit_now, mine)

    def _commit_now(self, offsets: list[Any]) -> None:
        try:
            self._c.commit(offsets=offsets, asynchronous=False)
        except self._ck.KafkaException as exc:  # a commit racing a rebalance is harmless here
            log.info("offset commit skipped: %s", exc)


_Fetch = tuple[list[PartitionRecords], dict[TopicPartition, int], int]


def by_partition(msgs: list[Any], *, topic: str | None = None) -> list[PartitionRecords]:
    """The ``Message`` objects of one ``consume()`` as records per partition, each field read
    with one C-level ``map`` (no Python loop per message); messages with an error are logged
    and left out. ``topic``: the one topic they all come from (not read per message)."""
    if not msgs:
        return []
    m = type(msgs[0])
    errors = list(map(m.error, msgs))
    if errors.count(None) != len(errors):
        for e in errors:
            if e is not None:
                log.info("consumer: %s", e)
        msgs = [msg for msg, e in zip(msgs, errors, strict=True) if e is None]
        if not msgs:
            return []
    partitions = np.fromiter(map(m.partition, msgs), dtype=np.int64, count=len(msgs))
    topics = [topic] * len(msgs) if topic is not None else list(map(m.topic, msgs))
    names = [topic] if topic is not None else list(dict.fromkeys(topics))
    key = partitions
    if len(names) > 1:
        ids = {t: i for i, t in enumerate(names)}
        key = partitions + (int(partitions.max()) + 1) * np.fromiter(
            map(ids.__getitem__, topics), dtype=np.int64, count=len(topics))
    # a partition's messages come in runs (one per fetch response), in offset order
    cuts = [0, *(np.flatnonzero(key[1:] != key[:-1]) + 1).tolist(), len(msgs)]
    per: dict[tuple[str, int], list[Any]] = {}
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=False):
        tp = (topics[lo], int(partitions[lo]))
        per.setdefault(tp, []).extend(msgs[lo:hi])
    out = []
    for (topic, partition), records in per.items():
        values = list(map(m.value, records))
        tombstones: list[int] = []
        if None in values:
            tombstones = [i for i, v in enumerate(values) if v is None]
            for i in tombstones:
                values[i] = b""
        out.append(PartitionRecords(
            topic, partition, list(map(m.offset, records)),
            list(map(_SECOND, map(m.timestamp, records))), values, list(map(m.key, records)),
            tombstones, list(compress(range(len(records)), map(m.headers, records))),
        ))
    return out


_SECOND = itemgetter(1)
