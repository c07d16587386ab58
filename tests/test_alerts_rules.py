"""Rules and lifecycle as a user configures them: thresholds per tier and per feature,
min_samples, hysteresis, escalation and de-escalation, repeat, control charts, quality, volume,
freshness, and the config forms of driftline.yaml."""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy import stats

from driftline.alerts import (
    Alerting,
    AlertsConfig,
    DriftConfig,
    FreshnessRule,
    Measurement,
    QualityConfig,
    VolumeConfig,
    parse_duration,
)
from driftline.sketches.fdr import bh_adjust
from driftline.stream.config.contract import dashboard_uid
from driftline.stream.config.model import DriftlineConfig

REPO = Path(__file__).resolve().parents[1]

T0 = 1_790_000_000.0


def drift(i: int, psi: float, feature: str = "amount", n: int = 5000,
          p: float | None = None, status: str = "ok") -> Measurement:
    start = T0 + 300 * i
    return Measurement("fraud", "drift", "psi", feature, "all", "all", "5m", start, start + 300,
                       psi, n=n, m=100_000, p_value=p if p is not None else
                       (1e-30 if psi > 0.05 else 0.5), status=status)  # type: ignore[arg-type]


_NEXT_WINDOW: weakref.WeakKeyDictionary[Alerting, int] = weakref.WeakKeyDictionary()


def states(alerting: Alerting, values: list[Any]) -> list[str]:
    """Feed consecutive windows (numbering continues across calls on the same ``alerting``:
    a window already evaluated is ignored, as after a crash-and-republish)."""
    out = []
    first = _NEXT_WINDOW.get(alerting, 0)
    for i, v in enumerate(values):
        ms = v if isinstance(v, list) else [drift(first + i, v)]
        out += [f"{i}:{e.state}/{e.severity}" for e in alerting.observe_window(ms)]
    _NEXT_WINDOW[alerting] = first + len(values)
    return out


def test_a_window_published_twice_counts_once() -> None:
    alerting = Alerting("fraud", drift=DriftConfig(for_windows=2), deliver=False)
    assert [e.state for e in alerting.observe_window([drift(0, 0.3)])] == ["pending"]
    assert alerting.observe_window([drift(0, 0.3)]) == []  # the same window again: ignored
    assert [e.state for e in alerting.observe_window([drift(1, 0.3)])] == ["firing"]


