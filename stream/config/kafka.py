"""The ``source.kafka`` section of driftline.yaml: brokers, topics, security, internal topics."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from driftline.stream.config.types import ConfigError, Duration, StrictModel


class KafkaSettings(StrictModel):
    """Where events come from and where driftline writes (DLQ, results, internal topics).

    Passwords are never in the file: ``sasl_password_env`` / ``ssl_password_env`` name the
    environment variables that hold them.
    """

    bootstrap_servers: str | list[str] = "localhost:9092"
    """Kafka brokers, "host:port" comma-separated or a list."""
    topics: list[str] = Field(min_length=1)
    """Topics whose events are monitored (one JSON object per record)."""
    group_id: str | None = None
    """Consumer group; workers with the same group share partitions. Default `driftline-<monitor>`.
    """
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How to connect; SASL_SSL with SCRAM for most managed Kafka services."""
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    """SASL mechanism (required with SASL_*)."""
    sasl_username: str | None = None
    """SASL user name."""
    sasl_password_env: str | None = None
    """NAME of the environment variable holding the SASL password."""
    ssl_cafile: Path | None = None
    """CA bundle to verify the brokers."""
    ssl_certfile: Path | None = None
    """Client certificate (mutual TLS)."""
    ssl_keyfile: Path | None = None
    """Client private key (mutual TLS)."""
    ssl_password_env: str | None = None
    """NAME of the environment variable holding the key password."""
    ssl_check_hostname: bool = True
    """Verify the brokers' host names."""
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    """Where a partition without a checkpoint starts."""
    isolation_level: Literal["read_committed", "read_uncommitted"] = "read_committed"
    """How records of transactional producers are read: `read_committed` returns only committed
    transactions (aborted ones are never counted; records of an open transaction wait for its
    end), `read_uncommitted` returns every record as soon as it is written, aborted ones too.
    """
    consumer: Literal["aiokafka", "librdkafka"] = "librdkafka"
    """Client that reads the event topics: `librdkafka` (the librdkafka confluent-kafka ships:
    fetching, decompression and record parsing in its own threads, each fetch turned into
    per-partition lists in one native pass while the batch before is processed; the faster
    whole worker in docs/kafka.md; a
    partition with an open transaction counts as behind until it ends) or
    `aiokafka` (asyncio, on the worker's event loop; caught up at the last stable offset while a
    transaction is open). Same checkpoints and rebalances with both."""
    max_batch_records: int = Field(50_000, ge=1)
    """Records per consumer fetch (the engine works on whole batches)."""
    dlq_topic: str | None = None
    """Dead-letter topic for malformed records (value kept, reason and origin in headers). Default
    `<prefix>.dlq`.
    """
    results_topic: str | None = None
    """Topic for one JSON result per window x cohort. Default `<prefix>.results`."""
    internal_topic_prefix: str | None = None
    """Prefix of driftline's own topics (checkpoints, partial windows). Default
    `driftline.<monitor>`.
    """
    checkpoint_interval: Duration = Field(default=10.0, gt=0)
    """How often partition state is checkpointed with the offsets it covers."""

    @model_validator(mode="after")
    def _check_security(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL"):
            if not self.sasl_mechanism:
                raise ValueError(
                    f"security_protocol {self.security_protocol} needs sasl_mechanism "
                    "(PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
                )
            if not (self.sasl_username and self.sasl_password_env):
                raise ValueError(
                    "SASL needs sasl_username and sasl_password_env (the NAME of the environment "
                    "variable holding the password; the password never goes in this file)"
                )
        return self

    @property
    def bootstrap(self) -> list[str]:
        servers = self.bootstrap_servers
        return [s.strip() for s in servers.split(",")] if isinstance(servers, str) else servers

    def _secret(self, env_name: str | None, field: str, environ: Mapping[str, str]) -> str | None:
        if env_name is None:
            return None
        value = environ.get(env_name)
        if not value:
            raise ConfigError(
                "(environment)",
                [f"source.kafka.{field}: environment variable {env_name} is not set"],
            )
        return value

    def client_kwargs(self, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Connection and security keyword arguments for kafka-python clients."""
        env = os.environ if environ is None else environ
        kw: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            kw["sasl_mechanism"] = self.sasl_mechanism
            kw["sasl_plain_username"] = self.sasl_username
            kw["sasl_plain_password"] = self._secret(
                self.sasl_password_env, "sasl_password_env", env
            )
        if self.security_protocol in ("SSL", "SASL_SSL"):
            kw["ssl_check_hostname"] = self.ssl_check_hostname
            for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                value = getattr(self, key)
                if value is not None:
                    kw[key] = str(value)
            password = self._secret(self.ssl_password_env, "ssl_password_env", env)
            if password is not None:
                kw["ssl_password"] = password
        return kw

    def aiokafka_kwargs(self, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The same settings for aiokafka clients (which take an SSL context, not files)."""
        kw = self.client_kwargs(environ)
        out: dict[str, Any] = {
            "bootstrap_servers": kw["bootstrap_servers"],
            "security_protocol": kw["security_protocol"],
        }
        if "sasl_mechanism" in kw:
            out["sasl_mechanism"] = kw["sasl_mechanism"]
            out["sasl_plain_username"] = kw["sasl_plain_username"]
            out["sasl_plain_password"] = kw["sasl_plain_password"]
        if self.security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            out["ssl_context"] = create_ssl_context(
                cafile=kw.get("ssl_cafile"),
                certfile=kw.get("ssl_certfile"),
                keyfile=kw.get("ssl_keyfile"),
                password=kw.get("ssl_password"),
            )
            out["ssl_context"].check_hostname = self.ssl_check_hostname
        return out


