"""Bulk producing: whole record batches built directly, for ``driftline produce`` and benchmarks.

kafka-python's ``send()`` costs ~50 µs of Python per record (~20k records/s on one core), which
makes feeding a benchmark or replaying a day of events slow. aiokafka can build a record batch in
its C extension and hand the finished batch to the broker: :class:`BulkProducer` fills one batch
per partition at a time and submits it when full, which measured ~25x faster here (see
``bench/kafka_produce.py``). Per-record work is one ``append`` call; keyed records are assigned
partitions like Kafka's default partitioner (murmur2 of the key), computed once per distinct key.

>>> import asyncio
>>> async def main() -> None:  # doctest: +SKIP
...     async with BulkProducer({"bootstrap_servers": "127.0.0.1:9092"}) as bulk:
...         await bulk.send_many("events", [b'{"amount": 1}', b'{"amount": 2}'])
...     print(bulk.delivered, bulk.failed)
>>> asyncio.run(main())  # doctest: +SKIP
2 0
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from kafka.partitioner.default import murmur2

log = logging.getLogger(__name__)

_AIOKAFKA_KEYS = {
    "bootstrap_servers", "security_protocol", "sasl_mechanism", "sasl_plain_username",
    "sasl_plain_password", "ssl_context", "client_id",
}


def key_partitions(keys: Sequence[bytes | None], n_partitions: int, start: int = 0) -> list[int]:
    """Partition of each key as Kafka's default partitioner picks it (murmur2, positive, mod n).

    ``None`` keys are spread round-robin from ``start``.

    >>> key_partitions([b"a", b"b", b"a", None, None], 3)
    [1, 2, 1, 0, 1]
    """
    cache: dict[bytes, int] = {}
    out: list[int] = []
    rr = start
    for key in keys:
        if key is None:
            out.append(rr % n_partitions)
            rr += 1
            continue
        p = cache.get(key)
        if p is None:
            p = cache[key] = (murmur2(key) & 0x7FFFFFFF) % n_partitions
        out.append(p)
    return out


class BulkProducer:
    """An async producer that submits whole record batches (see the module docstring).

    ``client``: aiokafka connection kwargs (``cfg.kafka.aiokafka_kwargs()``; kafka-python style
    kwargs work for plaintext and SASL). Unkeyed records fill one partition's batch after the
    other (like Kafka's sticky partitioner); keyed ones go to their key's partition.
    """

    def __init__(
        self,
        client: Mapping[str, Any],
        *,
        batch_bytes: int = 1_000_000,
        linger_ms: int = 5,
        compression_type: str | None = None,
        acks: int | str = "all",
        max_pending_batches: int = 64,
    ) -> None:
        kwargs = {k: v for k, v in client.items() if k in _AIOKAFKA_KEYS}
        self._producer = AIOKafkaProducer(
            **kwargs, max_batch_size=batch_bytes, linger_ms=linger_ms,
            compression_type=compression_type, acks=acks, max_request_size=batch_bytes + 65536,
        )
        self._pending: list[tuple[asyncio.Future[Any], int]] = []
        self._max_pending = max_pending_batches
        self._rr = 0
        self.sent = 0
        self.delivered = 0
        self.failed = 0
        self.last_error: BaseException | None = None

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        try:
            await self.flush()
        finally:
            await self._producer.stop()

    async def __aenter__(self) -> BulkProducer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def partitions(self, topic: str) -> list[int]:
        """Partition ids of ``topic``."""
        return sorted(await self._producer.partitions_for(topic))

    async def send_many(
        self,
        topic: str,
        values: Sequence[bytes],
        keys: Sequence[bytes | None] | None = None,
        timestamps_ms: Sequence[int | None] | None = None,
    ) -> int:
        """Queue ``values`` (with aligned ``keys``/``timestamps_ms``); returns the count."""
        if not values:
            return 0
        parts = await self.partitions(topic)
        if keys is not None:
            targets = key_partitions(keys, len(parts), self._rr)
            await self._send_keyed(topic, parts, values, keys, targets, timestamps_ms)
        else:
            await self._send_sticky(topic, parts, values, timestamps_ms)
        self.sent += len(values)
        return len(values)

    async def _send_sticky(
        self, topic: str, parts: list[int], values: Sequence[bytes],
        timestamps_ms: Sequence[int | None] | None,
    ) -> None:
        batch = self._producer.create_batch()
        count = 0
        for i, value in enumerate(values):
            ts = timestamps_ms[i] if timestamps_ms is not None else None
            if batch.append(timestamp=ts, key=None, value=value) is None:
                await self._submit(batch, topic, parts[self._rr % len(parts)], count)
                self._rr += 1
                batch, count = self._producer.create_batch(), 0
                if batch.append(timestamp=ts, key=None, value=value) is None:
                    raise ValueError(f"record of {len(value)} bytes exceeds the batch size")
            count += 1
        if count:
            await self._submit(batch, topic, parts[self._rr % len(parts)], count)
            self._rr += 1

    async def _send_keyed(
        self, topic: str, parts: list[int], values: Sequence[bytes],
        keys: Sequence[bytes | None], targets: list[int],
        timestamps_ms: Sequence[int | None] | None,
    ) -> None:
        open_batches: dict[int, tuple[Any, int]] = {}
        for i, value in enumerate(values):
            p = targets[i]
            batch, count = open_batches.get(p) or (self._producer.create_batch(), 0)
            ts = timestamps_ms[i] if timestamps_ms is not None else None
            if batch.append(timestamp=ts, key=keys[i], value=value) is None:
                await self._submit(batch, topic, parts[p], count)
                batch, count = self._producer.create_batch(), 0
                if batch.append(timestamp=ts, key=keys[i], value=value) is None:
                    raise ValueError(f"record of {len(value)} bytes exceeds the batch size")
            open_batches[p] = (batch, count + 1)
        for p, (batch, count) in open_batches.items():
            await self._submit(batch, topic, parts[p], count)
        self._rr += 1

    async def _submit(self, batch: Any, topic: str, partition: int, count: int) -> None:
        future = await self._producer.send_batch(batch, topic, partition=partition)
        self._pending.append((future, count))
        if len(self._pending) >= self._max_pending:
            await self._settle(self._pending[: len(self._pending) // 2])

    async def _settle(self, pending: list[tuple[asyncio.Future[Any], int]]) -> None:
        results = await asyncio.gather(*(f for f, _ in pending), return_exceptions=True)
        for (_, count), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException):
                self.failed += count
                self.last_error = result
                log.warning("kafka batch delivery failed: %s", type(result).__name__)
            else:
                self.delivered += count
        done = {id(f) for f, _ in pending}
        self._pending = [(f, c) for f, c in self._pending if id(f) not in done]

    async def flush(self) -> None:
        """Wait until every submitted batch is delivered or has failed."""
        if self._pending:
            await self._settle(list(self._pending))
