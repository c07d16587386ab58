"""Checkpoints in a compacted topic, and seeking to them when partitions are assigned."""

from __future__ import annotations

import asyncio
import time

from aiokafka import TopicPartition

from driftline.stream.kafka.admin import ensure_topics
from driftline.stream.kafka.checkpoint import (
    Checkpoint,
    CheckpointStore,
    checkpoint_key,
    checkpoint_topic_spec,
)
from driftline.stream.kafka.consumer import BatchConsumer, PartitionRecords


def _checkpoint_topic(kafka) -> str:  # noqa: ANN001 - the session fixture
    name = kafka.unique_topic("ckpt")
    ensure_topics({"bootstrap_servers": kafka.bootstrap}, [checkpoint_topic_spec(name)])
    return name


def test_checkpoint_written_is_read_back_by_a_new_store(kafka) -> None:  # noqa: ANN001
    topic = _checkpoint_topic(kafka)
    client = {"bootstrap_servers": kafka.bootstrap}

    async def scenario() -> dict[str, Checkpoint]:
        writer = CheckpointStore(topic, client)
        await writer.start()
        await writer.save({checkpoint_key("m", "ev", 0): Checkpoint(10, b"a" * 100)})
        await writer.save({checkpoint_key("m", "ev", 0): Checkpoint(25, b"b" * 2_000_000)})
        await writer.save({checkpoint_key("m", "ev", 1): Checkpoint(7, b"c")})
        await writer.stop()
        reader = CheckpointStore(topic, client)
        await reader.start()
        try:
            keys = [checkpoint_key("m", "ev", p) for p in range(3)]
            return await reader.load(keys)
        finally:
            await reader.stop()

    loaded = asyncio.run(scenario())
    assert set(loaded) == {"m|ev|0", "m|ev|1"}  # partition 2 never had one
    assert loaded["m|ev|0"].next_offset == 25  # the latest, not the first
    assert loaded["m|ev|0"].state == b"b" * 2_000_000  # large states survive intact
    assert loaded["m|ev|1"] == Checkpoint(7, b"c", loaded["m|ev|1"].written_at)


def test_assignment_resumes_at_the_checkpointed_offset(kafka) -> None:  # noqa: ANN001
    events = kafka.create_topic(kafka.unique_topic("events"), partitions=2)
    kafka.produce(events, [f'{{"i": {i}}}' for i in range(100)], partition=0)
    kafka.produce(events, [f'{{"i": {i}}}' for i in range(30)], partition=1)
    ckpt_topic = _checkpoint_topic(kafka)
    client = {"bootstrap_servers": kafka.bootstrap}

    async def scenario() -> dict[int, list[int]]:
        store = CheckpointStore(ckpt_topic, client)
        await store.start()
        await store.save({checkpoint_key("m", events, 0): Checkpoint(60, b"state")})
        seen: dict[int, list[int]] = {0: [], 1: []}
        consumer: BatchConsumer

        async def on_assigned(tps: set[TopicPartition]) -> None:
            found = await store.load(checkpoint_key("m", tp.topic, tp.partition) for tp in tps)
            fresh = set()
            for tp in tps:
                cp = found.get(checkpoint_key("m", tp.topic, tp.partition))
                if cp is None:
                    fresh.add(tp)
                else:
                    consumer.seek(tp, cp.next_offset)
            await consumer.seek_default(fresh)

        async def on_revoked(tps: set[TopicPartition]) -> None:
            return None

        consumer = BatchConsumer(
            [events], kafka.unique_topic("grp"), client,
            on_assigned=on_assigned, on_revoked=on_revoked,
        )
        await consumer.start()
        deadline = time.monotonic() + 30
        try:
            while (len(seen[0]) < 40 or len(seen[1]) < 30) and time.monotonic() < deadline:
                batch: list[PartitionRecords] = await consumer.getmany(timeout_ms=200)
                for fetched in batch:
                    seen[fetched.partition].extend(fetched.offsets)
        finally:
            await consumer.stop()
            await store.stop()
        return seen

    seen = asyncio.run(scenario())
    assert seen[0] == list(range(60, 100))  # resumed exactly at the checkpoint
    assert seen[1] == list(range(30))  # no checkpoint: from the beginning (earliest)
