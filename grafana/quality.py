"""The data quality and freshness dashboard.

Null / NaN / out-of-range / unseen-category / invalid ratios per feature and cohort (with the
configured warning and critical tiers), invalid (DLQ) and late events, volume per cohort, and
staleness of every freshness rule against its SLA.

>>> from driftline.stream.config.model import DriftlineConfig
>>> cfg = DriftlineConfig.model_validate(
...     {"monitor": "fraud", "features": [{"name": "amount", "type": "numeric"}]})
>>> quality_dashboard(cfg).build().uid
'driftline-fraud-quality'
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from driftline.grafana import panels
from driftline.grafana.common import (
    COHORT_LEGEND,
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

STALENESS_RATIO = (
    'driftline_staleness_seconds{monitor=~"$monitor"} / on (monitor, rule, kind, target) '
    'driftline_staleness_sla_seconds{monitor=~"$monitor"}'
)


def quality_dashboard(cfg: DriftlineConfig, ds: str = DATASOURCE_UID) -> dash.Dashboard:
    """Quality ratios, invalid and late events, volume and freshness of one monitor."""
    m = Selector("monitor")
    full = Selector("monitor", "window", "feature", "segment", "cohort")
    numeric = any(f.type == "numeric" for f in cfg.features)
    ranged = any(f.range is not None for f in cfg.features)
    categorical = any(f.type == "categorical" for f in cfg.features)
    q = cfg.quality
    builder = (
        dash.Dashboard(f"driftline · {cfg.monitor} · data quality and freshness")
        .uid(dashboard_uid(cfg.monitor, "quality"))
        .tags(["driftline", cfg.monitor])
        .description("Data quality ratios, invalid and late events, volume and freshness SLAs.")
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
    )
    variables_for(builder, dashboard_variables(cfg.monitor, cfg.windows.tiers[0], ds=ds))
    b = Board(builder)

    b.row("Now")
    width = 6 if cfg.freshness else 8
    b.add(panels.stat(
        "Invalid events → DLQ",
        [target(f"sum(rate({m.expr('driftline_events_invalid_total')}{RATE}))", ds=ds)],
        unit="cps", thresholds=thresholds([(None, "green"), (1, "orange")]), ds=ds), width, 4)
    b.add(panels.stat(
        "Late events",
        [target(f"sum(rate({m.expr('driftline_events_late_total')}{RATE}))", ds=ds)],
        unit="cps", description="Events older than the watermark minus the allowed lateness.",
        thresholds=thresholds([(None, "green"), (1, "orange")]), ds=ds), width, 4)
    null_tiers = q.null_ratio.resolved()
    b.add(panels.stat(
        "Worst null ratio",
        [target(f"max({full.expr('driftline_quality_ratio', kind='null')})", ds=ds)],
        unit="percentunit", thresholds=tier_thresholds(null_tiers.warning, null_tiers.critical),
        ds=ds), width, 4)
    if cfg.freshness:
        b.add(panels.stat(
            "Worst staleness (share of SLA)",
            [target(f"max({STALENESS_RATIO})", ds=ds)],
            unit="percentunit", thresholds=thresholds([(None, "green"), (0.8, "orange"),
                                                       (1.0, "red")]), ds=ds), width, 4)

    b.row("Quality ratios per feature and cohort")
    kinds: list[tuple[str, str]] = [("null", "Null ratio")]
    if numeric:
        kinds.append(("nan", "NaN / inf ratio"))
    if ranged:
        kinds.append(("out_of_range", "Out-of-range ratio"))
    if categorical:
        kinds.append(("unseen", "Unseen categories ratio"))
    kinds.append(("invalid", "Invalid values ratio"))
    for kind, title in kinds:
        tiers = q.tiers(f"{kind}_ratio")
        b.add(panels.timeseries(
            title,
            [target(full.expr("driftline_quality_ratio", kind=kind), COHORT_LEGEND, ds=ds)],
            unit="percentunit", minimum=0,
            thresholds=tier_thresholds(tiers.warning, tiers.critical) if tiers else None,
            ds=ds), 12, 8)
    b.add(panels.table(
        "Current quality ratios",
        [target(
            "topk(25, max by (feature, kind, segment, cohort) "
            f"({full.expr('driftline_quality_ratio')}))",
            instant=True, table=True, ds=ds)],
        unit="percentunit", description="The highest ratios of the last closed window.",
        ds=ds),
        24 if len(kinds) % 2 == 0 else 12, 8)

    if cfg.freshness:
        b.row("Freshness")
        b.add(panels.timeseries(
            "Staleness vs SLA",
            [target(m.expr("driftline_staleness_seconds"), "{{kind}} {{target}}", ds=ds),
             target(m.expr("driftline_staleness_sla_seconds"), "SLA {{kind}} {{target}}", "B",
                    ds=ds)],
            unit="s", dashed_regex="^SLA .*", ds=ds), 12, 8)
        b.add(panels.table(
            "Staleness as a share of the SLA",
            [target(STALENESS_RATIO, instant=True, table=True, ds=ds)],
            unit="percentunit",
            thresholds=thresholds([(None, "green"), (0.8, "orange"), (1.0, "red")]), ds=ds),
            12, 8)

    b.row("Stream")
    b.add(panels.timeseries(
        "Invalid events by reason",
        [target(
            f"sum by (topic, reason) (rate({m.expr('driftline_events_invalid_total')}{RATE}))",
            "{{topic}} {{reason}}", ds=ds)],
        unit="cps", minimum=0, ds=ds), 8, 8)
    b.add(panels.timeseries(
        "Late events",
        [target(f"sum by (topic) (rate({m.expr('driftline_events_late_total')}{RATE}))",
                "{{topic}}", ds=ds)],
        unit="cps", minimum=0, ds=ds), 8, 8)
    b.add(panels.timeseries(
        "Events per cohort (last closed window)",
        [target(full.only("monitor", "window", "segment", "cohort").expr(
            "driftline_window_events"), "{{segment}}={{cohort}}", ds=ds)],
        unit="short", minimum=0, ds=ds), 8, 8)
    return builder
