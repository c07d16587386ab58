"""The faust-streaming application that hosts ``driftline run``: the process, not the data.

faust provides the worker process: signal handling (SIGTERM/SIGINT = graceful stop), the
service tree and its lifecycle, timers and logging. The event topics themselves are NOT read
through faust agents (its stream path costs ~60 µs per event, see docs/runtime.md); the
:class:`~stream.kafka.runtime.Runtime` service reads them with batched consumers in the same
event loop. So the app starts no Kafka client of its own (:class:`ProcessOnly`): no producer,
no consumer, no consumer group of its own that a restart would wait for, no web server.

>>> from driftline.stream.config.model import DriftlineConfig
>>> cfg = DriftlineConfig.model_validate({
...     "monitor": "fraud", "features": [{"name": "amount", "type": "numeric"}],
...     "source": {"kafka": {"bootstrap_servers": "127.0.0.1:9092", "topics": ["tx"]}}})
>>> app = build_app(cfg)
>>> app.boot_strategy.enable_kafka, app.boot_strategy.enable_web
(False, False)
"""

from __future__ import annotations

import logging

import faust
from faust.app.base import BootStrategy

from driftline.stream.config.model import DriftlineConfig


class ProcessOnly(BootStrategy):
    """Start the app's service tree only: no Kafka clients, tables, web server or sensors."""

    enable_kafka = False
    enable_web = False
    enable_sensors = False


class HostApp(faust.App):
    """A faust app that hosts services and nothing else (see :class:`ProcessOnly`)."""

    BootStrategy = ProcessOnly


def build_app(cfg: DriftlineConfig) -> faust.App:
    """The host app of ``cfg``'s monitor; the runtime is added as a service."""
    (cfg.state_path / "faust").mkdir(parents=True, exist_ok=True)
    return HostApp(
        f"{cfg.kafka.group_id}.host", broker=[f"kafka://{s}" for s in cfg.kafka.bootstrap],
        web_enabled=False, store="memory://", datadir=str(cfg.state_path / "faust"),
    )


def run_app(app: faust.App, loglevel: str = "info") -> None:
    """Run the faust worker until SIGTERM/SIGINT (blocking); exits the process when done."""
    level = {"debug": "debug", "info": "info", "warning": "warn", "error": "error"}.get(
        loglevel, "info"
    )
    worker = faust.Worker(app, loglevel=level, redirect_stdouts=False, quiet=True)
    if level != "debug":  # client connection chatter (the freshness probe connects every tick)
        for name in ("aiokafka", "kafka"):
            logging.getLogger(name).setLevel(logging.WARNING)
    worker.execute_from_commandline()
