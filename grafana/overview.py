"""The overview dashboard: is anything drifting, where, and is the monitor itself healthy?

The baseline version in use, drift heatmap (feature × time, worst cohort), the top drifting
feature × cohort table (rows link to the drill-down), alerts firing, freshness against its SLA,
quality ratios, throughput, consumer lag, DLQ rate, notifications and evaluation latency.

>>> from driftline.stream.config.model import DriftlineConfig
>>> cfg = DriftlineConfig.model_validate(
...     {"monitor": "fraud", "features": [{"name": "amount", "type": "numeric"}]})
>>> d = overview_dashboard(cfg).build()
>>> d.uid, d.title
('driftline-fraud-overview', 'driftline · fraud · overview')
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from driftline.grafana import panels
from driftline.grafana.common import (
    RATE,
    Board,
    Selector,
    target,
    thresholds,
    tier_thresholds,
    variables_for,
)
from driftline.grafana.variables import dashboard_variables
from driftline.stream.config.contract import DATASOURCE_UID, dashboard_uid
from driftline.stream.config.model import DriftlineConfig


def drilldown_link(monitor: str) -> str:
    """The URL of the feature drill-down for one table row (Grafana data-link syntax)."""
    uid = dashboard_uid(monitor, "feature")
    return (
        f"/d/{uid}?var-monitor=$monitor&var-window=$window"
        "&var-feature=${__data.fields.feature}&var-segment=${__data.fields.segment}"
        "&var-cohort=${__data.fields.cohort}&${__url_time_range}"
    )


def overview_dashboard(cfg: DriftlineConfig, ds: str = DATASOURCE_UID) -> dash.Dashboard:
    """The overview of one monitor (variables: ``monitor``, ``window``)."""
    m = Selector("monitor")
    mw = Selector("monitor", "window")
    mwr = Selector("monitor", "window", "reference")
    metric = cfg.drift.metric_names[0]
    warn, crit, _ = cfg.drift.tiers(metric)
    invalid = cfg.quality.invalid_ratio.resolved()
    builder = (
        dash.Dashboard(f"driftline · {cfg.monitor} · overview")
        .uid(dashboard_uid(cfg.monitor, "overview"))
        .tags(["driftline", cfg.monitor])
        .description(f"Drift, data quality, freshness and health of the {cfg.monitor} monitor.")
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
    )
    names = ("monitor", "window", "reference")
    variables_for(builder, dashboard_variables(cfg.monitor, cfg.windows.tiers[0], names, ds))
    b = Board(builder)

    b.row("Now")
    b.add(panels.stat(
        "Critical alerts firing",
        [target(f'sum({m.expr("driftline_alerts_firing", severity="critical")})', ds=ds)],
        thresholds=thresholds([(None, "green"), (1, "red")]), ds=ds), 3, 4)
    b.add(panels.stat(
        "Warning alerts firing",
        [target(f'sum({m.expr("driftline_alerts_firing", severity="warning")})', ds=ds)],
        thresholds=thresholds([(None, "green"), (1, "orange")]), ds=ds), 3, 4)
    b.add(panels.stat(
        "Throughput",
        [target(f"sum(rate({m.expr('driftline_events_total')}{RATE}))", ds=ds)],
        unit="cps", thresholds=thresholds([(None, "blue")]), ds=ds), 3, 4)
    b.add(panels.stat(
        "Sent to DLQ",
        [target(
            f"sum(rate({m.expr('driftline_events_invalid_total')}{RATE})) / "
            f"sum(rate({m.expr('driftline_events_total')}{RATE}))", ds=ds)],
        unit="percentunit", description="Share of consumed events that were invalid (DLQ).",
        thresholds=tier_thresholds(invalid.warning, invalid.critical), ds=ds), 3, 4)
    b.add(panels.stat(
        "Consumer lag",
        [target(f"sum({m.expr('driftline_consumer_lag_records')})", ds=ds)],
        unit="short", thresholds=thresholds([(None, "green"), (10_000, "orange")]), ds=ds), 3, 4)
    b.add(panels.stat(
        "Live cohorts",
        [target(f"sum({m.expr('driftline_cohorts')})", ds=ds)],
        description="Cohorts tracked across all segments (capped per segment).",
        thresholds=thresholds([(None, "blue")]), ds=ds), 3, 4)
    b.add(panels.stat(
        "Baseline version",
        [target(f"count by (version) ({m.expr('driftline_baseline_info')})", "{{version}}",
                ds=ds)],
        description="The baseline version windows are evaluated against (two during a swap "
                    "that has not reached every worker yet).",
        thresholds=thresholds([(None, "blue")]), ds=ds, show_name=True), 6, 4)

    b.row("Drift")
    b.add(panels.heatmap(
        f"Drift by feature ({metric.upper()}, worst cohort)",
        [target(f"max by (feature) ({mwr.expr('driftline_drift_score', metric=metric)})",
                "{{feature}}", ds=ds)],
        description=f"Warning at {warn}, critical at {crit}.",
        maximum=(crit or 1.0) * 1.5, ds=ds), 24, 8)
    b.add(panels.table(
        "Top drifting feature × cohort",
        [target(
            "topk(20, max by (feature, segment, cohort, reference) "
            f"({mwr.expr('driftline_drift_score', metric=metric)}))",
            instant=True, table=True, ds=ds)],
        unit="none", thresholds=tier_thresholds(warn, crit),
        link_title="Open the feature drill-down", link_url=drilldown_link(cfg.monitor),
        ds=ds), 14, 9)
    b.add(panels.table(
        "Alerts firing",
        [target(
            "max by (check, severity, feature, segment, cohort, window, reference) "
            f"({m.expr('driftline_alert_active')})",
            instant=True, table=True, ds=ds)],
        unit="none", ds=ds), 10, 9)

    b.row("Data")
    if cfg.freshness:
        b.add(panels.timeseries(
            "Freshness vs SLA",
            [target(m.expr("driftline_staleness_seconds"), "{{kind}} {{target}}", ds=ds),
             target(m.expr("driftline_staleness_sla_seconds"), "SLA {{kind}} {{target}}", "B",
                    ds=ds)],
            unit="s", dashed_regex="^SLA .*", ds=ds), 12, 8)
    b.add(panels.timeseries(
        "Quality ratios (worst cohort)",
        [target(f"max by (feature, kind) ({mw.expr('driftline_quality_ratio')})",
                "{{feature}} {{kind}}", ds=ds)],
        unit="percentunit", minimum=0, ds=ds), 12, 8)
    b.add(panels.timeseries(
        "Throughput",
        [target(f"sum by (topic) (rate({m.expr('driftline_events_total')}{RATE}))",
                "{{topic}}", ds=ds)],
        unit="cps", minimum=0, ds=ds), 8, 8)
    b.add(panels.timeseries(
        "Consumer lag",
        [target(f"sum by (topic) ({m.expr('driftline_consumer_lag_records')})", "{{topic}}",
                ds=ds)],
        unit="short", minimum=0, ds=ds), 8, 8)
    b.add(panels.timeseries(
        "DLQ rate by reason",
        [target(
            f"sum by (reason) (rate({m.expr('driftline_events_invalid_total')}{RATE}))",
            "{{reason}}", ds=ds)],
        unit="cps", minimum=0, ds=ds), 8, 8)

    b.row("Monitor health")
    b.add(panels.timeseries(
        "Alerts firing by severity",
        [target(f"sum by (severity) ({m.expr('driftline_alerts_firing')})", "{{severity}}",
                ds=ds)],
        minimum=0, ds=ds), 8, 8)
    b.add(panels.timeseries(
        "Notifications",
        [target(
            "sum by (channel, outcome) "
            f"(increase({m.expr('driftline_notifications_total')}{RATE}))",
            "{{channel}} {{outcome}}", ds=ds)],
        minimum=0, ds=ds), 8, 8)
    b.add(panels.timeseries(
        "Window evaluation p95",
        [target(
            "histogram_quantile(0.95, sum by (le, window) "
            f"(rate({m.expr('driftline_evaluation_duration_seconds_bucket')}{RATE})))",
            "{{window}}", ds=ds)],
        unit="s", minimum=0, ds=ds), 8, 8)
    return builder
