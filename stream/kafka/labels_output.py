"""Where the label merger's rounds go: results topic, alerting, retraining events.

:meth:`LabelOutputs.publish` takes the :class:`~stream.performance.merge.Output` of a round and

1. produces its ``performance`` records to the results topic (acks=all, idempotent) and waits
   for the acknowledgements;
2. feeds its alert measurements (``check: performance``) to
   :class:`~alerts.alerting.Alerting` — the drift alerts' rules, routing, tiers, hysteresis,
   digests and durable outbox; its state directory is ``<alerts.state_dir or
   state_path/alerts>/labels`` (the feature worker's alerting keeps its own), opened while this
   process owns the merger;
3. sends its retraining events with :class:`~stream.kafka.retraining_sink.RetrainingSender`
   (``retraining.kafka_topic`` and/or the webhook).

All of it happens before the merger checkpoint that records the round, so a crash in between
repeats the round: the records have the same keys, alerting ignores a window it already
evaluated, and a retraining event carries the same ``id``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from driftline.alerts import Alerting
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.kafka.retraining_sink import RetrainingSender
from driftline.stream.performance.merge import Output

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
        self.alerting: Alerting | None = None
        self.records_sent = 0
        self.retraining: RetrainingSender | None = None
        self._producer: AIOKafkaProducer | None = None

    async def start(self, aclient: dict[str, Any], kclient: dict[str, Any]) -> None:
        self._producer = AIOKafkaProducer(**aclient, acks="all", enable_idempotence=True,
                                          linger_ms=5, max_request_size=16 * 1024 * 1024)
        await self._producer.start()
        if self.config.retraining.triggers:
            self.retraining = RetrainingSender(config=self.config.retraining,
                                               environ=self.environ, client=kclient)

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
            log.debug("label merger: %d performance records published", len(futures))
        alerts = [ms for out in rounds for ms in out.alerts]
        if alerts:
            alerting = self.open_alerting()
            for ms in alerts:
                alerting.observe_window(ms)
        for out in rounds:
            for event in out.events:
                if self.retraining is not None:
                    await asyncio.to_thread(self.retraining.send, event)
