"""Topic admin and probes against the real broker: what the worker and the exporter rely on."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, TopicPartition

from driftline.stream.kafka.admin import (
    TopicSpec,
    ensure_topics,
    max_message_bytes,
    partition_counts,
    topic_configs,
)
from driftline.stream.kafka.probes import (
    end_offsets,
    group_lag,
    latest_timestamps,
    latest_topic_timestamps,
)

pytestmark = pytest.mark.kafka


def test_ensure_topics_is_idempotent_and_keeps_compaction(kafka) -> None:
    client = {"bootstrap_servers": kafka.bootstrap}
    events, checkpoints = kafka.unique_topic("events"), kafka.unique_topic("ckpt")
    specs = [TopicSpec(events, partitions=3), TopicSpec.compacted(checkpoints, partitions=2)]

    assert sorted(ensure_topics(client, specs)) == sorted([events, checkpoints])
    assert ensure_topics(client, specs) == []  # second call: nothing to do, no error
    assert partition_counts(client, [events, checkpoints, kafka.unique_topic("absent")]) == {
        events: 3,
        checkpoints: 2,
    }
    assert topic_configs(client, checkpoints, ["cleanup.policy"]) == {"cleanup.policy": "compact"}
    assert max_message_bytes(client, events) == 1_048_588


def test_probes_report_end_offsets_and_newest_record_time(kafka) -> None:
    client = {"bootstrap_servers": kafka.bootstrap}
    topic = kafka.create_topic(kafka.unique_topic("probe"), partitions=2)
    assert latest_timestamps(client, [topic]) == {
        TopicPartition(topic, 0): None,
        TopicPartition(topic, 1): None,
    }

    base_ms = int(time.time() * 1000) - 60_000
    for i in range(5):
        kafka.produce(topic, [b"a"], partition=0, timestamp_ms=base_ms + i * 1000)
    kafka.produce(topic, [b"b", b"c"], partition=1, timestamp_ms=base_ms + 2_500)

    assert end_offsets(client, [topic]) == {
        TopicPartition(topic, 0): 5,
        TopicPartition(topic, 1): 2,
    }
    assert latest_timestamps(client, [topic]) == {
        TopicPartition(topic, 0): (base_ms + 4000) / 1000,
        TopicPartition(topic, 1): (base_ms + 2500) / 1000,
    }
    assert latest_topic_timestamps(client, [topic]) == {topic: (base_ms + 4000) / 1000}


def test_group_lag_counts_uncommitted_records(kafka) -> None:
    client = {"bootstrap_servers": kafka.bootstrap}
    topic = kafka.create_topic(kafka.unique_topic("lag"), partitions=2)
    kafka.produce(topic, [b"x"] * 7, partition=0)
    kafka.produce(topic, [b"y"] * 3, partition=1)
    group = kafka.unique_topic("group")
    tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

    assert group_lag(client, group, [topic]) == {tp0: 7, tp1: 3}

    consumer = KafkaConsumer(
        bootstrap_servers=kafka.bootstrap, group_id=group, enable_auto_commit=False
    )
    try:
        from kafka.structs import OffsetAndMetadata

        consumer.commit({tp0: OffsetAndMetadata(4, "", -1)})
    finally:
        consumer.close()
    assert group_lag(client, group, [topic]) == {tp0: 3, tp1: 3}
