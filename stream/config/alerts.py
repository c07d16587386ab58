"""Alert rules and delivery settings: the ``drift``, ``quality``, ``volume``, ``freshness`` and
``alerts`` blocks of driftline.yaml.

Every field has a default, typos fail with the field's name (``extra="forbid"``), durations
accept ``30s``/``5m``/``6h``/``1d`` (:func:`parse_duration`), and secrets are never in the file:
channels name the *environment variables* that hold webhook URLs and routing keys.

>>> DriftConfig.model_validate(
...     {"metric": "psi", "warning": 0.1, "critical": 0.2, "min_samples": 500, "for_windows": 2}
... ).tiers("psi")
Tiers(warning=0.1, critical=0.2, clear=0.05)
>>> FreshnessRule.model_validate({"topic": "transactions", "max_staleness": "5m"}).name
'topic:transactions'
>>> parse_duration("1h30m")
5400.0
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

Severity = Literal["warning", "critical"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: Any) -> float:
    """Seconds from ``30s``, ``5m``, ``6h``, ``1d``, ``1h30m``, ``250ms``, a number or a timedelta.

    >>> parse_duration("6h"), parse_duration(90), parse_duration("250ms")
    (21600.0, 90.0, 0.25)
    """
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 6h, 1d)")
    text = value.strip().lower().replace(" ", "")
    try:
        return parse_duration(float(text))
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 6h, 1d, 1h30m)")
    return total


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Tiers(NamedTuple):
    """Thresholds of one metric: breach at ``warning``/``critical``; clear below ``clear``."""

    warning: float | None
    critical: float | None
    clear: float | None


class Tier(_Model):
    """Fixed thresholds of one metric or ratio. ``clear`` (hysteresis) defaults to warning / 2."""

    warning: float | None = None
    critical: float | None = None
    clear: float | None = None

    @model_validator(mode="after")
    def _check(self) -> Tier:
        if self.warning is not None and self.critical is not None and self.critical < self.warning:
            raise ValueError(f"critical ({self.critical}) must be >= warning ({self.warning})")
        low = self.warning if self.warning is not None else self.critical
        if self.clear is not None and low is not None and self.clear > low:
            raise ValueError(f"clear ({self.clear}) must be <= the lowest threshold ({low})")
        return self

    def resolved(self) -> Tiers:
        low = self.warning if self.warning is not None else self.critical
        clear = self.clear if self.clear is not None else (None if low is None else low / 2)
        return Tiers(self.warning, self.critical, clear)


DEFAULT_DRIFT_TIERS: dict[str, Tier] = {
    "psi": Tier(warning=0.1, critical=0.2),
    "ks": Tier(warning=0.1, critical=0.2),
    "js": Tier(warning=0.1, critical=0.2),
    "wasserstein": Tier(warning=0.1, critical=0.25),
    "chi2": Tier(),  # a statistic without a natural scale: significance-only unless configured
}


class ControlChartConfig(_Model):
    """Thresholds from the metric's own history: mean + k·σ (``sigma``) or an EWMA chart.

    Until ``min_history`` windows have been seen the fixed thresholds apply.
    """

    method: Literal["sigma", "ewma"] = "ewma"
    k_warning: float = Field(default=3.0, gt=0)
    k_critical: float = Field(default=5.0, gt=0)
    lam: float = Field(default=0.2, gt=0, le=1, description="EWMA weight of the newest window")
    min_history: int = Field(default=20, ge=2)


class DriftOverride(_Model):
    """Per-feature overrides of :class:`DriftConfig` (any subset of its fields)."""

    enabled: bool | None = None
    metric: str | None = None
    metrics: list[str] | None = None
    warning: float | None = None
    critical: float | None = None
    clear: float | None = None
    thresholds: dict[str, Tier] | None = None
    min_samples: int | None = Field(default=None, ge=0)
    for_windows: int | None = Field(default=None, ge=1)
    clear_windows: int | None = Field(default=None, ge=1)
    mode: Literal["fixed", "control_chart"] | None = None


class DriftConfig(_Model):
    """Drift rules. ``metric`` (or ``metrics``) are compared against tiered thresholds, only when
    the window has ``min_samples`` events and the test survives Benjamini–Hochberg at ``alpha``
    across all feature × cohort tests of the window."""

    enabled: bool = True
    metric: str = "psi"
    metrics: list[str] | None = None
    warning: float | None = None
    critical: float | None = None
    clear: float | None = None
    thresholds: dict[str, Tier] = {}
    min_samples: int = Field(default=500, ge=0)
    for_windows: int = Field(default=2, ge=1)
    clear_windows: int = Field(default=3, ge=1)
    alpha: float = Field(default=0.01, gt=0, lt=1, validation_alias=AliasChoices("alpha", "fdr"))
    significance: bool = True
    mode: Literal["fixed", "control_chart"] = "fixed"
    control_chart: ControlChartConfig = ControlChartConfig()
    overrides: dict[str, DriftOverride] = {}

    @property
    def metric_names(self) -> list[str]:
        return list(self.metrics) if self.metrics else [self.metric]

    def tiers(self, metric: str) -> Tiers:
        """Thresholds of ``metric``: per-metric ``thresholds``, else the top-level values, else
        the defaults (PSI 0.1/0.2, KS 0.1/0.2, JS 0.1/0.2)."""
        if metric in self.thresholds:
            return self.thresholds[metric].resolved()
        base = DEFAULT_DRIFT_TIERS.get(metric, Tier())
        top = Tier(
            warning=self.warning if self.warning is not None else base.warning,
            critical=self.critical if self.critical is not None else base.critical,
            clear=self.clear if self.clear is not None else base.clear,
        )
        return top.resolved()

    def for_feature(self, feature: str) -> DriftConfig:
        """This config with the feature's override applied (itself when there is none)."""
        override = self.overrides.get(feature)
        if override is None:
            return self
        update = override.model_dump(exclude_none=True)
        if "thresholds" in update:
            update["thresholds"] = {**self.thresholds, **override.thresholds}  # type: ignore[dict-item]
        if "metric" in update and "metrics" not in update:
            update["metrics"] = None
        return self.model_copy(update=update)