def test_seed_config_blocks_load_as_is() -> None:
    from driftline.stream.config.model import parse_config

    cfg = parse_config({
        "monitor": "fraud-model",
        "features": [{"name": "amount", "type": "numeric"},
                     {"name": "user_purchase_history", "type": "numeric"}],
        "segments": ["region"],
        "drift": {"metric": "psi", "warning": 0.1, "critical": 0.2, "min_samples": 500,
                  "for_windows": 2},
        "freshness": [
            {"feature": "user_purchase_history", "max_staleness": "6h",
             "alert_channels": ["pagerduty", "slack"], "on_stale": {"action": "use_fallback"}},
            {"topic": "transactions", "max_staleness": "5m"},
            {"cohort": "region=eu", "max_staleness": "10m"},
        ],
        "alerts": {
            "channels": {"pagerduty": {"type": "pagerduty", "routing_key_env": "PD_ROUTING_KEY"},
                         "slack": {"type": "slack", "webhook_url_env": "SLACK_WEBHOOK_URL"}},
            "routes": {"critical": ["pagerduty", "slack"], "warning": ["slack"]},
        },
    })
    assert [r.name for r in cfg.freshness] == [
        "feature:user_purchase_history", "topic:transactions", "cohort:region=eu"]
    assert cfg.freshness[0].max_staleness == 6 * 3600
    assert cfg.drift.tiers("psi") == (0.1, 0.2, 0.05)
    assert cfg.drift.tiers("ks").warning == 0.1 and cfg.drift.tiers("js").warning == 0.1
    assert cfg.alerts.route("critical") == ["pagerduty", "slack"]


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("6h", 21600), ("1d", 86400), ("1h30m", 5400), ("250ms", 0.25),
    (45, 45), ("2w", 1209600),
])
def test_parse_duration(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["5 minutes", "m5", "", "-3", "1x"])
def test_parse_duration_rejects_nonsense(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_config_typos_and_dangling_channels_fail_with_the_field_name() -> None:
    with pytest.raises(ValueError, match="for_window"):
        DriftConfig.model_validate({"for_window": 2})
    with pytest.raises(ValueError, match="undefined channels"):
        AlertsConfig.model_validate({"channels": {}, "routes": {"critical": ["pagerduty"]}})
    with pytest.raises(ValueError, match="exactly one of feature, topic or cohort"):
        FreshnessRule.model_validate({"feature": "a", "topic": "b", "max_staleness": "5m"})
    rule = FreshnessRule.model_validate(
        {"topic": "t", "max_staleness": "5m", "alert_channels": ["pagerduty"]})
    with pytest.raises(ValueError, match="undefined channels"):
        Alerting("m", freshness=[rule], deliver=False)
    # Default routes keep only the channels that exist.
    only_slack = AlertsConfig.model_validate(
        {"channels": {"slack": {"type": "slack", "webhook_url_env": "X"}}})
    assert only_slack.route("critical") == ["slack"]


def test_too_few_events_is_insufficient_data_not_drift_nor_recovery() -> None:
    alerting = Alerting("fraud", drift=DriftConfig(min_samples=500, for_windows=1), deliver=False)
    assert states(alerting, [[drift(0, 0.9, n=100)]]) == []  # huge PSI on 100 events: no alert
    assert states(alerting, [0.3]) == ["0:firing/critical"]
    # A window with too few events neither confirms nor clears the alert.
    assert alerting.observe_window([drift(1, 0.0, n=10)]) == []
    assert alerting.observe_window([drift(2, 0.0, status="insufficient_data")]) == []
    assert alerting.firing()["critical"] == 1


def test_for_windows_hysteresis_and_clear_windows() -> None:
    alerting = Alerting("fraud", drift=DriftConfig(min_samples=100, for_windows=2,
                                                   clear_windows=3, clear=0.05),
                        deliver=False)
    # One noisy window goes pending and back, silently.
    assert states(alerting, [0.15, 0.01]) == ["0:pending/warning"]
    # Sustained: pending then firing. Between clear (0.05) and warning (0.1): still firing
    # until 3 calm windows; below clear: resolved at once.
    log = states(alerting, [0.15, 0.15, 0.08, 0.07, 0.15, 0.08, 0.07, 0.06, 0.3, 0.3, 0.02])
    assert log == ["0:pending/warning", "1:firing/warning", "7:resolved/warning",
                   "8:pending/critical", "9:firing/critical", "10:resolved/critical"]


def _outbox_config() -> tuple[AlertsConfig, dict[str, str]]:
    cfg = AlertsConfig.model_validate({
        "channels": {"pagerduty": {"type": "pagerduty", "routing_key_env": "K"},
                     "slack": {"type": "slack", "webhook_url_env": "U"}},
        "repeat_interval": "1h",
    })
    return cfg, {"K": "routing-key", "U": "http://127.0.0.1:9/hook"}


def test_escalation_deescalation_and_repeat_route_to_the_right_channels(tmp_path: Path) -> None:
    cfg, env = _outbox_config()
    alerting = Alerting("fraud", drift=DriftConfig(min_samples=100, for_windows=1,
                                                   clear_windows=2),
                        alerts=cfg, state_dir=tmp_path, environ=env)  # not started: outbox only
    log = states(alerting, [0.12, 0.3, 0.15, 0.15, 0.15] + [0.15] * 11 + [0.01])
    assert log == ["0:firing/warning", "1:firing/critical", "3:firing/warning",
                   "15:firing/warning", "16:resolved/warning"]
    rows = [(r["channel"], r["kind"]) for r in alerting.outbox()]
    assert rows == [
        ("slack", "digest"),                                      # warning
        ("pagerduty", "trigger"), ("slack", "digest"),            # escalated to critical
        ("pagerduty", "resolve"), ("slack", "digest"),            # back to warning: PD resolved
        ("slack", "digest"),                                      # repeat after 1h (12 windows)
        ("slack", "digest"),                                      # resolved
    ]
    alerting.close()


def test_per_feature_overrides() -> None:
    cfg = DriftConfig.model_validate({
        "min_samples": 100, "for_windows": 1,
        "overrides": {"score": {"warning": 0.02, "critical": 0.05}, "noisy": {"enabled": False}},
    })
    alerting = Alerting("fraud", drift=cfg, deliver=False)
    events = alerting.observe_window([drift(0, 0.06, "amount"), drift(0, 0.06, "score"),
                                      drift(0, 0.9, "noisy")])
    assert [(e.feature, e.severity, e.threshold) for e in events] == [("score", "critical", 0.05)]


def test_control_chart_learns_the_metric_history() -> None:
    cfg = DriftConfig.model_validate({
        "min_samples": 100, "for_windows": 1, "mode": "control_chart",
        "control_chart": {"method": "sigma", "k_warning": 3, "k_critical": 6, "min_history": 20},
    })
    alerting = Alerting("fraud", drift=cfg, deliver=False)
    rng = np.random.default_rng(0)
    history = 0.02 + 0.003 * rng.standard_normal(30)
    assert states(alerting, list(history)) == []
    # 0.06 is under the fixed 0.1 but far outside this metric's own history.
    events = alerting.observe_window([drift(31, 0.06)])
    assert [(e.state, e.severity) for e in events] == [("firing", "critical")]
    assert events[0].threshold is not None and events[0].threshold < 0.06


def test_quality_volume_and_freshness_rules() -> None:
    rule = FreshnessRule.model_validate(
        {"feature": "user_purchase_history", "max_staleness": "6h", "warning_after": "3h"})
    alerting = Alerting(
        "fraud", quality=QualityConfig(min_samples=100), volume=VolumeConfig(for_windows=1),
        freshness=[rule], deliver=False)
    start = T0
    q = Measurement("fraud", "quality", "null_ratio", "amount", "all", "all", "5m", start,
                    start + 300, 0.3, n=1000)
    v = Measurement("fraud", "volume", "events", "", "region", "eu", "5m", start, start + 300,
                    40.0, n=40, details={"expected": 1000.0})
    tiny = Measurement("fraud", "volume", "events", "", "region", "mt", "5m", start,
                       start + 300, 0.0, n=0, details={"expected": 3.0})
    events = alerting.observe_window([q, v, tiny])
    assert sorted((e.check, e.severity, e.cohort) for e in events) == [
        ("quality", "critical", "all"), ("volume", "critical", "eu")]
    fresh = [Measurement("fraud", "freshness", "staleness_seconds", rule.name, "all", "all", "",
                         T0 + dt, T0 + dt, staleness) for dt, staleness in
             [(0, 60.0), (10, 4 * 3600.0), (20, 7 * 3600.0), (30, 5.0)]]
    log = [f"{e.state}/{e.severity}" for m in fresh for e in alerting.observe_freshness([m])]
    assert log == ["firing/warning", "firing/critical", "resolved/critical"]


def test_a_windows_drift_tests_are_controlled_by_benjamini_hochberg() -> None:
    """Of 500 null tests and 20 real shifts in one window, exactly the ones scipy's BH rejects
    at ``drift.alpha`` can alert (the significance gate of the rules)."""
    rng = np.random.default_rng(7)
    p = np.concatenate([rng.uniform(size=500), rng.uniform(0, 1e-4, size=20)])
    reference = stats.false_discovery_control(p, method="bh") <= 0.05
    assert np.array_equal(bh_adjust(p) <= 0.05, reference) and reference.sum() >= 20


def test_grafana_links_use_the_dashboards_grafana_generates() -> None:
    from driftline.grafana.dashboards import build_dashboards

    base = yaml.safe_load((REPO / "stream" / "demo" / "data" / "demo.yaml").read_text())
    for monitor in ["fraud", "payments.demo", "a-very-long-monitor-name-that-needs-hashing"]:
        cfg = DriftlineConfig.model_validate({**base, "monitor": monitor})
        generated = {d["uid"] for d in build_dashboards(cfg).values()}
        linked = {dashboard_uid(monitor, kind) for kind in ("overview", "feature", "quality")}
        assert linked == generated
