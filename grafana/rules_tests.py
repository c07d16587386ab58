"""A ``promtool test rules`` file for :func:`grafana.rules.monitor_rules`: for every alert a
case where it must fire (with its exact labels and annotations) and one where it must not.
``DriftlineNoEvaluation`` is tested for every window tier up to 6 hours (longer rollups use the
same expression with a longer range; simulating days of samples would take promtool minutes).

>>> from driftline.stream.config.model import DriftlineConfig
>>> cfg = DriftlineConfig.model_validate(
...     {"monitor": "fraud", "features": [{"name": "amount", "type": "numeric"}]})
>>> doc = rules_unit_tests(cfg, "rules.yml")
>>> doc["rule_files"], len(doc["tests"]) >= 7
(['rules.yml'], True)
"""

from __future__ import annotations

import math
import re
from typing import Any

from driftline.grafana.rules import RuleSettings, monitor_rules, no_evaluation_range
from driftline.stream.config.model import DriftlineConfig

_LABEL_REF = re.compile(r"\{\{ \$labels\.(\w+) \}\}")
MAX_TESTED_TIER = 6 * 3600.0
"""Rollup tiers longer than this get no ``DriftlineNoEvaluation`` unit test of their own."""


def _minutes(duration: str) -> int:
    units = {"s": 1 / 60, "m": 1, "h": 60, "d": 1440}
    return math.ceil(float(duration[:-1]) * units[duration[-1]])


class _Expect:
    """Expected alerts rendered from the generated rules themselves (labels + annotations)."""

    def __init__(self, rules: list[dict[str, Any]]) -> None:
        self.rules = rules

    def alert(self, name: str, labels: dict[str, str], **match: str) -> dict[str, Any]:
        rule = next(
            r for r in self.rules
            if r["alert"] == name and all(r["labels"].get(k) == v for k, v in match.items())
        )
        all_labels = {**labels, **rule["labels"]}
        annotations = {
            k: _LABEL_REF.sub(lambda m: all_labels.get(m.group(1), ""), v)
            for k, v in rule["annotations"].items()
        }
        return {"exp_labels": all_labels, "exp_annotations": annotations}