class QualityConfig(_Model):
    """Data-quality ratios (0-1) per window, with fixed tiers; ``overrides`` per feature."""

    enabled: bool = True
    null_ratio: Tier = Tier(warning=0.05, critical=0.25)
    nan_ratio: Tier = Tier(warning=0.01, critical=0.1)
    out_of_range_ratio: Tier = Tier(warning=0.01, critical=0.1)
    unseen_ratio: Tier = Tier(warning=0.05, critical=0.25)
    invalid_ratio: Tier = Tier(warning=0.01, critical=0.1)
    min_samples: int = Field(default=100, ge=0)
    for_windows: int = Field(default=1, ge=1)
    clear_windows: int = Field(default=2, ge=1)
    overrides: dict[str, dict[str, Tier]] = {}

    def tiers(self, metric: str, feature: str = "") -> Tiers | None:
        per_feature = self.overrides.get(feature, {})
        if metric in per_feature:
            return per_feature[metric].resolved()
        tier = getattr(self, metric, None)
        return tier.resolved() if isinstance(tier, Tier) else None


class VolumeConfig(_Model):
    """Events per window vs the baseline's rate for that cohort (``details["expected"]``).

    A ratio at or below ``drop_warning``/``drop_critical``, or at or above
    ``spike_warning``/``spike_critical``, breaches. Cohorts expecting fewer than ``min_expected``
    events per window are not judged (too noisy).
    """

    enabled: bool = True
    drop_warning: float | None = Field(default=0.5, ge=0, le=1)
    drop_critical: float | None = Field(default=0.1, ge=0, le=1)
    spike_warning: float | None = Field(default=3.0, ge=1)
    spike_critical: float | None = None
    min_expected: float = Field(default=50.0, ge=0)
    for_windows: int = Field(default=2, ge=1)
    clear_windows: int = Field(default=1, ge=1)


