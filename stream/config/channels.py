"""The ``alerts`` block of driftline.yaml: channels, severity routes, delivery.

Secrets are never in the file: channels name the *environment variables* that hold webhook
URLs, routing keys and header values (``*_env`` fields).

>>> AlertsConfig.model_validate({"channels": {"ops": {"type": "console"}}}).route("critical")
[]
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from driftline.stream.config.types import Duration, Severity, StrictModel, did_you_mean


class PagerDutyChannel(StrictModel):
    """PagerDuty Events API v2: critical pages, resolved alerts resolve the incident."""

    type: Literal["pagerduty"]
    """Channel kind."""
    routing_key_env: str
    """NAME of the environment variable holding the PagerDuty integration (routing) key."""
    url: str = "https://events.pagerduty.com/v2/enqueue"
    """Events API endpoint."""
    url_env: str | None = None
    """NAME of an environment variable holding the endpoint instead of `url`."""
    source: str | None = None
    """PagerDuty `source` of the events; default `driftline/<monitor>`."""


class SlackChannel(StrictModel):
    """Slack incoming webhook: one digest message per window, rate-limited."""

    type: Literal["slack"]
    """Channel kind."""
    webhook_url_env: str
    """NAME of the environment variable holding the incoming-webhook URL."""
    rate_per_second: float = Field(default=1.0, gt=0)
    """Messages per second at most (Slack allows about one)."""
    burst: int = Field(default=3, ge=1)
    """Messages that may go out back to back before the rate applies."""
    max_alerts_per_digest: int = Field(default=20, ge=1, le=40)
    """Alerts listed in one message; more are summarized by count."""


class AlertmanagerChannel(StrictModel):
    """Prometheus Alertmanager: alerts are posted and re-posted while firing."""

    type: Literal["alertmanager"]
    """Channel kind."""
    url: str | None = "http://127.0.0.1:9093"
    """Alertmanager base URL."""
    url_env: str | None = None
    """NAME of an environment variable holding the URL instead of `url`."""
    resend_interval: Duration = Field(default=30.0, gt=0, le=60)
    """How often firing alerts are re-posted (Alertmanager resolves alerts not re-posted)."""


class WebhookChannel(StrictModel):
    """A generic JSON webhook (one POST per alert transition)."""

    type: Literal["webhook"]
    """Channel kind."""
    url: str | None = None
    """Endpoint URL (use `url_env` when the URL itself is a secret)."""
    url_env: str | None = None
    """NAME of an environment variable holding the endpoint URL."""
    headers_env: dict[str, str] = {}
    """Extra HTTP headers: header name -> NAME of the environment variable holding its value."""

    @model_validator(mode="after")
    def _check(self) -> WebhookChannel:
        if not (self.url or self.url_env):
            raise ValueError("a webhook channel needs url or url_env")
        return self


class ConsoleChannel(StrictModel):
    """Alert transitions printed as lines (for trying things out)."""

    type: Literal["console"]
    """Channel kind."""
    stream: Literal["stdout", "stderr"] = "stderr"
    """Where the lines go."""


ChannelConfig = Annotated[
    PagerDutyChannel | SlackChannel | AlertmanagerChannel | WebhookChannel | ConsoleChannel,
    Field(discriminator="type"),
]


class DeliveryConfig(StrictModel):
    """Retry policy of the outbox: exponential backoff between attempts (or the service's
    Retry-After), giving up on a notification after ``max_age``."""

    backoff_initial: Duration = Field(default=1.0, gt=0)
    """Wait before the first retry."""
    backoff_max: Duration = Field(default=60.0, gt=0)
    """Longest wait between retries."""
    backoff_multiplier: float = Field(default=2.0, ge=1)
    """Each retry waits this many times longer than the previous one (up to `backoff_max`)."""
    timeout: Duration = Field(default=10.0, gt=0)
    """HTTP timeout of one delivery attempt."""
    max_age: Duration = Field(default=86400.0, gt=0)
    """A notification still undelivered after this long is dropped (counted and logged)."""


_DEFAULT_ROUTES: dict[str, list[str]] = {"critical": ["pagerduty", "slack"], "warning": ["slack"]}


REPORT_URL_FIELDS = frozenset({"monitor", "check", "feature", "segment", "cohort", "window",
                               "date"})
"""The placeholders ``alerts.report_url`` may contain."""


class AlertsConfig(StrictModel):
    """Channels, routing by severity, re-notification and links.

    When ``routes`` is not given, the default (critical → pagerduty + slack, warning → slack)
    keeps only the channels that are defined.
    """

    channels: dict[str, ChannelConfig] = {}
    """Notification channels by name (type pagerduty, slack, alertmanager, webhook or console)."""
    routes: dict[Severity, list[str]] | None = None
    """Channel names per severity; default critical -> [pagerduty, slack], warning -> [slack]
    (those that are defined).
    """
    repeat_interval: Duration = 4 * 3600.0
    """A still-firing alert is notified again after this long."""
    grafana_url: str | None = None
    """Grafana base URL for the drill-down link in notifications."""
    grafana_dashboard_uid: str | None = None
    """Dashboard the link opens; default the generated dashboard of the alert's kind."""
    report_url: str | None = None
    """URL of a driftline HTML report (`driftline report`) published where responders can open
    it; Slack digests, PagerDuty links and webhook/PagerDuty details carry it next to the
    Grafana link. May contain {monitor}, {check}, {feature}, {segment}, {cohort}, {window} and
    {date} (the window end's UTC day, YYYY-MM-DD), filled in per alert."""
    state_dir: str | None = None
    """Where alert state and the outbox live; default `<state_dir>/alerts`."""
    delivery: DeliveryConfig = DeliveryConfig()
    """Retries, timeouts and expiry of notifications."""

    @model_validator(mode="after")
    def _check(self) -> AlertsConfig:
        if self.report_url is not None:
            unknown = sorted(set(re.findall(r"{([^{}]*)}", self.report_url)) - REPORT_URL_FIELDS)
            if unknown:
                raise ValueError(
                    f"report_url has unknown placeholders {unknown}; known: "
                    f"{sorted(REPORT_URL_FIELDS)}")
        for severity, names in (self.routes or {}).items():
            unknown = [n for n in names if n not in self.channels]
            if unknown:
                hint = did_you_mean(unknown[0], sorted(self.channels))
                raise ValueError(
                    f"routes.{severity} names undefined channels {unknown}{hint}; "
                    f"defined: {sorted(self.channels)}"
                )
        return self

    def route(self, severity: str) -> list[str]:
        """Channel names for a severity."""
        if self.routes is not None:
            return list(self.routes.get(severity, []))  # type: ignore[call-overload]
        return [n for n in _DEFAULT_ROUTES.get(severity, []) if n in self.channels]

    def check_channels(self, names: list[str], where: str) -> None:
        unknown = [n for n in names if n not in self.channels]
        if unknown:
            raise ValueError(f"{where} names undefined channels {unknown}")
