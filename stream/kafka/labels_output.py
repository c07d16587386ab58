"""Where the label merger's rounds go: results topic, alerting, retraining events.

:meth:`LabelOutputs.publish` takes the :class:`~stream.performance.merge.Output` of a round and

1. produces its ``performance`` records to the results topic (acks=all, idempotent) and waits
   for the acknowledgements;
2. feeds its alert measurements (``check: performance``) to
   :class:`~alerts.alerting.Alerting` — the drift alerts' rules, routing, tiers, hysteresis,
   digests and durable outbox; its state directory is ``<alerts.state_dir or
   state_path/alerts>/labels`` (the feature worker's alerting keeps its own), opened while this
   process owns the merger;
3. sends its retraining events to ``retraining.kafka_topic`` (key = monitor, acknowledged) and
   POSTs them to the URL in ``retraining.webhook_url_env`` (3 attempts; a failure is logged and
   counted in :attr:`LabelOutputs.retraining_failed`, the worker goes on).

All of it happens before the merger checkpoint that records the round, so a crash in between
repeats the round: the records have the same keys, alerting ignores a window it already
evaluated, and a retraining event carries the same ``id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from driftline.alerts import Alerting
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.performance.merge import Output
from driftline.stream.performance.retraining import post_webhook

log = logging.getLogger(__name__)


def alert_state_dir(config: DriftlineConfig) -> Path:
    """The label merger's alert state directory (see the module doc)."""
    base = config.alerts.state_dir
    return (Path(base) if base is not None else config.state_path / "alerts") / "labels"


class LabelOutputs:
    """Outputs of the label merger; see the module doc.

    Example (needs a broker; the label worker wires it)::

        out = LabelOutputs(config=cfg, environ=os.environ)
        await out.start(aiokafka_client, confluent_client)
        await out.publish(merger.ready())
        await out.stop()
    """

    def __init__(self, *, config: DriftlineConfig, environ: Mapping[str, str]) -> None:
        self.config = config
        self.environ = environ
        self.results_topic = str(config.kafka.results_topic)
        r = config.retraining
        self.webhook_url = environ.get(r.webhook_url_env) if r.webhook_url_env else None
        if r.webhook_url_env and not self.webhook_url:
            log.warning("retraining.webhook_url_env=%s is not set: retraining events are not "
                        "POSTed", r.webhook_url_env)
        self.alerting: Alerting | None = None
        self.records_sent = 0
        self.retraining_sent = 0
        self.retraining_failed = 0
        self._producer: AIOKafkaProducer | None = None
        self._retrain: Callable[[dict[str, Any]], None] | None = None
        self._kclient: dict[str, Any] = {}

    async def start(self, aclient: dict[str, Any], kclient: dict[str, Any]) -> None:
        self._kclient = kclient
        self._producer = AIOKafkaProducer(**aclient, acks="all", enable_idempotence=True,
                                          linger_ms=5, max_request_size=16 * 1024 * 1024)
        await self._producer.start()
        if self.config.retraining.kafka_topic:
            from driftline.stream.kafka.retraining_sink import kafka_sink

            self._retrain = kafka_sink(kclient, self.config.retraining.kafka_topic)

    def open_alerting(self) -> Alerting:
        if self.alerting is None:
            self.alerting = Alerting.from_config(self.config, state_dir=alert_state_dir(
                self.config), environ=self.environ).start()
        return self.alerting

    def close_alerting(self) -> None:
        """Stop delivering (this process no longer owns the merger)."""
        if self.alerting is not None:
            self.alerting.close()
            self.alerting = None

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await asyncio.to_thread(self.close_alerting)

    async def publish(self, rounds: list[Output]) -> None:
        """Records (acknowledged), then alerts, then retraining events."""
        assert self._producer is not None
        futures = []
        for out in rounds:
            for key, rec in out.records:
                futures.append(await self._producer.send(self.results_topic, orjson.dumps(
                    rec, option=orjson.OPT_SERIALIZE_NUMPY), key=key))
        if futures:
            await asyncio.gather(*futures)
            self.records_sent += len(futures)
            log.info("label merger: %d performance records published", len(futures))
        alerts = [ms for out in rounds for ms in out.alerts]
        if alerts:
            alerting = self.open_alerting()
            for ms in alerts:
                alerting.observe_window(ms)
        for out in rounds:
            for event in out.events:
                await asyncio.to_thread(self._send_event, event)

    def _send_event(self, event: dict[str, Any]) -> None:
        ok = True
        if self._retrain is not None:
            try:
                self._retrain(event)
            except Exception as exc:  # counted; the worker goes on
                ok = False
                log.error("retraining event %s not produced: %s", event["id"], exc)
        if self.webhook_url:
            ok = _post(event, self.webhook_url) and ok
        if ok:
            self.retraining_sent += 1
        else:
            self.retraining_failed += 1


def _post(event: dict[str, Any], url: str, attempts: int = 3) -> bool:
    import time

    for i in range(attempts):
        try:
            status = post_webhook(event, url)
            if status < 300:
                return True
            log.warning("retraining webhook answered %d (attempt %d)", status, i + 1)
        except Exception as exc:
            log.warning("retraining webhook failed: %s (attempt %d)", type(exc).__name__, i + 1)
        time.sleep(0.5 * 2**i)
    log.error("retraining event %s not delivered to the webhook", event["id"])
    return False
