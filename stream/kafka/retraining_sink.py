"""Where retraining events go: a Kafka topic (JSON value, key = monitor, acknowledged one by
one) and/or a webhook (JSON POST); :class:`RetrainingSender` sends to both as configured."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from driftline.stream.config.retraining import RetrainingConfig
from driftline.stream.performance.retraining import post_webhook

log = logging.getLogger(__name__)


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


class RetrainingSender:
    """Sends each event to ``retraining.kafka_topic`` and POSTs it to the URL in the
    environment variable ``retraining.webhook_url_env`` (3 attempts). A failure is logged and
    counted in :attr:`failed` (never the URL: it may hold a token); the caller goes on.

    Example (needs a broker)::

        sender = RetrainingSender(config=cfg.retraining, environ=os.environ, client=kclient)
        sender.send(event)          # blocking: call it from a thread in async code
    """

    def __init__(self, *, config: RetrainingConfig, environ: Mapping[str, str],
                 client: dict[str, Any]) -> None:
        env = config.webhook_url_env
        self.webhook_url = environ.get(env) if env else None
        if env and not self.webhook_url:
            log.warning("retraining.webhook_url_env=%s is not set: retraining events are not "
                        "POSTed", env)
        self._kafka = kafka_sink(client, config.kafka_topic) if config.kafka_topic else None
        self.sent = 0
        self.failed = 0

    def send(self, event: dict[str, Any]) -> None:
        ok = True
        if self._kafka is not None:
            try:
                self._kafka(event)
            except Exception as exc:  # counted; the worker goes on
                ok = False
                log.error("retraining event %s not produced: %s", event["id"], exc)
        if self.webhook_url:
            ok = _post(event, self.webhook_url) and ok
        if ok:
            self.sent += 1
        else:
            self.failed += 1


def _post(event: dict[str, Any], url: str, attempts: int = 3) -> bool:
    for i in range(attempts):
        if i:
            time.sleep(0.5 * 2**i)
        try:
            status = post_webhook(event, url)
            if status < 300:
                return True
            log.warning("retraining webhook answered %d (attempt %d)", status, i + 1)
        except Exception as exc:
            log.warning("retraining webhook failed: %s (attempt %d)", type(exc).__name__, i + 1)
    log.error("retraining event %s not delivered to the webhook", event["id"])
    return False
