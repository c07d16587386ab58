"""The ``baseline_reload:`` section: how a running worker picks up a new baseline without a
restart (watched by :mod:`stream.sources.baseline_watch`, swapped by the Kafka runtime)."""

from __future__ import annotations

from pydantic import Field, field_validator

from driftline.stream.config.types import Duration, StrictModel


class BaselineReloadConfig(StrictModel):
    """Where the baseline lives and how often a running worker checks it for a new one."""

    interval: Duration = Field(default=30.0, ge=0)
    """How often the worker checks the baseline location for a new baseline (file: size,
    modification time and content hash; URL: a conditional GET with the ETag); 0 = only when
    the worker gets SIGHUP (which also checks at once with any interval)."""
    url: str | None = None
    """http(s) URL of the baseline object (an object store, a static file server) instead of
    the `baseline` file; fetched at start and on every check."""
    auth_header_env: str | None = None
    """Environment variable holding the `Authorization` header value for `url`."""
    timeout: Duration = Field(default=30.0, gt=0)
    """Seconds a fetch of `url` may take before the check counts as failed."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL; for a file use "
                             "`baseline: path/to/baseline.dlb`")
        return value
