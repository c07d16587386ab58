"""Alert rules and delivery settings: the ``drift``, ``quality``, ``volume``, ``freshness`` and
``alerts`` blocks of driftline.yaml.

Every field has a default, typos fail with the field's name (``extra="forbid"``), durations
accept ``30s``/``5m``/``6h``/``1d`` (:func:`parse_duration`), metric names are checked (with a
did-you-mean), thresholds are non-negative and ordered (``clear`` <= ``warning`` <=
``critical``), and secrets are never in the file: channels name the *environment variables*
that hold webhook URLs and routing keys (:mod:`alerts.config_channels`).

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

from typing import Any, Literal, NamedTuple, get_args

from pydantic import AliasChoices, Field, model_validator

from driftline.stream.config.channels import (
    AlertmanagerChannel,
    AlertsConfig,
    ChannelConfig,
    ConsoleChannel,
    DeliveryConfig,
    PagerDutyChannel,
    SlackChannel,
    WebhookChannel,
)
from driftline.stream.config.types import (
    ConfigProblems,
    Duration,
    Severity,
    StrictModel,
    did_you_mean,
    parse_duration,
    raise_problems,
)

__all__ = [
    "DRIFT_METRICS", "QUALITY_RATIOS", "AlertmanagerChannel", "AlertsConfig", "ChannelConfig",
    "ConfigProblems", "ConsoleChannel", "ControlChartConfig", "DeliveryConfig", "DriftConfig",
    "DriftMetric", "DriftOverride", "Duration", "FreshnessRule", "PagerDutyChannel",
    "QualityConfig", "Severity", "SlackChannel", "Tier", "Tiers", "VolumeConfig",
    "WebhookChannel", "parse_duration",
]

DriftMetric = Literal["psi", "ks", "js", "wasserstein", "chi2"]
DRIFT_METRICS: tuple[str, ...] = get_args(DriftMetric)
QUALITY_RATIOS = ("null_ratio", "nan_ratio", "out_of_range_ratio", "unseen_ratio",
                  "invalid_ratio")


class Tiers(NamedTuple):
    """Thresholds of one metric: breach at ``warning``/``critical``; clear below ``clear``."""

    warning: float | None
    critical: float | None
    clear: float | None


def order_problems(
    warning: float | None, critical: float | None, clear: float | None, defaults: str = ""
) -> list[tuple[str, str]]:
    """(field, message) when ``critical`` < ``warning`` or ``clear`` is above the lowest
    threshold. ``defaults`` names the values that are defaults (for the message).

    >>> order_problems(0.3, 0.2, None)
    [('critical', 'critical (0.2) is below warning (0.3): critical must be >= warning')]
    """
    out: list[tuple[str, str]] = []
    if warning is not None and critical is not None and critical < warning:
        out.append(("critical", f"critical ({critical}) is below warning ({warning}): "
                                f"critical must be >= warning{defaults}"))
    low, name = (warning, "warning") if warning is not None else (critical, "critical")
    if clear is not None and low is not None and clear > low:
        out.append(("clear", f"clear ({clear}) is above {name} ({low}): clear must be <= "
                             f"{name} (it is the level below which an alert resolves){defaults}"))
    return out


class Tier(StrictModel):
    """Fixed thresholds of one metric or ratio. ``clear`` (hysteresis) defaults to warning / 2."""

    warning: float | None = Field(default=None, ge=0)
    """Breach at or above this value: warning alert."""
    critical: float | None = Field(default=None, ge=0)
    """Breach at or above this value: critical alert (>= warning)."""
    clear: float | None = Field(default=None, ge=0)
    """A firing alert resolves below this value (<= warning); default warning / 2."""

    @model_validator(mode="after")
    def _check(self) -> Tier:
        raise_problems(order_problems(self.warning, self.critical, self.clear))
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


class ControlChartConfig(StrictModel):
    """Thresholds from the metric's own history: mean + k·σ (``sigma``) or an EWMA chart.

    Until ``min_history`` windows have been seen the fixed thresholds apply.
    """

    method: Literal["sigma", "ewma"] = "ewma"
    """sigma: mean + k·σ of the history; ewma: an exponentially weighted moving average chart."""
    k_warning: float = Field(default=3.0, gt=0)
    """Warning at this many standard deviations above the center."""
    k_critical: float = Field(default=5.0, gt=0)
    """Critical at this many standard deviations above the center (>= k_warning)."""
    lam: float = Field(default=0.2, gt=0, le=1)
    """EWMA weight of the newest window."""
    min_history: int = Field(default=20, ge=2)
    """Windows of history needed before the chart replaces the fixed thresholds."""

    @model_validator(mode="after")
    def _check(self) -> ControlChartConfig:
        if self.k_critical < self.k_warning:
            raise ConfigProblems([("k_critical", f"k_critical ({self.k_critical}) is below "
                                   f"k_warning ({self.k_warning}): it must be >= k_warning")])
        return self


class DriftOverride(StrictModel):
    """Per-feature (or per-reference) overrides of :class:`DriftConfig` (any subset of its
    fields)."""

    enabled: bool | None = None
    """Turn drift checks off (or on) for this feature or reference."""
    metric: DriftMetric | None = None
    """The metric that alerts for this feature or reference."""
    metrics: list[DriftMetric] | None = None
    """Several alerting metrics for this feature or reference."""
    warning: float | None = Field(default=None, ge=0)
    """Warning threshold of the metric for this feature or reference."""
    critical: float | None = Field(default=None, ge=0)
    """Critical threshold of the metric for this feature or reference."""
    clear: float | None = Field(default=None, ge=0)
    """Level below which the alert resolves, for this feature or reference."""
    thresholds: dict[DriftMetric, Tier] | None = None
    """Per-metric thresholds for this feature or reference."""
    min_samples: int | None = Field(default=None, ge=0)
    """Events a window (and a live reference) needs before it is judged."""
    for_windows: int | None = Field(default=None, ge=1)
    """Breaching windows in a row before an alert fires."""
    clear_windows: int | None = Field(default=None, ge=1)
    """Calm windows in a row before an alert resolves."""
    mode: Literal["fixed", "control_chart"] | None = None
    """fixed thresholds or a control chart on the metric's history."""


