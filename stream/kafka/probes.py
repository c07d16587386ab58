"""What Kafka itself knows, asked without consuming: end offsets, newest record time, group lag.

The freshness clock seeds itself from :func:`latest_timestamps` after a restart, so staleness is
"time since the newest record Kafka holds", not zero; the exporter reports :func:`group_lag`.
``client`` is the connection kwargs for kafka-python (``cfg.kafka.client_kwargs()``).

>>> from driftline.stream.kafka.probes import total_lag
>>> from kafka import TopicPartition
>>> total_lag({TopicPartition("events", 0): 5, TopicPartition("events", 1): 0})
5
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import CoordinatorLoadInProgressError, CoordinatorNotAvailableError

from driftline.stream.kafka.admin import admin_client


def topic_partitions(admin: KafkaAdminClient, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of the given (existing) topics."""
    out: list[TopicPartition] = []
    for t in admin.describe_topics(list(topics)):
        if t.get("error_code", 0) != 0:
            continue
        for p in t.get("partitions") or []:
            out.append(TopicPartition(t["name"], p["partition_index"]))
    return sorted(out)


def _offsets(
    admin: KafkaAdminClient, tps: list[TopicPartition], spec: OffsetSpec
) -> dict[TopicPartition, Any]:
    if not tps:
        return {}
    return dict(admin.list_partition_offsets({tp: spec for tp in tps}))


def end_offsets(client: Mapping[str, Any], topics: Iterable[str]) -> dict[TopicPartition, int]:
    """The log-end offset (next offset to be written) of every partition of ``topics``."""
    with admin_client(client) as admin:
        res = _offsets(admin, topic_partitions(admin, topics), OffsetSpec.LATEST)
    return {tp: int(v.offset) for tp, v in res.items()}


def latest_timestamps(
    client: Mapping[str, Any], topics: Iterable[str]
) -> dict[TopicPartition, float | None]:
    """Newest record timestamp (Unix seconds) per partition; ``None`` for an empty partition.

    Uses ListOffsets with ``MAX_TIMESTAMP`` (the record with the largest timestamp, which is the
    producer's CreateTime unless the topic uses LogAppendTime). Deleted-by-retention records are
    not counted: an empty partition reports ``None``.
    """
    with admin_client(client) as admin:
        res = _offsets(admin, topic_partitions(admin, topics), OffsetSpec.MAX_TIMESTAMP)
    out: dict[TopicPartition, float | None] = {}
    for tp, v in res.items():
        ts = getattr(v, "timestamp", -1)
        out[tp] = ts / 1000.0 if ts is not None and ts >= 0 and v.offset >= 0 else None
    return out


def latest_topic_timestamps(
    client: Mapping[str, Any], topics: Iterable[str]
) -> dict[str, float | None]:
    """Newest record timestamp per topic (max over its partitions), ``None`` if all are empty."""
    names = list(topics)
    out: dict[str, float | None] = dict.fromkeys(names)
    for tp, ts in latest_timestamps(client, names).items():
        if ts is not None:
            prev = out.get(tp.topic)
            out[tp.topic] = ts if prev is None else max(prev, ts)
    return out


def group_lag(
    client: Mapping[str, Any], group_id: str, topics: Iterable[str]
) -> dict[TopicPartition, int]:
    """Records not yet committed by ``group_id``, per partition of ``topics``.

    A partition without a committed offset counts from its earliest available offset (what a
    new group with ``auto_offset_reset=earliest`` would still have to read).
    """
    with admin_client(client) as admin:
        tps = topic_partitions(admin, topics)
        if not tps:
            return {}
        ends = _offsets(admin, tps, OffsetSpec.LATEST)
        starts = _offsets(admin, tps, OffsetSpec.EARLIEST)
        committed = _committed(admin, group_id, tps)
    lag: dict[TopicPartition, int] = {}
    for tp in tps:
        end = int(ends[tp].offset)
        meta = committed.get(tp)
        pos = (
            meta.offset
            if meta is not None and meta.offset is not None and meta.offset >= 0
            else int(starts[tp].offset)
        )
        lag[tp] = max(0, end - int(pos))
    return lag


def _committed(
    admin: KafkaAdminClient, group_id: str, tps: list[TopicPartition], timeout_s: float = 10.0
) -> Mapping[TopicPartition, Any]:
    # The first FindCoordinator on a fresh cluster answers "not available" while the broker
    # creates __consumer_offsets: retriable, so retry with backoff until a deadline.
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    while True:
        try:
            return admin.list_group_offsets({group_id: tps}).get(group_id, {})
        except (CoordinatorNotAvailableError, CoordinatorLoadInProgressError):
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def total_lag(lag: Mapping[TopicPartition, int]) -> int:
    """Sum of per-partition lag."""
    return int(sum(lag.values()))
