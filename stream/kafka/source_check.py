"""Before ``driftline run`` starts the worker: can Kafka be reached, do the source topics exist?

Both are told in one line instead of a traceback from deep inside the consumer:

* brokers that cannot be reached are retried (with backoff) for ``timeout_s`` — a worker often
  starts before its brokers in a deployment — then :class:`SourceUnavailable` (exit 3);
* a source topic that does not exist is :class:`SourceUnavailable` at once (exit 3): driftline
  never creates the topics it monitors, and a typo would otherwise wait forever. The message
  suggests the closest existing topic.

>>> str(SourceUnavailable("source.kafka.topics: no topic 'tx'"))
"source.kafka.topics: no topic 'tx'"
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Mapping
from typing import Any

from kafka.errors import KafkaError

from driftline.stream.config.types import did_you_mean
from driftline.stream.kafka.admin import admin_client

log = logging.getLogger(__name__)


class SourceUnavailable(RuntimeError):
    """Kafka cannot be reached, refused us, or lacks a source topic (one line, no secrets)."""


def _connect_problem(exc: Exception) -> str:
    name = type(exc).__name__
    text = " ".join(str(exc).split()).removeprefix(f"{name}: ")
    return f"{name}: {text}" if text and text != name else name


def check_source(
    client: Mapping[str, Any],
    topics: list[str],
    *,
    timeout_s: float = 60.0,
    attempt_timeout_s: float = 5.0,
) -> None:
    """Returns once the brokers answer and list every topic of ``topics``; raises
    :class:`SourceUnavailable` when they do not within ``timeout_s`` or a topic is missing."""
    servers = ",".join(client.get("bootstrap_servers") or [])
    quiet = logging.getLogger("kafka")
    level = quiet.level
    if not log.isEnabledFor(logging.DEBUG):  # one line of ours instead of the client's chatter
        quiet.setLevel(logging.CRITICAL)
    try:
        _wait_for(client, topics, servers, timeout_s, attempt_timeout_s)
    finally:
        quiet.setLevel(level)


def _tcp_problem(servers: list[str], timeout_s: float) -> str | None:
    """None when some bootstrap server accepts a TCP connection, else why not (no client
    threads are started for brokers that are not even listening)."""
    problems = []
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)),
                                          timeout=timeout_s):
                return None
        except (OSError, ValueError) as exc:
            problems.append(f"{server}: {getattr(exc, 'strerror', None) or exc}")
    return "; ".join(problems) or "no bootstrap servers"


def _wait_for(client: Mapping[str, Any], topics: list[str], servers: str, timeout_s: float,
              attempt_timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    delay, last = 0.5, "no attempt"
    while True:
        remaining = deadline - time.monotonic()
        attempt = max(0.5, min(attempt_timeout_s, remaining))
        tcp = _tcp_problem(list(client.get("bootstrap_servers") or []), attempt)
        if tcp is None:
            kw = {**client, "bootstrap_timeout_ms": int(max(attempt, 5.0) * 1000),
                  "request_timeout_ms": int(max(attempt, 5.0) * 1000)}
            try:
                with admin_client(kw) as admin:
                    existing = set(admin.list_topics())
                break
            except (KafkaError, OSError) as exc:
                last = _connect_problem(exc)
        else:
            last = tcp
        if time.monotonic() >= deadline:
            raise SourceUnavailable(
                f"source.kafka.bootstrap_servers: cannot reach Kafka at {servers} within "
                f"{timeout_s:g}s ({last}); check the address, that the brokers are up, and "
                "security_protocol")
        log.warning("Kafka at %s not reachable yet (%s); retrying", servers, last)
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 5.0)
    missing = [t for t in topics if t not in existing]
    if missing:
        visible = sorted(t for t in existing if not t.startswith("__"))
        lines = [f"source.kafka.topics: topic {t!r} does not exist on {servers}"
                 f"{did_you_mean(t, visible, show_choices=False)}; create it (driftline never "
                 "creates the topics it monitors) or fix the name" for t in missing]
        raise SourceUnavailable("\n".join(lines))