class DriftConfig(StrictModel):
    """Drift rules. ``metric`` (or ``metrics``) are compared against tiered thresholds, only when
    the window has ``min_samples`` events and the test survives Benjamini–Hochberg at ``alpha``
    across all feature × cohort tests of the window."""

    enabled: bool = True
    """Drift alerts on or off (scores are computed and exported either way)."""
    metric: DriftMetric = "psi"
    """The score that alerts: psi, ks, js, wasserstein or chi2 (all are computed and exported)."""
    metrics: list[DriftMetric] | None = None
    """Several alerting scores instead of `metric`, e.g. [psi, ks]."""
    warning: float | None = Field(default=None, ge=0)
    """Warning threshold of every metric without its own `thresholds` entry; default 0.1 (PSI,
    KS, JS, Wasserstein).
    """
    critical: float | None = Field(default=None, ge=0)
    """Critical threshold, >= warning; default per metric (PSI, KS, JS 0.2; Wasserstein 0.25)."""
    clear: float | None = Field(default=None, ge=0)
    """An alert resolves below this value; default warning / 2."""
    thresholds: dict[DriftMetric, Tier] = {}
    """Per-metric tiers, e.g. {ks: {warning: 0.05, critical: 0.1}}."""
    min_samples: int = Field(default=500, ge=0)
    """Fewer events in a window (or cohort) = insufficient data, never an alert."""
    for_windows: int = Field(default=2, ge=1)
    """Breaching windows in a row before an alert fires (pending until then)."""
    clear_windows: int = Field(default=3, ge=1)
    """Calm windows in a row before a firing alert resolves."""
    alpha: float = Field(default=0.01, gt=0, lt=1, validation_alias=AliasChoices("alpha", "fdr"))
    """Benjamini-Hochberg false-discovery rate across the window's tests (alias `fdr`)."""
    significance: bool = True
    """Require the test to be significant after Benjamini-Hochberg, not only above threshold."""
    mode: Literal["fixed", "control_chart"] = "fixed"
    """fixed thresholds, or a control chart on each metric's own history."""
    control_chart: ControlChartConfig = ControlChartConfig()
    """Control-chart settings (mode control_chart)."""
    overrides: dict[str, DriftOverride] = {}
    """Per-feature overrides of any of these fields, by feature name."""

    @model_validator(mode="after")
    def _check(self) -> DriftConfig:
        problems = self._order_problems("")
        for feature in self.overrides:
            own = self.for_feature(feature)._order_problems(f"overrides.{feature}")
            problems += [p for p in own if p[1] not in {q[1] for q in problems}]
        raise_problems(problems)
        return self

    def _order_problems(self, prefix: str) -> list[tuple[str, str]]:
        """Ordering problems of the tiers every metric resolves to (defaults included)."""
        grouped: dict[tuple[str, str], list[str]] = {}
        for metric, base in DEFAULT_DRIFT_TIERS.items():
            if metric in self.thresholds:
                continue  # a Tier of its own: validated where it is written
            w, c, cl = (getattr(self, k) for k in ("warning", "critical", "clear"))
            dw = "" if w is not None or base.warning is None else "the {of} default "
            dc = "" if c is not None or base.critical is None else "the {of} default "
            w = base.warning if w is None else w
            c = base.critical if c is None else c
            if w is not None and c is not None and c < w:
                field = "warning" if dc else "critical"
                fix = "; set critical too" if dc else "; set warning too" if dw else ""
                grouped.setdefault((field, f"critical ({dc}{c}) is below warning ({dw}{w}): "
                                           f"critical must be >= warning{fix}"), []).append(metric)
            low, name, dl = (w, "warning", dw) if w is not None else (c, "critical", dc)
            if cl is not None and low is not None and cl > low:
                grouped.setdefault(("clear", f"clear ({cl}) is above {name} ({dl}{low}): clear "
                                             f"must be <= {name} (alerts resolve below it)"),
                                   []).append(metric)
        out = []
        for (field, msg), metrics in grouped.items():
            where = prefix.rstrip(".") if prefix else field
            out.append((where, msg.replace("{of}", "/".join(metrics))))
        return out

    @property
    def metric_names(self) -> list[str]:
        return list(self.metrics) if self.metrics else [self.metric]

    def tiers(self, metric: str) -> Tiers:
        """Thresholds of ``metric``: per-metric ``thresholds``, else the top-level values, else
        the defaults (PSI 0.1/0.2, KS 0.1/0.2, JS 0.1/0.2)."""
        if metric in self.thresholds:
            return self.thresholds[metric].resolved()  # type: ignore[index]
        base = DEFAULT_DRIFT_TIERS.get(metric, Tier())
        top = Tier(
            warning=self.warning if self.warning is not None else base.warning,
            critical=self.critical if self.critical is not None else base.critical,
            clear=self.clear if self.clear is not None else base.clear,
        )
        return top.resolved()

    def for_feature(self, feature: str) -> DriftConfig:
        """This config with the feature's override applied (itself when there is none)."""
        return self.with_override(self.overrides.get(feature))

    def with_override(self, override: DriftOverride | None) -> DriftConfig:
        """This config with the set fields of ``override`` (a feature's, or a reference's: only
        its ``DriftOverride`` fields count) on top; ``thresholds`` add to this config's."""
        if override is None:
            return self
        update = override.model_dump(include=set(DriftOverride.model_fields), exclude_none=True)
        if not update:
            return self
        if "thresholds" in update:
            update["thresholds"] = {**self.thresholds, **(override.thresholds or {})}
        if "metric" in update and "metrics" not in update:
            update["metrics"] = None
        return self.model_copy(update=update)


