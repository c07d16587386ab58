"""The faust-streaming application that hosts ``driftline run``.

faust provides the worker process: signal handling (SIGTERM/SIGINT = graceful stop), the
service tree and its lifecycle, timers and logging. The event topics themselves are NOT read
through faust agents (its stream path costs ~60 µs per event, see docs/runtime.md); the
:class:`~stream.kafka.worker.Runtime` service reads them with batched aiokafka consumers in
the same event loop.

>>> from driftline.stream.config.model import DriftlineConfig
>>> cfg = DriftlineConfig.model_validate({
...     "monitor": "fraud", "features": [{"name": "amount", "type": "numeric"}],
...     "source": {"kafka": {"bootstrap_servers": "127.0.0.1:9092", "topics": ["tx"]}}})
>>> faust_settings(cfg)["broker"]
['kafka://127.0.0.1:9092']
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import faust

from driftline.stream.config.model import DriftlineConfig


def _credentials(cfg: DriftlineConfig, environ: Mapping[str, str] | None) -> Any:
    k = cfg.kafka
    kw = k.aiokafka_kwargs(environ)
    if k.security_protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=kw["sasl_plain_username"],
            password=kw["sasl_plain_password"],
            mechanism=kw["sasl_mechanism"],
            ssl_context=kw.get("ssl_context"),
        )
    if k.security_protocol == "SSL":
        return faust.SSLCredentials(kw["ssl_context"])
    return None


def faust_settings(
    cfg: DriftlineConfig,
    environ: Mapping[str, str] | None = None,
    session_timeout_s: float = 10.0,
) -> dict[str, Any]:
    """Keyword arguments for ``faust.App`` from the monitor config (no secrets logged)."""
    k = cfg.kafka
    settings: dict[str, Any] = {
        "broker": [f"kafka://{server}" for server in k.bootstrap],
        "web_enabled": False,
        "store": "memory://",
        "datadir": str(cfg.state_path / "faust"),
        "consumer_auto_offset_reset": k.auto_offset_reset,
        "producer_acks": -1,
        # faust waits for its own group at start: a crashed worker's membership must expire
        # quickly for a restart to be quick (Kafka's minimum session timeout is 6 s).
        "broker_session_timeout": session_timeout_s,
        "broker_heartbeat_interval": max(0.5, session_timeout_s / 5),
    }
    creds = _credentials(cfg, environ)
    if creds is not None:
        settings["broker_credentials"] = creds
    return settings


def build_app(
    cfg: DriftlineConfig,
    environ: Mapping[str, str] | None = None,
    session_timeout_s: float = 10.0,
) -> faust.App:
    """A faust app named after the monitor's group id; the runtime is added as a service."""
    (cfg.state_path / "faust").mkdir(parents=True, exist_ok=True)
    return faust.App(
        f"{cfg.kafka.group_id}.faust", **faust_settings(cfg, environ, session_timeout_s)
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
