"""driftline.yaml: the one pydantic model that configures a monitor.

Everything that runs (``run``, ``demo``, ``backtest``, ``baseline build``, ``grafana``,
``prometheus rules``) reads this model and nothing else. A bad file fails at start with the field,
the value and what would be valid (:class:`ConfigError`).

>>> cfg = DriftlineConfig.model_validate({
...     "monitor": "fraud-model",
...     "source": {"kafka": {"bootstrap_servers": "localhost:9092", "topics": ["transactions"]}},
...     "features": [{"name": "amount", "type": "numeric", "range": [0, 50000]}],
...     "windows": {"size": "5m", "rollups": ["1h"]},
... })
>>> cfg.windows.size, cfg.windows.tiers
(300.0, ['5m', '1h'])
>>> cfg.kafka.group_id
'driftline-fraud-model'
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from alerts.config import (
    AlertsConfig,
    DriftConfig,
    FreshnessRule,
    QualityConfig,
    VolumeConfig,
)
from alerts.config_performance import PerformanceAlertConfig
from stream.config_base import ConfigError, Duration, StrictModel, format_duration
from stream.config_kafka import KafkaSettings
from stream.config_model import LabelsConfig, ModelConfig
from stream.retraining import RetrainingConfig

NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"


class EventTimeConfig(StrictModel):
    """Event time comes from ``field`` (dotted path) or, when unset, the Kafka record timestamp."""

    field: str | None = None
    """Dotted path of the event-time field; unset = the Kafka record timestamp."""
    unit: Literal["auto", "s", "ms", "iso8601"] = "auto"
    """Unit of the event-time field; auto tells seconds from milliseconds by magnitude and parses
    ISO-8601 strings.
    """


class SourceConfig(StrictModel):
    kafka: KafkaSettings | None = None
    """Kafka connection; not needed for demo, backtest and baseline build."""
    format: Literal["json"] = "json"
    """Record value format."""
    max_record_bytes: int = Field(default=1_000_000, ge=1024)
    """Larger record values go to the dead-letter topic (reason `too_large`) undecoded."""
    event_time: EventTimeConfig = EventTimeConfig()
    """Where event time comes from."""


class FeatureConfig(StrictModel):
    """One monitored feature. ``path`` is a dotted path into the event (default: ``name``)."""

    name: str = Field(pattern=NAME_PATTERN)
    """Feature name (label value in metrics and alerts)."""
    type: Literal["numeric", "categorical"]
    """numeric: quantiles, bins, moments; categorical: category counts."""
    path: str | None = None
    """Dotted path in the event, e.g. `model.score`; default: the name."""
    range: tuple[float, float] | None = None
    """Valid [low, high]; values outside count as out-of-range."""
    k: int = Field(200, ge=8, le=65535, description="KLL accuracy parameter (numeric)")
    cap: int = Field(1000, ge=1, description="exact category counts up to this many values")

    @model_validator(mode="after")
    def _check(self) -> FeatureConfig:
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"range must be [low, high] with low < high, got {list(self.range)}")
        if self.type == "categorical" and self.range is not None:
            raise ValueError("range applies to numeric features only")
        return self

    @property
    def source_path(self) -> str:
        return self.path or self.name


class WindowsConfig(StrictModel):
    size: Duration = 300.0
    """Tumbling event-time window of the base tier."""
    allowed_lateness: Duration = 60.0
    """How long after its end a window still accepts events; later ones are counted as late, never
    mixed in.
    """
    rollups: list[Duration] = []
    """Longer tiers built by merging base windows, e.g. [1h, 1d]; multiples of size."""
    idle_timeout: Duration = 30.0
    """A caught-up partition with no data for this long advances its watermark on the wall clock,
    so windows still close.
    """

    @model_validator(mode="after")
    def _check(self) -> WindowsConfig:
        if self.size <= 0:
            raise ValueError("windows.size must be positive, e.g. 5m")
        previous = self.size
        for r in self.rollups:
            if r <= previous or r % self.size != 0:
                raise ValueError(
                    f"rollup {format_duration(r)} must be a multiple of the window size "
                    f"{format_duration(self.size)} and larger than the previous tier"
                )
            previous = r
        return self

    @property
    def tiers(self) -> list[str]:
        return [format_duration(s) for s in (self.size, *self.rollups)]


class MetricsConfig(StrictModel):
    listen: str | None = "127.0.0.1:9108"
    """host:port of the Prometheus /metrics endpoint; null disables it."""

    @property
    def host_port(self) -> tuple[str, int] | None:
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host or "0.0.0.0", int(port)


class DriftlineConfig(StrictModel):
    monitor: str = Field(pattern=NAME_PATTERN)
    """Name of this monitor (label `monitor` everywhere)."""
    source: SourceConfig = SourceConfig()
    """Where events come from."""
    features: list[FeatureConfig] = Field(min_length=1)
    """The monitored features (inputs and predictions alike)."""
    segments: list[str] = []
    """Fields to slice by (e.g. region, device); each value becomes a cohort."""
    max_cohorts_per_segment: int = Field(50, ge=1, le=10_000)
    """Top-K values by traffic get their own cohort; the rest are `__other__`."""
    windows: WindowsConfig = WindowsConfig()
    """Event-time windows and rollup tiers."""
    baseline: Path | None = None
    """Baseline file from `driftline baseline build` (relative to this file)."""
    drift: DriftConfig = DriftConfig()
    """Drift rules: metrics, tiers, significance, noise control."""
    quality: QualityConfig = QualityConfig()
    """Data-quality ratio rules."""
    volume: VolumeConfig = VolumeConfig()
    """Events-per-window rules against the baseline's rate."""
    freshness: list[FreshnessRule] = []
    """Freshness SLAs per topic, feature or cohort."""
    freshness_tick: Duration = 5.0
    """How often freshness is evaluated, with or without traffic."""
    alerts: AlertsConfig = AlertsConfig()
    """Channels, routes and delivery."""
    metrics: MetricsConfig = MetricsConfig()
    """Prometheus exporter."""
    state_dir: Path | None = None
    """Local state (alert state, outbox). Default `.driftline/<monitor>`."""
    model: ModelConfig | None = None
    """The model's prediction and join key: enables model-quality monitoring."""
    labels: LabelsConfig | None = None
    """The ground truth (delayed labels) joined to the predictions by id; needs `model`."""
    performance: PerformanceAlertConfig = PerformanceAlertConfig()
    """Model-performance drop rules (material and significant drops versus the baseline)."""
    retraining: RetrainingConfig = RetrainingConfig()
    """Retraining triggers (accuracy drop over a period, feature PSI, prediction shift) and
    where their JSON events go."""

    @model_validator(mode="after")
    def _check(self) -> DriftlineConfig:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feature names must be unique; repeated: {dupes}")
        clash = sorted(set(self.segments) & set(names))
        if clash:
            raise ValueError(f"a segment field cannot also be a monitored feature: {clash}")
        if self.labels is not None and self.model is None:
            raise ValueError("labels needs model: set model.prediction and model.id")
        return self

    @property
    def kafka(self) -> KafkaSettings:
        if self.source.kafka is None:
            raise ConfigError("", ["source.kafka: required to run against Kafka"])
        k = self.source.kafka
        updates: dict[str, Any] = {}
        if k.group_id is None:
            updates["group_id"] = f"driftline-{self.monitor}"
        prefix = k.internal_topic_prefix or f"driftline.{self.monitor}"
        if k.internal_topic_prefix is None:
            updates["internal_topic_prefix"] = prefix
        if k.dlq_topic is None:
            updates["dlq_topic"] = f"{prefix}.dlq"
        if k.results_topic is None:
            updates["results_topic"] = f"{prefix}.results"
        return k.model_copy(update=updates) if updates else k

    @property
    def state_path(self) -> Path:
        return self.state_dir or Path(".driftline") / self.monitor


