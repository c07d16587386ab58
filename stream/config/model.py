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

from pydantic import BaseModel, Field, ValidationError, model_validator

from driftline.stream.config.alerts import (
    AlertsConfig,
    ConfigProblems,
    DriftConfig,
    FreshnessRule,
    QualityConfig,
    VolumeConfig,
)
from driftline.stream.config.baseline import BaselineReloadConfig
from driftline.stream.config.cohorts import CohortsConfig
from driftline.stream.config.formats import ProtobufConfig, SchemaRegistryConfig
from driftline.stream.config.kafka import KafkaSettings
from driftline.stream.config.labels import LabelsConfig, ModelConfig
from driftline.stream.config.performance import PerformanceAlertConfig
from driftline.stream.config.references import CompareConfig, ReferencesConfig, reference_problems
from driftline.stream.config.retraining import RetrainingConfig
from driftline.stream.config.semantics import name_problems
from driftline.stream.config.types import (
    ConfigError,
    Duration,
    StrictModel,
    did_you_mean,
    format_duration,
)
from driftline.stream.config.yamlfile import read_yaml_file

NAME_PATTERN = r"^[A-Za-z0-9_.\-]+$"


class EventTimeConfig(StrictModel):
    """Event time comes from ``field`` (dotted path) or, when unset, the Kafka record timestamp."""

    field: str | None = None
    """Dotted path of the event-time field; unset = the Kafka record timestamp."""
    unit: Literal["auto", "s", "ms", "iso8601"] = "auto"
    """Unit of the event-time field; auto tells seconds from milliseconds by magnitude and parses
    ISO-8601 strings.
    """
    max_future_skew: Duration | None = 86400.0
    """An event time more than this after the wall clock is implausible: dead-lettered as
    `implausible_event_time`, it never moves the watermark; null: no bound (years 1-9999 still
    apply).
    """
    max_past_age: Duration | None = 2592000.0
    """An event time more than this before the latest event time accepted on its partition is
    implausible (dead-lettered, not counted late); null: no bound.
    """


