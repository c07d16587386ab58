"""The feature drill-down: one feature (or several), sliced by segment and cohort.

Current vs baseline quantiles overlaid (baseline dashed), PSI / KS / JS over time per cohort
with the configured thresholds drawn, p-values, Wasserstein and chi-square, events per cohort
and the feature's quality ratios. Variables: ``monitor``, ``window``, ``reference`` (drift
panels: training by default; series are labelled ``vs <reference>``), ``feature``, ``segment``,
``cohort`` (multi-value, All).

>>> from driftline.stream.config.model import DriftlineConfig
>>> cfg = DriftlineConfig.model_validate(
...     {"monitor": "fraud", "features": [{"name": "amount", "type": "numeric"}]})
>>> [v.name for v in drilldown_dashboard(cfg).build().templating.list_val]
['monitor', 'window', 'reference', 'feature', 'segment', 'cohort']
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import dashboard as model

from driftline.grafana import panels
from driftline.grafana.common import (
    COHORT_LEGEND,
    REFERENCE_LEGEND,
    Board,
    Selector,
    target,
    tier_thresholds,
    variables_for,
)
from driftline.grafana.variables import dashboard_variables
from driftline.stream.config.contract import DATASOURCE_UID, dashboard_uid
from driftline.stream.config.model import DriftlineConfig


def drilldown_dashboard(cfg: DriftlineConfig, ds: str = DATASOURCE_UID) -> dash.Dashboard:
    """The per-feature, per-cohort drill-down of one monitor."""
    full = Selector("monitor", "window", "feature", "segment", "cohort")
    drift = Selector("monitor", "window", "reference", "feature", "segment", "cohort")
    cohorts = full.only("monitor", "window", "segment", "cohort")
    numeric = [f.name for f in cfg.features if f.type == "numeric"]
    categorical = [f.name for f in cfg.features if f.type == "categorical"]
    builder = (
        dash.Dashboard(f"driftline · {cfg.monitor} · feature drill-down")
        .uid(dashboard_uid(cfg.monitor, "feature"))
        .tags(["driftline", cfg.monitor])
        .description("One feature across cohorts: distribution vs baseline and drift over time.")
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .link(
            dash.DashboardLink("Overview")
            .type(model.DashboardLinkType.LINK)
            .url(f"/d/{dashboard_uid(cfg.monitor, 'overview')}")
            .include_vars(True)
            .keep_time(True)
        )
    )
    # One feature preselected (a drill-down); All for segment and cohort (compare cohorts).
    first = (numeric or [f.name for f in cfg.features])[0]
    variables_for(builder, dashboard_variables(cfg.monitor, cfg.windows.tiers[0],
                                               ("monitor", "window", "reference", "feature",
                                                "segment", "cohort"), ds=ds,
                                               defaults={"feature": first}))
    b = Board(builder)

    if numeric:
        b.row("Distribution: current vs baseline")
        b.add(panels.timeseries(
            "Quantiles: current (solid) vs baseline (dashed)",
            [target(full.expr("driftline_feature_quantile", source="current"),
                    "current p{{quantile}} · " + COHORT_LEGEND, ds=ds),
             target(full.expr("driftline_feature_quantile", source="baseline"),
                    "baseline p{{quantile}} · " + COHORT_LEGEND, "B", ds=ds)],
            description="p5/p25/p50/p75/p95 of the last closed window and of the baseline "
                        f"(numeric features: {', '.join(numeric)}).",
            dashed_regex="^baseline .*", ds=ds), 24, 10)

    b.row("Drift over time per cohort")
    for metric in ("psi", "ks", "js"):
        warn, crit, _ = cfg.drift.tiers(metric)
        b.add(panels.timeseries(
            metric.upper() if metric != "js" else "JS divergence",
            [target(drift.expr("driftline_drift_score", metric=metric), REFERENCE_LEGEND,
                    ds=ds)],
            unit="none", minimum=0, thresholds=tier_thresholds(warn, crit), ds=ds), 8, 9)
    b.add(panels.timeseries(
        "p-value",
        [target(drift.expr("driftline_drift_p_value"), "{{metric}} · " + REFERENCE_LEGEND,
                ds=ds)],
        unit="none", minimum=0,
        description=f"Benjamini–Hochberg controlled at alpha = {cfg.drift.alpha}.",
        ds=ds), 12, 8)
    shift = []
    if numeric:
        shift.append(target(drift.expr("driftline_drift_score", metric="wasserstein"),
                            "wasserstein · " + REFERENCE_LEGEND, ds=ds))
    if categorical:
        shift.append(target(drift.expr("driftline_drift_score", metric="chi2"),
                            "chi2 · " + REFERENCE_LEGEND, "B", ds=ds))
    b.add(panels.timeseries(
        "Wasserstein (numeric) / chi-square (categorical)", shift, unit="none", minimum=0,
        ds=ds), 12, 8)

    b.row("Volume and quality")
    b.add(panels.timeseries(
        "Events per cohort (last closed window)",
        [target(cohorts.expr("driftline_window_events"), "{{segment}}={{cohort}}", ds=ds)],
        unit="short", minimum=0, ds=ds), 12, 8)
    b.add(panels.timeseries(
        "Quality ratios",
        [target(full.expr("driftline_quality_ratio"), "{{kind}} · " + COHORT_LEGEND, ds=ds)],
        unit="percentunit", minimum=0, ds=ds), 12, 8)
    return builder
