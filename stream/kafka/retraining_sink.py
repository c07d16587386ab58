"""Retraining events to a Kafka topic (JSON value, key = monitor), acknowledged one by one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def kafka_sink(client: Any, topic: str) -> Callable[[dict[str, Any]], None]:
    """A sink that produces each event to ``topic`` (JSON value, key = monitor) and waits
    for the acknowledgement, so a trigger is not lost silently."""
    import orjson

    from driftline.stream.kafka.producer import Producer

    producer = Producer(client, acks="all", linger_ms=0)

    def send(event: dict[str, Any]) -> None:
        producer.send(topic, orjson.dumps(event), key=str(event["monitor"]).encode())
        producer.flush(30.0)
        if producer.failed:
            raise RuntimeError(f"retraining event not delivered to {topic}: "
                               f"{producer.last_error}")

    return send
