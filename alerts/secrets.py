"""Secrets (webhook URLs, routing keys, tokens) come from environment variables named in the
config, are resolved once at start, and are scrubbed from every log line and stored error.

>>> secrets = Secrets.resolve({"pd": {"routing_key": "PD_KEY"}}, {"PD_KEY": "R0UT1NGKEY"})
>>> secrets.get("pd", "routing_key")
'R0UT1NGKEY'
>>> secrets.redact("POST failed for key R0UT1NGKEY")
'POST failed for key ***'
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

_HTTP_LOGGERS = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2")


class MissingSecretError(ValueError):
    """A channel names an environment variable that is not set (the message names the config
    field and the variable, never a value)."""


class Secrets:
    """Resolved secret values per channel, and a redactor for any text that might contain them."""

    def __init__(self, values: Mapping[str, Mapping[str, str]]) -> None:
        self._values = {ch: dict(v) for ch, v in values.items()}
        needles: set[str] = set()
        for per_channel in self._values.values():
            for value in per_channel.values():
                needles.add(value)
                parts = urlsplit(value)
                if parts.scheme and parts.path.strip("/"):
                    needles.add(parts.path)  # a webhook's secret is its path
                    needles.add(parts.path.lstrip("/"))
        self._needles = sorted((n for n in needles if len(n) >= 4), key=len, reverse=True)

    @classmethod
    def resolve(
        cls, wanted: Mapping[str, Mapping[str, str]], environ: Mapping[str, str]
    ) -> Secrets:
        """``wanted`` maps channel -> {field -> env var name}. Fails naming every missing one."""
        values: dict[str, dict[str, str]] = {}
        missing: list[str] = []
        for channel, fields in wanted.items():
            for field, env_name in fields.items():
                value = environ.get(env_name)
                if not value:
                    missing.append(
                        f"alerts.channels.{channel}.{field}_env: environment variable "
                        f"{env_name} is not set"
                    )
                else:
                    values.setdefault(channel, {})[field] = value
        if missing:
            raise MissingSecretError("; ".join(missing))
        return cls(values)

    def get(self, channel: str, field: str) -> str:
        return self._values[channel][field]

    def redact(self, text: str) -> str:
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, "***")
        return text


class RedactingFilter(logging.Filter):
    """Rewrites log records so no secret reaches a handler (attached to our logger and to the
    HTTP client's loggers, which log request URLs)."""

    def __init__(self, secrets: Secrets) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.secrets.redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def install_redaction(secrets: Secrets, logger_names: tuple[str, ...]) -> list[logging.Filter]:
    """Attach a redacting filter to our loggers and the HTTP clients'; returns them to remove."""
    flt = RedactingFilter(secrets)
    for name in (*logger_names, *_HTTP_LOGGERS):
        logging.getLogger(name).addFilter(flt)
    return [flt]


def remove_redaction(filters: list[logging.Filter], logger_names: tuple[str, ...]) -> None:
    for flt in filters:
        for name in (*logger_names, *_HTTP_LOGGERS):
            logging.getLogger(name).removeFilter(flt)
