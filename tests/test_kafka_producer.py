"""The batched producer and the dead-letter writer against the real broker."""

from __future__ import annotations

import asyncio

import pytest
from kafka import KafkaConsumer, TopicPartition

from driftline.stream.kafka.admin import max_message_bytes
from driftline.stream.kafka.bulk import BulkProducer
from driftline.stream.kafka.producer import DeadLetter, DeadLetterWriter, Producer
from tests.fixtures.waiting import wait_until
from tests.helpers_kafka_worker import consume_until

pytestmark = pytest.mark.kafka


def _read_all(bootstrap: str, topic: str, expected: int) -> list:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    records: list = []
    try:
        wait_until(
            lambda: records.extend(r for rs in consumer.poll(500).values() for r in rs)
            or len(records) >= expected,
            timeout=30,
            message=f"{expected} records on {topic}",
        )
    finally:
        consumer.close()
    return records


def test_producer_delivers_batches_in_order_with_keys(kafka) -> None:
    topic = kafka.create_topic(kafka.unique_topic("produce"))
    values = [f'{{"i": {i}}}'.encode() for i in range(2000)]
    keys = [f"k{i % 7}".encode() for i in range(2000)]
    with Producer({"bootstrap_servers": kafka.bootstrap}, compression_type="gzip") as p:
        assert p.send_many(topic, values, keys=keys) == 2000
    assert (p.sent, p.delivered, p.failed) == (2000, 2000, 0)

    records = _read_all(kafka.bootstrap, topic, 2000)
    assert [r.value for r in records] == values
    assert [r.key for r in records] == keys


def test_dead_letters_keep_value_and_origin_and_fit_the_topic(kafka) -> None:
    client = {"bootstrap_servers": kafka.bootstrap}
    dlq = kafka.create_topic(kafka.unique_topic("dlq"), configs={"max.message.bytes": "20000"})
    limit = max_message_bytes(client, dlq)
    assert limit == 20000
    huge = b"{" + b"x" * 50_000  # larger than the DLQ topic accepts
    with Producer(client) as p:
        writer = DeadLetterWriter(p, dlq, max_message_bytes=limit)
        writer.write(DeadLetter(b'{"amount": ', "invalid json: truncated", "events", 3, 41))
        writer.write(DeadLetter(huge, "invalid json", "events", 1, 7, key=b"user-9"))
    assert (p.delivered, p.failed, writer.truncated) == (2, 0, 1)

    first, second = _read_all(kafka.bootstrap, dlq, 2)
    assert first.value == b'{"amount": '
    assert (first.key, second.key) == (b"events/3/41", b"events/1/7")  # stable: dedupe key
    assert dict(first.headers) == {
        "driftline.reason": b"invalid json: truncated",
        "driftline.source.topic": b"events",
        "driftline.source.partition": b"3",
        "driftline.source.offset": b"41",
    }
    assert dict(second.headers)["driftline.source.key"] == b"user-9"
    assert huge.startswith(second.value) and 0 < len(second.value) < 20000
    assert dict(second.headers)["driftline.truncated"] == b"50001"
    assert dict(second.headers)["driftline.source.offset"] == b"7"


def test_bulk_producer_delivers_everything_and_partitions_keys_like_kafka(kafka) -> None:
    client = {"bootstrap_servers": kafka.bootstrap}
    bulk_topic = kafka.create_topic(kafka.unique_topic("bulk"), partitions=4)
    ref_topic = kafka.create_topic(kafka.unique_topic("bulk-ref"), partitions=4)
    values = [f'{{"i": {i}, "pad": "{"x" * 200}"}}'.encode() for i in range(20_000)]
    keys = [f"user-{i % 37}".encode() for i in range(20_000)]

    async def send() -> BulkProducer:
        async with BulkProducer(client, batch_bytes=64_000) as bulk:
            await bulk.send_many(bulk_topic, values[:10_000])  # unkeyed: spread over partitions
            await bulk.send_many(bulk_topic, values[10_000:], keys=keys[10_000:])
        return bulk

    bulk = asyncio.run(send())
    assert (bulk.sent, bulk.delivered, bulk.failed) == (20_000, 20_000, 0)
    ends = kafka.end_offsets(bulk_topic)
    assert sum(ends.values()) == 20_000 and min(ends.values()) > 0

    # the same keys through kafka-python's own partitioner land on the same partitions
    with Producer(client) as reference:
        reference.send_many(ref_topic, values[10_000:10_037], keys=keys[10_000:10_037])
    reference_records = consume_until(kafka.bootstrap, ref_topic, 37, max_poll_records=50_000)
    expected = {r.key: r.partition for r in reference_records}
    got: dict[bytes, set[int]] = {}
    for r in consume_until(kafka.bootstrap, bulk_topic, 20_000, max_poll_records=50_000):
        if r.key is not None:
            got.setdefault(r.key, set()).add(r.partition)
    assert got == {k: {p} for k, p in expected.items()}