class SourceConfig(StrictModel):
    kafka: KafkaSettings | None = None
    """Kafka connection; not needed for demo, backtest and baseline build."""
    format: Literal["json", "avro", "protobuf"] = "json"
    """Record value format: json (one object per record), avro (Confluent wire format with
    `schema_registry`, or bare Avro bodies with `avro_schema`), protobuf (see `protobuf`).
    """
    schema_registry: SchemaRegistryConfig | None = None
    """Confluent-compatible schema registry for records in the Confluent wire format."""
    avro_schema: Path | None = None
    """Avro schema file (.avsc) of records written without the wire format (no registry)."""
    protobuf: ProtobufConfig | None = None
    """Descriptor set and message type of Protobuf records (format protobuf)."""
    max_record_bytes: int = Field(default=1_000_000, ge=1024)
    """Larger record values go to the dead-letter topic (reason `too_large`) undecoded."""
    event_time: EventTimeConfig = EventTimeConfig()
    """Where event time comes from."""

    @model_validator(mode="after")
    def _check_format(self) -> SourceConfig:
        if self.format == "avro" and (self.schema_registry is None) == (self.avro_schema is None):
            raise ValueError("format avro needs exactly one of schema_registry (records in the "
                             "Confluent wire format) or avro_schema (an .avsc file)")
        if self.format == "protobuf" and self.protobuf is None:
            raise ValueError("format protobuf needs protobuf: {descriptor_file, message}")
        if self.format == "json" and (self.schema_registry or self.avro_schema or self.protobuf):
            raise ValueError("schema_registry, avro_schema and protobuf need format avro or "
                             "protobuf")
        if self.avro_schema is not None and self.format != "avro":
            raise ValueError("avro_schema needs format avro")
        if self.protobuf is not None and self.format != "protobuf":
            raise ValueError("protobuf needs format protobuf")
        return self


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
        whole = [(f, v) for f, v in (("size", self.size), *(
            (f"rollups.{i}", r) for i, r in enumerate(self.rollups))) if v != int(v)]
        if whole:
            raise ConfigProblems([(f, f"window tiers are whole seconds, got {v}s; use e.g. 30s, "
                                      "5m") for f, v in whole])
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


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` -> (host, port); an empty host is every interface, ``[::1]:9108`` IPv6.

    >>> parse_listen("127.0.0.1:9108"), parse_listen(":9108"), parse_listen("[::1]:9108")
    (('127.0.0.1', 9108), ('0.0.0.0', 9108), ('::1', 9108))
    """
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected host:port, e.g. 127.0.0.1:9108 or 0.0.0.0:9108, got {value!r}")
    if int(port) > 65535:
        raise ValueError(f"port {int(port)} is not a TCP port (0-65535)")
    host = host.strip("[]")
    return host or "0.0.0.0", int(port)


class MetricsConfig(StrictModel):
    listen: str | None = "127.0.0.1:9108"
    """host:port of the Prometheus /metrics endpoint (port 0 = any free port); null disables
    it.
    """

    @model_validator(mode="after")
    def _check(self) -> MetricsConfig:
        if self.listen:
            try:
                parse_listen(self.listen)
            except ValueError as exc:
                raise ConfigProblems([("listen", str(exc))]) from None
        return self

    @property
    def host_port(self) -> tuple[str, int] | None:
        return parse_listen(self.listen) if self.listen else None


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
    cohorts: CohortsConfig = CohortsConfig()
    """Cohort admission: sustained traffic needed, idle cohorts age out."""
    windows: WindowsConfig = WindowsConfig()
    """Event-time windows and rollup tiers."""
    baseline: Path | None = None
    """Baseline file from `driftline baseline build` (relative to this file)."""
    baseline_reload: BaselineReloadConfig = BaselineReloadConfig()
    """Swapping the baseline in a running worker: how often its location is checked, or an
    http(s) URL to fetch it from instead of the file."""
    drift: DriftConfig = DriftConfig()
    """Drift rules: metrics, tiers, significance, noise control."""
    quality: QualityConfig = QualityConfig()
    """Data-quality ratio rules."""
    volume: VolumeConfig = VolumeConfig()
    """Events-per-window rules against the baseline's rate."""
    freshness: list[FreshnessRule] = []
    """Freshness SLAs per topic, feature or cohort."""
    freshness_tick: Duration = Field(default=5.0, gt=0)
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
    references: ReferencesConfig = ReferencesConfig()
    """More references than the training baseline: trailing windows and one period ago."""
    compare: CompareConfig | None = None
    """Live reference cohort: every other cohort of `segment` against the cohort `reference`
    in the same window (canary or shadow deployments)."""

    @model_validator(mode="after")
    def _check(self) -> DriftlineConfig:
        names = [f.name for f in self.features]
        problems: list[tuple[str, str]] = []
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(("features", f"feature names must be unique; repeated: {dupes}"))
        repeated = sorted({s for s in self.segments if self.segments.count(s) > 1})
        if repeated:
            problems.append(("segments", f"segments must be unique; repeated: {repeated}"))
        clash = sorted(set(self.segments) & set(names))
        if clash:
            problems.append(("segments", "a segment field cannot also be a monitored feature: "
                                         f"{clash}"))
        if self.labels is not None and self.model is None:
            problems.append(("labels", "labels needs model: set model.prediction and model.id"))
        if self.baseline is not None and self.baseline_reload.url is not None:
            problems.append(("baseline_reload.url", "set either `baseline` (a file) or "
                                                    "`baseline_reload.url`, not both"))
        problems += name_problems(self)
        problems += reference_problems(self)
        if problems:
            raise ConfigProblems(problems)
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

    @property
    def prediction_model(self) -> ModelConfig:
        """The ``model:`` section, for the model-quality code that only runs when it is set."""
        if self.model is None:
            raise ValueError("model quality needs the model: section (prediction, id)")
        return self.model

    @property
    def label_source(self) -> LabelsConfig:
        """The ``labels:`` section, for the code that joins labels."""
        if self.labels is None:
            raise ValueError("the label join needs the labels: section (id, label)")
        return self.labels


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


_BOUNDS = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"),
           "less_than": ("<", "lt"), "less_than_equal": ("<=", "le")}


def _describe(err: Mapping[str, Any]) -> list[str]:
    """One line per problem of a pydantic error: field path, what is wrong, the value."""
    parts = [str(p) for p in err.get("loc", ()) if p not in ("function-after", "[key]")]
    loc = ".".join(parts)
    msg = str(err.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ")
    value = err.get("input")
    where = loc or "(top level)"
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, ConfigProblems):
        return [f"{'.'.join(p for p in (loc, rel) if p) or '(top level)'}: {m}"
                for rel, m in cause.problems]
    if err.get("type") == "missing":
        return [f"{where}: required field is missing"]
    if err.get("type") == "extra_forbidden":
        name = str(loc.rsplit(".", 1)[-1])
        close = difflib.get_close_matches(name, _all_field_names(), n=1, cutoff=0.75)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return [f"{where}: unknown field ({hint}see `driftline config schema`)"]
    if err.get("type") == "literal_error" and isinstance(value, str):
        expected = [e.strip(" '") for e in str(err["ctx"]["expected"]).replace(" or ", ",")
                    .split(",") if e.strip(" '")]
        return [f"{where}: unknown value {value!r}{did_you_mean(value, expected)}"]
    bound = _BOUNDS.get(str(err.get("type")))
    if bound is not None:
        limit = (err.get("ctx") or {}).get(bound[1])
        msg = f"must be {bound[0]} {limit:g}" if isinstance(limit, int | float) else msg
    if isinstance(value, dict | list):
        return [f"{where}: {msg}"]
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return [f"{where}: {msg} (got {shown})"]


def parse_config(
    data: Any, source: str = "<config>", base_dir: Path | None = None
) -> DriftlineConfig:
    """Validate a mapping; raise :class:`ConfigError` listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError(source, ["(top level): expected a mapping of settings"])
    try:
        cfg = DriftlineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [line for e in exc.errors() for line in _describe(dict(e))]
                          ) from None
    if base_dir is not None:
        cfg = _resolve_paths(cfg, base_dir)
    return cfg


def _resolve_paths(cfg: DriftlineConfig, base: Path) -> DriftlineConfig:
    updates: dict[str, Any] = {}
    if cfg.baseline is not None and not cfg.baseline.is_absolute():
        updates["baseline"] = base / cfg.baseline
    if cfg.state_dir is not None and not cfg.state_dir.is_absolute():
        updates["state_dir"] = base / cfg.state_dir
    src = cfg.source
    if src.avro_schema is not None and not src.avro_schema.is_absolute():
        src = src.model_copy(update={"avro_schema": base / src.avro_schema})
    if src.protobuf is not None and not src.protobuf.descriptor_file.is_absolute():
        pb = src.protobuf.model_copy(
            update={"descriptor_file": base / src.protobuf.descriptor_file})
        src = src.model_copy(update={"protobuf": pb})
    if src is not cfg.source:
        updates["source"] = src
    return cfg.model_copy(update=updates) if updates else cfg


def load_config(path: str | Path) -> DriftlineConfig:
    """Read and validate a driftline.yaml. Relative paths in it are relative to the file."""
    p = Path(path)
    return parse_config(read_yaml_file(p), str(p), p.parent)