def _all_field_names(model: type[BaseModel] | None = None) -> set[str]:
    """Every field name of the config and its sub-models (for "did you mean" hints)."""
    names: set[str] = set()
    stack: list[type[BaseModel]] = [model or DriftlineConfig]
    while stack:
        m = stack.pop()
        for name, f in m.model_fields.items():
            names.add(name)
            for arg in (f.annotation, *typing.get_args(f.annotation)):
                for inner in (arg, *typing.get_args(arg)):
                    if isinstance(inner, type) and issubclass(inner, BaseModel):
                        stack.append(inner)
    return names


def _describe(err: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("function-after",))
    msg = str(err.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ")
    value = err.get("input")
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    if len(shown) > 80:
        shown = shown[:77] + "..."
    where = loc or "(top level)"
    if err.get("type") == "missing":
        return f"{where}: required field is missing"
    if err.get("type") == "extra_forbidden":
        name = str(loc.rsplit(".", 1)[-1])
        close = difflib.get_close_matches(name, _all_field_names(), n=1, cutoff=0.75)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{where}: unknown field ({hint}see `driftline config schema`)"
    return f"{where}: {msg} (got {shown})"


def parse_config(
    data: Any, source: str = "<config>", base_dir: Path | None = None
) -> DriftlineConfig:
    """Validate a mapping; raise :class:`ConfigError` listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError(source, ["(top level): expected a mapping of settings"])
    try:
        cfg = DriftlineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_describe(dict(e)) for e in exc.errors()]) from None
    if base_dir is not None:
        cfg = _resolve_paths(cfg, base_dir)
    return cfg


def _resolve_paths(cfg: DriftlineConfig, base: Path) -> DriftlineConfig:
    updates: dict[str, Any] = {}
    if cfg.baseline is not None and not cfg.baseline.is_absolute():
        updates["baseline"] = base / cfg.baseline
    if cfg.state_dir is not None and not cfg.state_dir.is_absolute():
        updates["state_dir"] = base / cfg.state_dir
    return cfg.model_copy(update=updates) if updates else cfg


def load_config(path: str | Path) -> DriftlineConfig:
    """Read and validate a driftline.yaml. Relative paths in it are relative to the file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), [f"not valid YAML: {exc}"]) from None
    return parse_config(data, str(p), p.parent)
