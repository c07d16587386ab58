"""Cross-field checks of driftline.yaml: every name the config uses must exist.

Overrides and freshness rules name features, segments, topics and channels defined elsewhere in
the file; a name that does not exist would silently check nothing. Run by the config model's
own validator, so ``check-config``, ``run``, ``backtest`` and the demo all reject the same files.

>>> from driftline.stream.config.model import parse_config
>>> try:
...     parse_config({"monitor": "m", "features": [{"name": "amount", "type": "numeric"}],
...                   "drift": {"overrides": {"amount_usd": {"metric": "ks"}}}})
... except ValueError as exc:
...     print(*exc.problems)
drift.overrides.amount_usd: no feature named 'amount_usd' (did you mean 'amount'?)
"""

from __future__ import annotations

from typing import Any

from driftline.sketches.drift import CATEGORICAL_METRICS, NUMERIC_METRICS
from driftline.stream.config.alerts import DRIFT_METRICS
from driftline.stream.config.types import did_you_mean

APPLICABLE = {"numeric": NUMERIC_METRICS, "categorical": CATEGORICAL_METRICS}
"""The drift metrics computed for each feature type (see docs/statistics.md)."""

assert set(APPLICABLE["numeric"]) | set(APPLICABLE["categorical"]) == set(DRIFT_METRICS)


RATIO_TYPES = {"nan_ratio": ("numeric",), "out_of_range_ratio": ("numeric",),
               "unseen_ratio": ("categorical",)}
"""Quality ratios that only one feature type has (the others apply to both)."""


def _missing(kind: str, name: str, known: list[str]) -> str:
    return f"no {kind} named {name!r}{did_you_mean(name, known)}"


def name_problems(cfg: Any) -> list[tuple[str, str]]:
    """(field path, message) for every name that points at nothing."""
    features = {f.name: f.type for f in cfg.features}
    names = list(features)
    out: list[tuple[str, str]] = []
    for feature, override in cfg.drift.overrides.items():
        path = f"drift.overrides.{feature}"
        if feature not in features:
            out.append((path, _missing("feature", feature, names)))
            continue
        eff = cfg.drift.for_feature(feature)
        usable = APPLICABLE[features[feature]]
        if eff.enabled and override.enabled is not False and not any(
                m in usable for m in eff.metric_names):
            field = "metrics" if override.metrics else "metric"
            out.append((f"{path}.{field}", f"{'/'.join(eff.metric_names)} does not apply to "
                        f"{features[feature]} feature {feature!r}; use one of "
                        f"{', '.join(usable)}"))
    for feature, ratios in cfg.quality.overrides.items():
        if feature not in features:
            out.append((f"quality.overrides.{feature}", _missing("feature", feature, names)))
            continue
        kind = features[feature]
        for ratio in ratios:
            if kind not in RATIO_TYPES.get(ratio, (kind,)):
                out.append((f"quality.overrides.{feature}.{ratio}", f"{ratio} is always 0 for "
                            f"{kind} feature {feature!r} (it applies to "
                            f"{RATIO_TYPES[ratio][0]} features); remove it"))
            elif ratio == "out_of_range_ratio" and next(
                    f for f in cfg.features if f.name == feature).range is None:
                out.append((f"quality.overrides.{feature}.{ratio}", f"feature {feature!r} has no "
                            "range, so nothing is out of range; set its range or remove this"))
    topics = list(cfg.source.kafka.topics) if cfg.source.kafka is not None else None
    channels = sorted(cfg.alerts.channels)
    for i, rule in enumerate(cfg.freshness):
        path = f"freshness.{i}"
        if rule.feature is not None and rule.feature not in features:
            out.append((f"{path}.feature", _missing("feature", rule.feature, names)))
        if rule.cohort is not None:
            segment = rule.cohort.split("=", 1)[0]
            if segment not in cfg.segments:
                out.append((f"{path}.cohort", f"{segment!r} is not one of the segments "
                            f"{list(cfg.segments)}{did_you_mean(segment, list(cfg.segments))}"))
        if rule.topic is not None and topics is not None and rule.topic not in topics:
            out.append((f"{path}.topic", f"{rule.topic!r} is not a source topic "
                        f"(source.kafka.topics: {topics}){did_you_mean(rule.topic, topics)}"))
        for name in rule.alert_channels or ():
            if name not in channels:
                out.append((f"{path}.alert_channels", f"no channel named {name!r} in "
                            f"alerts.channels{did_you_mean(name, channels)}"))
    return out


def metric_warnings(cfg: Any) -> list[str]:
    """Feature types for which no configured drift metric is computed (their drift never
    alerts unless an override names a metric that applies): worth a warning, not an error."""
    if not cfg.drift.enabled:
        return []
    out = []
    for kind, usable in APPLICABLE.items():
        orphans = [f.name for f in cfg.features if f.type == kind
                   and f.name not in cfg.drift.overrides]
        metrics = cfg.drift.metric_names
        if orphans and not any(m in usable for m in metrics):
            out.append(f"drift.metric: {'/'.join(metrics)} is not computed for {kind} features "
                       f"{orphans}: their drift never alerts (add one of {', '.join(usable)} to "
                       "drift.metrics, or an override)")
    return out