class QualityConfig(StrictModel):
    """Data-quality ratios (0-1) per window, with fixed tiers; ``overrides`` per feature."""

    enabled: bool = True
    """Quality alerts on or off (ratios are exported either way)."""
    null_ratio: Tier = Tier(warning=0.05, critical=0.25)
    """Share of events where the feature is missing or null."""
    nan_ratio: Tier = Tier(warning=0.01, critical=0.1)
    """Share of numeric values that are NaN or infinite."""
    out_of_range_ratio: Tier = Tier(warning=0.01, critical=0.1)
    """Share of numeric values outside the feature's `range`."""
    unseen_ratio: Tier = Tier(warning=0.05, critical=0.25)
    """Share of categorical values absent from the baseline vocabulary."""
    invalid_ratio: Tier = Tier(warning=0.01, critical=0.1)
    """Share of values of the wrong type (e.g. text in a numeric feature)."""
    min_samples: int = Field(default=100, ge=0)
    """Fewer events in a window = no quality verdict."""
    for_windows: int = Field(default=1, ge=1)
    """Breaching windows in a row before an alert fires."""
    clear_windows: int = Field(default=2, ge=1)
    """Calm windows in a row before a firing alert resolves."""
    overrides: dict[str, dict[str, Tier]] = {}
    """Per feature, ratio name -> tiers, e.g. {score: {null_ratio: {warning: 0.2}}}."""

    @model_validator(mode="after")
    def _check(self) -> QualityConfig:
        problems: list[tuple[str, str]] = []
        tiers = [(name, getattr(self, name)) for name in QUALITY_RATIOS]
        for feature, per in self.overrides.items():
            for name, tier in per.items():
                path = f"overrides.{feature}.{name}"
                if name not in QUALITY_RATIOS:
                    problems.append((path, f"unknown quality ratio {name!r}"
                                           f"{did_you_mean(name, QUALITY_RATIOS)}"))
                tiers.append((path, tier))
        for path, tier in tiers:
            for field in ("warning", "critical", "clear"):
                value = getattr(tier, field)
                if value is not None and value > 1:
                    problems.append((f"{path}.{field}", f"a ratio is between 0 and 1, got "
                                     f"{value} (write 5% as 0.05)"))
        raise_problems(problems)
        return self

    def tiers(self, metric: str, feature: str = "") -> Tiers | None:
        per_feature = self.overrides.get(feature, {})
        if metric in per_feature:
            return per_feature[metric].resolved()
        tier = getattr(self, metric, None)
        return tier.resolved() if isinstance(tier, Tier) else None