class FreshnessRule(_Model):
    """A staleness SLA on one topic, feature or cohort.

    ``{feature: user_purchase_history, max_staleness: 6h, alert_channels: [pagerduty, slack]}``,
    ``{topic: transactions, max_staleness: 5m}``, ``{cohort: "region=eu", max_staleness: 10m}``.
    ``alert_channels`` replaces the severity routing for this rule; ``on_stale`` is free-form
    guidance carried into the notification (e.g. ``{action: use_fallback_model}``).
    """

    feature: str | None = None
    topic: str | None = None
    cohort: str | None = None
    max_staleness: Duration
    warning_after: Duration | None = None
    severity: Severity = "critical"
    alert_channels: list[str] | None = None
    on_stale: dict[str, Any] = {}

    @model_validator(mode="after")
    def _check(self) -> FreshnessRule:
        given = [k for k in ("feature", "topic", "cohort") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "a freshness rule names exactly one of feature, topic or cohort "
                f"(got {given or 'none'})"
            )
        if self.cohort is not None and "=" not in self.cohort:
            raise ValueError(f"cohort must look like segment=value, got {self.cohort!r}")
        if self.warning_after is not None and self.warning_after >= self.max_staleness:
            raise ValueError("warning_after must be shorter than max_staleness")
        return self

    @property
    def kind(self) -> Literal["feature", "topic", "cohort"]:
        return "feature" if self.feature else "topic" if self.topic else "cohort"

    @property
    def name(self) -> str:
        """``feature:<name>``, ``topic:<name>`` or ``cohort:<segment>=<value>``."""
        return f"{self.kind}:{getattr(self, self.kind)}"


class PagerDutyChannel(_Model):
    type: Literal["pagerduty"]
    routing_key_env: str
    url: str = "https://events.pagerduty.com/v2/enqueue"
    url_env: str | None = None
    source: str | None = None


class SlackChannel(_Model):
    type: Literal["slack"]
    webhook_url_env: str
    rate_per_second: float = Field(default=1.0, gt=0)
    burst: int = Field(default=3, ge=1)
    max_alerts_per_digest: int = Field(default=20, ge=1, le=40)


class AlertmanagerChannel(_Model):
    type: Literal["alertmanager"]
    url: str | None = "http://127.0.0.1:9093"
    url_env: str | None = None
    resend_interval: Duration = Field(default=30.0, gt=0, le=60)


class WebhookChannel(_Model):
    type: Literal["webhook"]
    url: str | None = None
    url_env: str | None = None
    headers_env: dict[str, str] = {}

    @model_validator(mode="after")
    def _check(self) -> WebhookChannel:
        if not (self.url or self.url_env):
            raise ValueError("a webhook channel needs url or url_env")
        return self


class ConsoleChannel(_Model):
    type: Literal["console"]
    stream: Literal["stdout", "stderr"] = "stderr"


ChannelConfig = Annotated[
    PagerDutyChannel | SlackChannel | AlertmanagerChannel | WebhookChannel | ConsoleChannel,
    Field(discriminator="type"),
]


class DeliveryConfig(_Model):
    """Retry policy of the outbox: exponential backoff between attempts (or the service's
    Retry-After), giving up on a notification after ``max_age``."""

    backoff_initial: Duration = Field(default=1.0, gt=0)
    backoff_max: Duration = Field(default=60.0, gt=0)
    backoff_multiplier: float = Field(default=2.0, ge=1)
    timeout: Duration = Field(default=10.0, gt=0)
    max_age: Duration = Field(default=86400.0, gt=0)


REPORT_URL_FIELDS = frozenset({"monitor", "check", "feature", "segment", "cohort", "window",
                               "date"})

_DEFAULT_ROUTES: dict[str, list[str]] = {"critical": ["pagerduty", "slack"], "warning": ["slack"]}


class AlertsConfig(_Model):
    """Channels, routing by severity, re-notification and links.

    When ``routes`` is not given, the default (critical → pagerduty + slack, warning → slack)
    keeps only the channels that are defined.
    """

    channels: dict[str, ChannelConfig] = {}
    routes: dict[Severity, list[str]] | None = None
    repeat_interval: Duration = 4 * 3600.0
    grafana_url: str | None = None
    grafana_dashboard_uid: str | None = None
    report_url: str | None = Field(default=None, description=(
        "URL of a driftline HTML report (`driftline report`) published where responders can "
        "open it; Slack digests, PagerDuty links and webhook/PagerDuty details carry it next to "
        "the Grafana link. May contain {monitor}, {check}, {feature}, {segment}, {cohort}, "
        "{window} and {date} (the window end's UTC day, YYYY-MM-DD), filled in per alert."))
    state_dir: str | None = None
    delivery: DeliveryConfig = DeliveryConfig()

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
                raise ValueError(
                    f"routes.{severity} names undefined channels {unknown}; "
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
