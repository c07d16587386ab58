"""Topic administration with kafka-python: create idempotently, wait, describe.

Every function takes ``client``: the connection keyword arguments for kafka-python clients,
i.e. ``cfg.kafka.client_kwargs()`` (bootstrap servers and security, SASL password read from the
environment), or just ``{"bootstrap_servers": "127.0.0.1:9092"}``.

>>> from driftline.stream.kafka.admin import TopicSpec
>>> TopicSpec.compacted("driftline.fraud.checkpoints", partitions=4).configs["cleanup.policy"]
'compact'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import TopicAlreadyExistsError

DEFAULT_MAX_MESSAGE_BYTES = 1_048_588
"""Kafka's default ``max.message.bytes`` for a topic."""


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create: name, partitions, replication (``-1`` = the broker's default), configs.

    >>> TopicSpec("events", partitions=8).partitions
    8
    """

    name: str
    partitions: int = 1
    replication_factor: int = -1
    configs: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def compacted(cls, name: str, partitions: int = 1, replication_factor: int = -1) -> TopicSpec:
        """A log-compacted topic (latest value per key kept), e.g. for checkpoints."""
        return cls(name, partitions, replication_factor, {"cleanup.policy": "compact"})


def _admin_kwargs(client: Mapping[str, Any]) -> dict[str, Any]:
    known = KafkaAdminClient.DEFAULT_CONFIG
    return {k: v for k, v in client.items() if k in known}


@contextmanager
def admin_client(client: Mapping[str, Any]) -> Iterator[KafkaAdminClient]:
    """A ``KafkaAdminClient`` from connection kwargs, closed on exit."""
    admin = KafkaAdminClient(**_admin_kwargs(client))
    try:
        yield admin
    finally:
        admin.close()


def ensure_topics(
    client: Mapping[str, Any], specs: Iterable[TopicSpec], timeout_s: float = 30.0
) -> list[str]:
    """Create the topics that don't exist yet and wait until all are usable.

    Existing topics are left as they are (their partition count and configs are not changed).
    Returns the names that were created now.
    """
    specs = list(specs)
    if not specs:
        return []
    created: list[str] = []
    with admin_client(client) as admin:
        existing = set(admin.list_topics())
        for spec in specs:
            if spec.name in existing:
                continue
            request = {
                spec.name: {
                    "num_partitions": spec.partitions,
                    "replication_factor": spec.replication_factor,
                    "configs": dict(spec.configs),
                }
            }
            try:
                admin.create_topics(request, timeout_ms=int(timeout_s * 1000))
                created.append(spec.name)
            except TopicAlreadyExistsError:  # created concurrently by another worker
                pass
        admin.wait_for_topics([s.name for s in specs], timeout_ms=int(timeout_s * 1000))
    return created


def partition_counts(client: Mapping[str, Any], topics: Iterable[str]) -> dict[str, int]:
    """Number of partitions of each existing topic (missing topics are left out)."""
    names = list(topics)
    with admin_client(client) as admin:
        described = admin.describe_topics(names)
    return {
        t["name"]: len(t.get("partitions") or [])
        for t in described
        if t.get("error_code", 0) == 0 and t.get("partitions")
    }


def topic_configs(
    client: Mapping[str, Any], topic: str, keys: Iterable[str] | None = None
) -> dict[str, str]:
    """Effective configs of one topic (defaults included), optionally only ``keys``."""
    wanted = None if keys is None else {k: None for k in keys}
    with admin_client(client) as admin:
        result = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs=wanted)],
            config_filter="all",
        )
    entries = result.get("topic", {}).get(topic, {})
    return {k: str(v["value"]) for k, v in entries.items() if v.get("value") is not None}


def max_message_bytes(client: Mapping[str, Any], topic: str) -> int:
    """The topic's ``max.message.bytes`` (largest record batch the broker accepts)."""
    value = topic_configs(client, topic, ["max.message.bytes"]).get("max.message.bytes")
    return int(value) if value else DEFAULT_MAX_MESSAGE_BYTES
