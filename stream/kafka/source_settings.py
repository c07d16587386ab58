"""What the source side of a worker is made of, as two small parameter objects.

:class:`EventConsumer` says how the event topics are read (which client, group, fetch size,
isolation level) and builds the consumer; :class:`Aggregation` says how records become partial
windows (schema, decoder, windows, cohort cap, event-time bounds, coalescing). The runtime fills
both from the config (:meth:`EventConsumer.from_config`, :meth:`Aggregation.from_config`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from driftline.sketches.schema import ProfileSchema
from driftline.stream.config.model import DriftlineConfig, WindowsConfig
from driftline.stream.decode.decoder import Decoder
from driftline.stream.engine.plausible import PlausibleTimes
from driftline.stream.kafka.consumer import BatchConsumer
from driftline.stream.kafka.consumer_rdkafka import RdkafkaBatchConsumer, rdkafka_config

Rebalance = Callable[[set[TopicPartition]], Awaitable[None]]

# records of a partition aggregated at once on a backlog (or 0.5 s of them, or until caught up;
# docs/runtime.md)
COALESCE_RECORDS = 20_000


@dataclass(frozen=True, kw_only=True)
class EventConsumer:
    """How the event topics are read: ``rdkafka_conf`` set = librdkafka, else aiokafka with
    ``client``."""

    topics: list[str]
    group_id: str
    client: dict[str, Any]
    rdkafka_conf: dict[str, Any] | None = None
    max_records: int = 50_000
    auto_offset_reset: str = "earliest"
    session_timeout_ms: int = 10_000
    isolation_level: str = "read_committed"
    instance_id: str | None = None

    @classmethod
    def from_config(cls, cfg: DriftlineConfig, *, client: dict[str, Any],
                    session_timeout_ms: int, instance_id: str | None) -> EventConsumer:
        k = cfg.kafka
        return cls(topics=list(k.topics), group_id=str(k.group_id), client=client,
                   rdkafka_conf=rdkafka_config(k) if k.consumer == "librdkafka" else None,
                   max_records=k.max_batch_records, auto_offset_reset=k.auto_offset_reset,
                   session_timeout_ms=session_timeout_ms, isolation_level=k.isolation_level,
                   instance_id=instance_id)

    def build(self, *, on_assigned: Rebalance, on_revoked: Rebalance
              ) -> BatchConsumer | RdkafkaBatchConsumer:
        heartbeat = max(500, self.session_timeout_ms // 5)
        if self.rdkafka_conf is not None:
            return RdkafkaBatchConsumer(
                self.topics, self.group_id, self.rdkafka_conf, on_assigned=on_assigned,
                on_revoked=on_revoked, max_records=self.max_records,
                auto_offset_reset=self.auto_offset_reset,
                session_timeout_ms=self.session_timeout_ms, heartbeat_interval_ms=heartbeat,
                isolation_level=self.isolation_level, instance_id=self.instance_id)
        extra = {"group_instance_id": self.instance_id} if self.instance_id else {}
        return BatchConsumer(
            self.topics, self.group_id, {**self.client, **extra},
            on_assigned=on_assigned, on_revoked=on_revoked, max_records=self.max_records,
            auto_offset_reset=self.auto_offset_reset,
            session_timeout_ms=self.session_timeout_ms, heartbeat_interval_ms=heartbeat,
            isolation_level=self.isolation_level)


@dataclass(frozen=True, kw_only=True)
class Aggregation:
    """How a partition's records become partial windows."""

    monitor: str
    schema: ProfileSchema
    decoder: Decoder
    windows: WindowsConfig
    max_cohorts: int = 50
    plausible: PlausibleTimes | None = None
    coalesce_records: int = COALESCE_RECORDS
    coalesce_seconds: float = 0.5

    @classmethod
    def from_config(cls, cfg: DriftlineConfig, *, schema: ProfileSchema,
                    decoder: Decoder) -> Aggregation:
        return cls(monitor=cfg.monitor, schema=schema, decoder=decoder, windows=cfg.windows,
                   max_cohorts=cfg.max_cohorts_per_segment,
                   plausible=PlausibleTimes.from_config(cfg))
