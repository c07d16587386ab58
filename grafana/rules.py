"""Prometheus alerting rules about the monitor itself (not about the data: driftline alerts on
drift, quality and freshness on its own). They catch what driftline cannot report about itself:

- ``DriftlineWorkerDown``: the scrape target is down or missing.
- ``DriftlineNoEvaluation``: no window of a tier was evaluated for N window lengths (stuck
  watermark, stalled consumer, crashed evaluation loop); ``DriftlineNeverEvaluated`` when no
  window was ever evaluated.
- ``DriftlineConsumerLagGrowing``: consumer lag above a floor and still growing.
- ``DriftlineDLQRate``: share of invalid events (sent to the DLQ) above the configured
  ``quality.invalid_ratio`` tiers.
- ``DriftlineStalenessPastSLA``: a freshness rule's staleness beyond its SLA (a backstop for
  driftline's own freshness alert).
- ``DriftlineNotificationsFailing``: alert deliveries failed or were dropped.
- ``DriftlineBaselineRejected``: a new baseline at the baseline location was rejected (the
  worker keeps evaluating against the previous one).

>>> from driftline.stream.config.model import DriftlineConfig
>>> cfg = DriftlineConfig.model_validate(
...     {"monitor": "fraud", "features": [{"name": "amount", "type": "numeric"}]})
>>> sorted({r["alert"] for r in monitor_rules(cfg)["groups"][0]["rules"]})[:3]
['DriftlineBaselineRejected', 'DriftlineConsumerLagGrowing', 'DriftlineDLQRate']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from driftline.stream.config.contract import dashboard_uid
from driftline.stream.config.model import DriftlineConfig, format_duration


@dataclass(frozen=True)
class RuleSettings:
    """Knobs of the generated rules (defaults suit a 5-minute window)."""

    job: str = "driftline"
    missed_windows: int = 3
    down_for: str = "1m"
    lag_floor: int = 1000
    lag_for: str = "10m"
    dlq_rate_window: str = "5m"
    dlq_for: str = "5m"
    staleness_for: str = "1m"
    notifications_window: str = "15m"
    baseline_window: str = "1h"


def prom_duration(seconds: float) -> str:
    """Seconds as a Prometheus duration (``900`` → ``15m``)."""
    return format_duration(seconds)


def _links(cfg: DriftlineConfig, kind: str) -> dict[str, str]:
    if not cfg.alerts.grafana_url:
        return {}
    base = cfg.alerts.grafana_url.rstrip("/")
    return {"dashboard": f"{base}/d/{dashboard_uid(cfg.monitor, kind)}"}


def no_evaluation_range(cfg: DriftlineConfig, tier_seconds: float, missed: int) -> float:
    """Wall time after which a tier that closes a window every ``tier_seconds`` is stuck."""
    return missed * tier_seconds + cfg.windows.allowed_lateness + cfg.windows.idle_timeout


def monitor_rules(cfg: DriftlineConfig, settings: RuleSettings | None = None) -> dict[str, Any]:
    """The rules file (as a dict) for ``cfg``'s monitor."""
    s = settings or RuleSettings()
    mon = f'monitor="{cfg.monitor}"'
    up = f'up{{job="{s.job}"}}'
    base_labels = {"monitor": cfg.monitor}
    rules: list[dict[str, Any]] = [
        {
            "alert": "DriftlineWorkerDown",
            "expr": f"{up} == 0 or absent({up})",
            "for": s.down_for,
            "labels": {**base_labels, "severity": "critical"},
            "annotations": {
                "summary": f"driftline worker of {cfg.monitor} is down or not scraped",
                "description": "Prometheus cannot scrape job "
                f"{s.job} ({{{{ $labels.instance }}}}): no drift, quality or freshness "
                "checks are running.",
                **_links(cfg, "overview"),
            },
        }
    ]
    sizes = [cfg.windows.size, *cfg.windows.rollups]
    for tier, seconds in zip(cfg.windows.tiers, sizes, strict=True):
        window_range = prom_duration(no_evaluation_range(cfg, seconds, s.missed_windows))
        series = f'driftline_window_end_timestamp_seconds{{{mon}, window="{tier}"}}'
        rules.append({
            "alert": "DriftlineNoEvaluation",
            "expr": f"changes({series}[{window_range}]) == 0 "
                    f"and on (monitor, window) ({series} offset {window_range})",
            "for": "1m",
            "labels": {**base_labels, "severity": "critical", "window": tier},
            "annotations": {
                "summary": f"{cfg.monitor}: no {tier} window evaluated for {window_range}",
                "description": f"No {tier} window of {cfg.monitor} was closed and evaluated "
                f"for {s.missed_windows} window lengths: the watermark or the consumer is "
                "stuck, so drift goes unseen.",
                **_links(cfg, "overview"),
            },
        })
    base_tier = cfg.windows.tiers[0]
    base_series = f'driftline_window_end_timestamp_seconds{{{mon}, window="{base_tier}"}}'
    never = prom_duration(no_evaluation_range(cfg, cfg.windows.size, s.missed_windows))
    rules.append({
        "alert": "DriftlineNeverEvaluated",
        "expr": f"absent({base_series})",
        "for": never,
        "labels": {**base_labels, "severity": "warning"},
        "annotations": {
            "summary": f"{cfg.monitor}: no window has ever been evaluated",
            "description": f"driftline has exported no evaluated {cfg.windows.tiers[0]} window "
            f"for {never}: no events arrive, or the worker cannot evaluate them.",
            **_links(cfg, "overview"),
        },
    })
    lag = f"driftline_consumer_lag_records{{{mon}}}"
    rules.append({
        "alert": "DriftlineConsumerLagGrowing",
        "expr": f"sum by (monitor, topic) ({lag}) > {s.lag_floor} "
                f"and sum by (monitor, topic) (deriv({lag}[{s.lag_for}])) > 0",
        "for": s.lag_for,
        "labels": {**base_labels, "severity": "warning"},
        "annotations": {
            "summary": f"{cfg.monitor}: consumer lag on {{{{ $labels.topic }}}} keeps growing",
            "description": f"Lag above {s.lag_floor} records and rising for {s.lag_for}: "
            "driftline cannot keep up; windows close late and alerts come late.",
            **_links(cfg, "overview"),
        },
    })
    invalid = cfg.quality.invalid_ratio.resolved()
    ratio = (
        f"sum by (monitor, topic) (rate(driftline_events_invalid_total{{{mon}}}"
        f"[{s.dlq_rate_window}])) / sum by (monitor, topic) "
        f"(rate(driftline_events_total{{{mon}}}[{s.dlq_rate_window}]))"
    )
    for severity, threshold in (("warning", invalid.warning), ("critical", invalid.critical)):
        if threshold is None:
            continue
        rules.append({
            "alert": "DriftlineDLQRate",
            "expr": f"{ratio} > {threshold:g}",
            "for": s.dlq_for,
            "labels": {**base_labels, "severity": severity},
            "annotations": {
                "summary": f"{cfg.monitor}: over {threshold:.0%} of events on "
                "{{ $labels.topic }} are invalid",
                "description": "Invalid events go to the dead-letter topic with a reason; "
                "see the DLQ panel by reason.",
                **_links(cfg, "quality"),
            },
        })
    rules.append({
        "alert": "DriftlineStalenessPastSLA",
        "expr": f"driftline_staleness_seconds{{{mon}}} > on (monitor, rule, kind, target) "
                f"driftline_staleness_sla_seconds{{{mon}}}",
        "for": s.staleness_for,
        "labels": {**base_labels, "severity": "warning"},
        "annotations": {
            "summary": f"{cfg.monitor}: {{{{ $labels.kind }}}} {{{{ $labels.target }}}} is "
            "staler than its SLA",
            "description": "Backstop of driftline's own freshness alert (rule "
            "{{ $labels.rule }}): check the producer or feature pipeline.",
            **_links(cfg, "quality"),
        },
    })
    rules.append({
        "alert": "DriftlineNotificationsFailing",
        "expr": "sum by (monitor, channel) (increase(driftline_notifications_total"
                f'{{{mon}, outcome=~"failed|dropped"}}[{s.notifications_window}])) > 0',
        "for": "0m",
        "labels": {**base_labels, "severity": "critical"},
        "annotations": {
            "summary": f"{cfg.monitor}: alert notifications to {{{{ $labels.channel }}}} fail",
            "description": "driftline could not deliver alerts through this channel (failed "
            "after retries, or dropped): on-call may be missing drift alerts.",
            **_links(cfg, "overview"),
        },
    })
    rules.append({
        "alert": "DriftlineBaselineRejected",
        "expr": "sum by (monitor, reason) (increase(driftline_baseline_rejected_total"
                f"{{{mon}}}[{s.baseline_window}])) > 0",
        "for": "0m",
        "labels": {**base_labels, "severity": "warning"},
        "annotations": {
            "summary": f"{cfg.monitor}: a new baseline was rejected ({{{{ $labels.reason }}}})",
            "description": "The worker keeps evaluating against the previous baseline; its "
            "log says why the new one was not used (unreachable, unreadable, incompatible).",
            **_links(cfg, "overview"),
        },
    })
    return {"groups": [{"name": f"driftline-{cfg.monitor}", "rules": rules}]}


def render_yaml(data: dict[str, Any], header: str = "") -> str:
    """Stable YAML text of a rules or rules-test file."""
    body = yaml.safe_dump(data, sort_keys=False, width=100, allow_unicode=True)
    return (header + body) if header else body