def rules_unit_tests(
    cfg: DriftlineConfig, rules_file: str, settings: RuleSettings | None = None
) -> dict[str, Any]:
    """The unit-test document; ``rules_file`` is the rules path as promtool should open it
    (relative to the test file)."""
    s = settings or RuleSettings()
    rules = monitor_rules(cfg, s)["groups"][0]["rules"]
    expect = _Expect(rules)
    mon = cfg.monitor
    inst = {"job": s.job, "instance": "worker-1:9108"}
    sel = f'job="{s.job}", instance="worker-1:9108", monitor="{mon}"'
    tests: list[dict[str, Any]] = []

    down = _minutes(s.down_for)
    tests.append({
        "name": "worker down after a scrape failure, not before",
        "interval": "1m",
        "input_series": [{"series": f'up{{job="{s.job}", instance="worker-1:9108"}}',
                          "values": f"1 1 0x{down + 4}"}],
        "alert_rule_test": [
            {"eval_time": "1m", "alertname": "DriftlineWorkerDown", "exp_alerts": []},
            {"eval_time": f"{down + 3}m", "alertname": "DriftlineWorkerDown",
             "exp_alerts": [expect.alert("DriftlineWorkerDown", dict(inst))]},
        ],
    })
    tests.append({
        "name": "worker missing from the scrape targets",
        "interval": "1m",
        "input_series": [{"series": 'up{job="something-else", instance="x:1"}',
                          "values": f"1x{down + 4}"}],
        "alert_rule_test": [
            {"eval_time": f"{down + 2}m", "alertname": "DriftlineWorkerDown",
             "exp_alerts": [expect.alert("DriftlineWorkerDown", {"job": s.job})]},
        ],
    })

    sizes = [cfg.windows.size, *cfg.windows.rollups]
    for tier, seconds in zip(cfg.windows.tiers, sizes, strict=True):
        if seconds > MAX_TESTED_TIER and tier != cfg.windows.tiers[0]:
            continue  # same expression with a longer range; days of 1m samples are too slow
        stuck = math.ceil(no_evaluation_range(cfg, seconds, s.missed_windows) / 60)
        running = stuck + 5
        tests.append({
            "name": f"{tier} windows stop being evaluated",
            "interval": "1m",
            "input_series": [{
                "series": f'driftline_window_end_timestamp_seconds{{{sel}, window="{tier}"}}',
                "values": f"0+60x{running} {60 * (running + 1)}x{stuck + 10}",
            }],
            "alert_rule_test": [
                {"eval_time": f"{running}m", "alertname": "DriftlineNoEvaluation",
                 "exp_alerts": []},
                {"eval_time": f"{running + stuck + 4}m", "alertname": "DriftlineNoEvaluation",
                 "exp_alerts": [expect.alert(
                     "DriftlineNoEvaluation", {**inst, "monitor": mon, "window": tier},
                     window=tier)]},
            ],
        })
    base = cfg.windows.tiers[0]
    never = math.ceil(no_evaluation_range(cfg, cfg.windows.size, s.missed_windows) / 60)
    tests.append({
        "name": "no window ever evaluated",
        "interval": "1m",
        "input_series": [{"series": f'up{{job="{s.job}", instance="worker-1:9108"}}',
                          "values": f"1x{never + 3}"}],
        "alert_rule_test": [
            {"eval_time": f"{max(never - 2, 0)}m", "alertname": "DriftlineNeverEvaluated",
             "exp_alerts": []},
            {"eval_time": f"{never + 2}m", "alertname": "DriftlineNeverEvaluated",
             "exp_alerts": [expect.alert("DriftlineNeverEvaluated",
                                         {"monitor": mon, "window": base})]},
        ],
    })

    lag_for = _minutes(s.lag_for)
    step = max(1, s.lag_floor // 5)
    tests.append({
        "name": "consumer lag growing vs high but stable",
        "interval": "1m",
        "input_series": [
            {"series": f'driftline_consumer_lag_records{{{sel}, topic="growing", partition="0"}}',
             "values": f"0+{step}x{3 * lag_for + 10}"},
            {"series": f'driftline_consumer_lag_records{{{sel}, topic="stable", partition="0"}}',
             "values": f"{s.lag_floor * 5}x{3 * lag_for + 10}"},
        ],
        "alert_rule_test": [
            {"eval_time": f"{3 * lag_for}m", "alertname": "DriftlineConsumerLagGrowing",
             "exp_alerts": [expect.alert("DriftlineConsumerLagGrowing",
                                         {"monitor": mon, "topic": "growing"})]},
        ],
    })

    invalid = cfg.quality.invalid_ratio.resolved()
    if invalid.warning is not None:
        shares = {"clean": invalid.warning / 2}
        upper = invalid.critical if invalid.critical is not None else 1.0
        shares["noisy"] = (invalid.warning + upper) / 2
        if invalid.critical is not None:
            shares["broken"] = min(1.0, invalid.critical * 2)
        dlq_for = _minutes(s.dlq_for) + _minutes(s.dlq_rate_window)
        per_min = 10_000
        series = []
        for topic, share in shares.items():
            series.append({"series": f'driftline_events_total{{{sel}, topic="{topic}"}}',
                           "values": f"0+{per_min}x{dlq_for + 10}"})
            series.append({
                "series": f'driftline_events_invalid_total{{{sel}, topic="{topic}", '
                          'reason="decode"}',
                "values": f"0+{round(per_min * share)}x{dlq_for + 10}",
            })
        exp = [expect.alert("DriftlineDLQRate", {"monitor": mon, "topic": "noisy"},
                            severity="warning")]
        if invalid.critical is not None:
            exp += [
                expect.alert("DriftlineDLQRate", {"monitor": mon, "topic": "broken"},
                             severity="warning"),
                expect.alert("DriftlineDLQRate", {"monitor": mon, "topic": "broken"},
                             severity="critical"),
            ]
        tests.append({
            "name": "DLQ share per tier; a clean topic stays quiet",
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [{"eval_time": f"{dlq_for + 5}m", "alertname": "DriftlineDLQRate",
                                 "exp_alerts": exp}],
        })

    fresh = f'{sel}, rule="topic:events", kind="topic", target="events"'
    stale_for = _minutes(s.staleness_for)
    tests.append({
        "name": "staleness crosses its SLA",
        "interval": "1m",
        "input_series": [
            {"series": f"driftline_staleness_seconds{{{fresh}}}",
             "values": f"0+60x{stale_for + 15}"},
            {"series": f"driftline_staleness_sla_seconds{{{fresh}}}",
             "values": f"300x{stale_for + 15}"},
        ],
        "alert_rule_test": [
            {"eval_time": "4m", "alertname": "DriftlineStalenessPastSLA", "exp_alerts": []},
            {"eval_time": f"{stale_for + 8}m", "alertname": "DriftlineStalenessPastSLA",
             "exp_alerts": [expect.alert(
                 "DriftlineStalenessPastSLA",
                 {"monitor": mon, "rule": "topic:events", "kind": "topic",
                  "target": "events"})]},
        ],
    })

    window = _minutes(s.notifications_window)
    tests.append({
        "name": "a channel failing deliveries; a healthy one is quiet",
        "interval": "1m",
        "input_series": [
            {"series": f'driftline_notifications_total{{{sel}, channel="slack", outcome="sent"}}',
             "values": f"0+1x{window + 10}"},
            {"series": f'driftline_notifications_total{{{sel}, channel="slack", '
                       'outcome="failed"}', "values": f"0x5 1x{window + 5}"},
            {"series": f'driftline_notifications_total{{{sel}, channel="pagerduty", '
                       'outcome="sent"}', "values": f"0+1x{window + 10}"},
        ],
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": "DriftlineNotificationsFailing", "exp_alerts": []},
            {"eval_time": "8m", "alertname": "DriftlineNotificationsFailing",
             "exp_alerts": [expect.alert("DriftlineNotificationsFailing",
                                         {"monitor": mon, "channel": "slack"})]},
        ],
    })
    hour = _minutes(s.baseline_window)
    tests.append({
        "name": "a rejected baseline alerts for the rejection window, then clears",
        "interval": "1m",
        "input_series": [
            {"series": f'driftline_baseline_rejected_total{{{sel}, reason="incompatible"}}',
             "values": f"0x5 1x{2 * hour}"},
            {"series": f'driftline_baseline_swaps_total{{{sel}}}', "values": f"0+1x{2 * hour}"},
        ],
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": "DriftlineBaselineRejected", "exp_alerts": []},
            {"eval_time": "8m", "alertname": "DriftlineBaselineRejected",
             "exp_alerts": [expect.alert("DriftlineBaselineRejected",
                                         {"monitor": mon, "reason": "incompatible"})]},
            {"eval_time": f"{hour + 10}m", "alertname": "DriftlineBaselineRejected",
             "exp_alerts": []},
        ],
    })
    return {"rule_files": [rules_file], "evaluation_interval": "1m", "tests": tests}
