"""The librdkafka consumer's batches against a real broker: every batch it returns is exactly
the records after the previous one, the position it reports is the one after the batch, a seek
makes the partition continue exactly at the sought offset, and records of several topics and
partitions come back grouped with their keys, tombstones and header flags. Both ways of reading
librdkafka: the native fetch (``_rdfetch``, the one an install builds) and confluent-kafka's
``Consumer`` (the fallback without the extension)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka import TopicPartition
from confluent_kafka import Producer

from driftline.stream.kafka import consumer_rdkafka
from driftline.stream.kafka.consumer import PartitionRecords
from driftline.stream.kafka.consumer_native import NativeClient
from driftline.stream.kafka.consumer_rdkafka import RdkafkaBatchConsumer

pytestmark = pytest.mark.kafka

PER_PARTITION = 400


def _produce(bootstrap: str, topic: str, partitions: int) -> None:
    """``PER_PARTITION`` records per partition: value ``topic|partition|i``, every 7th a
    tombstone, every 5th keyed, every 3rd with a header."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for part in range(partitions):
        for i in range(PER_PARTITION):
            p.produce(topic, None if i % 7 == 0 else f"{topic}|{part}|{i}".encode(),
                      key=b"k" if i % 5 == 0 else None, partition=part,
                      headers=[("h", b"1")] if i % 3 == 0 else None)
    assert p.flush(30) == 0


async def _read_all(bootstrap: str, topics: list[str], seek_at: TopicPartition, native: bool
                    ) -> tuple[dict[TopicPartition, list[PartitionRecords]], int]:
    """Read every record; once ``seek_at`` returned 100 or more records, seek it back to 20.
    Returns the batches per partition and how many of ``seek_at``'s records came before the
    seek."""

    async def noop(_: Any) -> None:
        return None

    c = RdkafkaBatchConsumer(topics, f"rdk-batches-{time.time_ns()}",
                             {"bootstrap.servers": bootstrap}, on_assigned=noop,
                             on_revoked=noop, max_records=150)
    assert isinstance(c._c, NativeClient) == native  # the install builds the native fetch
    await c.start()
    got: dict[TopicPartition, list[PartitionRecords]] = {}
    before_seek = -1
    everything = {TopicPartition(t, p) for t in topics for p in (0, 1)}

    def done() -> bool:  # the seek was made (before the end: batches hold <= 150) and each
        return before_seek >= 0 and {  # partition's last batch ends at its last record
            tp for tp, rs in got.items() if rs[-1].next_offset == PER_PARTITION} == everything

    deadline = time.monotonic() + 60
    try:
        while not done():
            assert time.monotonic() < deadline, "records missing"
            for r in await c.getmany(timeout_ms=200):
                tp = TopicPartition(r.topic, r.partition)
                assert c.fetch_position(tp) == r.next_offset
                got.setdefault(tp, []).append(r)
            seen = sum(len(r.offsets) for r in got.get(seek_at, []))
            if before_seek < 0 and seen >= 100:
                before_seek = seen
                c.seek(seek_at, 20)
    finally:
        await c.stop()
    return got, before_seek


@pytest.mark.parametrize("native", [True, False], ids=["native", "confluent-kafka"])
def test_batches_positions_and_a_seek_are_exact(kafka: Any, native: bool,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if not native:
        monkeypatch.setattr(consumer_rdkafka, "native_client", lambda conf: None)
    topics = [kafka.create_topic(kafka.unique_topic("batches"), partitions=2) for _ in range(2)]
    for t in topics:
        _produce(kafka.bootstrap, t, 2)
    seek_at = TopicPartition(topics[0], 1)
    got, before_seek = asyncio.run(_read_all(kafka.bootstrap, topics, seek_at, native))

    assert set(got) == {TopicPartition(t, p) for t in topics for p in (0, 1)}
    for tp, batches in got.items():
        offsets = [o for r in batches for o in r.offsets]
        if tp == seek_at:  # up to the seek, then exactly from 20 on: nothing lost or doubled
            assert offsets == [*range(before_seek), *range(20, PER_PARTITION)]
        else:
            assert offsets == list(range(PER_PARTITION))
        for r in batches:
            i = r.offsets
            assert r.values == [b"" if o % 7 == 0 else f"{tp.topic}|{tp.partition}|{o}".encode()
                                for o in i]
            assert r.tombstones == [j for j, o in enumerate(i) if o % 7 == 0]
            assert r.keys == [b"k" if o % 5 == 0 else None for o in i]
            assert r.with_headers == [j for j, o in enumerate(i) if o % 3 == 0]
            assert len(r.timestamps_ms) == len(i) and min(r.timestamps_ms) > 0