class VolumeConfig(StrictModel):
    """Events per window vs the baseline's rate for that cohort (``details["expected"]``).

    A ratio at or below ``drop_warning``/``drop_critical``, or at or above
    ``spike_warning``/``spike_critical``, breaches. Cohorts expecting fewer than ``min_expected``
    events per window are not judged (too noisy).
    """

    enabled: bool = True
    """Volume alerts on or off."""
    drop_warning: float | None = Field(default=0.5, ge=0, le=1)
    """Warning when the count is at or below this share of the expected count."""
    drop_critical: float | None = Field(default=0.1, ge=0, le=1)
    """Critical at or below this share of the expected count (<= drop_warning)."""
    spike_warning: float | None = Field(default=3.0, ge=1)
    """Warning at or above this multiple of the expected count."""
    spike_critical: float | None = Field(default=None, ge=1)
    """Critical at or above this multiple of the expected count (>= spike_warning)."""
    min_expected: float = Field(default=50.0, ge=0)
    """Cohorts expecting fewer events per window are not judged."""
    for_windows: int = Field(default=2, ge=1)
    """Breaching windows in a row before an alert fires."""
    clear_windows: int = Field(default=1, ge=1)
    """Calm windows in a row before a firing alert resolves."""

    @model_validator(mode="after")
    def _check(self) -> VolumeConfig:
        problems: list[tuple[str, str]] = []
        dw, dc, sw, sc = self.drop_warning, self.drop_critical, self.spike_warning, \
            self.spike_critical
        if dw is not None and dc is not None and dw < dc:
            problems.append(("drop_warning", f"drop_warning ({dw}) is below drop_critical ({dc}):"
                             " a drop warns first, so drop_warning must be >= drop_critical"))
        if sw is not None and sc is not None and sc < sw:
            problems.append(("spike_critical", f"spike_critical ({sc}) is below spike_warning "
                             f"({sw}): it must be >= spike_warning"))
        raise_problems(problems)
        return self


class FreshnessRule(StrictModel):
    """A staleness SLA on one topic, feature or cohort.

    ``{feature: user_purchase_history, max_staleness: 6h, alert_channels: [pagerduty, slack]}``,
    ``{topic: transactions, max_staleness: 5m}``, ``{cohort: "region=eu", max_staleness: 10m}``.
    ``alert_channels`` replaces the severity routing for this rule; ``on_stale`` is free-form
    guidance carried into the notification (e.g. ``{action: use_fallback_model}``).
    """

    feature: str | None = None
    """A configured feature that must keep arriving non-null."""
    topic: str | None = None
    """A source topic that must keep receiving records."""
    cohort: str | None = None
    """A cohort `segment=value` that must keep receiving events."""
    max_staleness: Duration
    """Alert when nothing arrived for this long."""
    warning_after: Duration | None = None
    """Warn earlier, after this long (shorter than max_staleness)."""
    severity: Severity = "critical"
    """Severity at max_staleness."""
    alert_channels: list[str] | None = None
    """Channels for this rule instead of the severity routes."""
    on_stale: dict[str, Any] = {}
    """Free-form guidance carried into the notification, e.g. {action: use_fallback_model}."""

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
