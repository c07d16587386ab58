"""The model quality dashboard (monitors with ``model:`` in the config).

Realized and estimated performance per cohort against the baseline's reference, label coverage
and lag, and the label join's outcomes, with the ``monitor``, ``window``, ``segment`` and
``cohort`` variables of the other dashboards.

>>> from driftline.stream.config.model import DriftlineConfig
>>> cfg = DriftlineConfig.model_validate(
...     {"monitor": "loans", "features": [{"name": "x", "type": "numeric"}],
...      "model": {"prediction": "score", "id": "id"}})
>>> model_quality_dashboard(cfg).build().uid
'driftline-loans-model-quality'
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash

from driftline.grafana import panels
from driftline.grafana.common import RATE, Board, Selector, target, thresholds, variables_for
from driftline.grafana.variables import dashboard_variables
from driftline.stream.config.contract import DATASOURCE_UID, dashboard_uid
from driftline.stream.config.model import DriftlineConfig

PERF = "driftline_model_performance"
REF = "driftline_model_performance_reference"


def model_quality_dashboard(cfg: DriftlineConfig, ds: str = DATASOURCE_UID) -> dash.Dashboard:
    """Realized vs estimated performance, coverage, lag and join outcomes of one monitor."""
    m = Selector("monitor")
    full = Selector("monitor", "window", "segment", "cohort")
    ref = Selector("monitor", "segment", "cohort")
    binary = cfg.model is None or cfg.model.task == "binary_classification"
    metrics = ["accuracy", "roc_auc", "f1"] if binary else ["mae", "rmse", "bias"]
    builder = (
        dash.Dashboard(f"driftline · {cfg.monitor} · model quality")
        .uid(dashboard_uid(cfg.monitor, "model-quality"))
        .tags(["driftline", cfg.monitor])
        .description("Realized performance from delayed labels, estimated performance before "
                     "them, label coverage, lag and join outcomes.")
        .time("now-7d", "now")
        .refresh("1m")
        .timezone("browser")
    )
    names = ("monitor", "window", "segment", "cohort")
    variables_for(builder, dashboard_variables(cfg.monitor, cfg.windows.tiers[0], names, ds=ds))
    b = Board(builder)

    b.row("Now (whole population)")
    for kind in ("realized", "estimated"):
        expr = full.only("monitor", "window").expr(PERF, kind=kind, metric=metrics[0],
                                                   segment="all", cohort="all")
        b.add(panels.stat(f"{kind.capitalize()} {metrics[0]}", [target(expr, ds=ds)],
                          unit="percentunit" if binary else "short", ds=ds), 6, 4)
    b.add(panels.stat(
        "Label coverage",
        [target(full.only("monitor", "window").expr("driftline_label_coverage", segment="all",
                                                    cohort="all"), ds=ds)],
        unit="percentunit", description="Labelled share of the newest matured window.",
        thresholds=thresholds([(None, "orange"), (0.5, "green")]), ds=ds), 6, 4)
    b.add(panels.stat(
        "Predictions waiting for a label",
        [target(m.expr("driftline_label_pending", state="predictions"), ds=ds)],
        unit="short", ds=ds), 6, 4)

    b.row("Performance per cohort: realized, estimated, baseline")
    for metric in metrics:
        b.add(panels.timeseries(
            metric,
            [target(full.expr(PERF, metric=metric), "{{segment}}={{cohort}} {{kind}}", ds=ds),
             target(ref.expr(REF, metric=metric), "baseline {{segment}}={{cohort}}", "B",
                    ds=ds)],
            unit="percentunit" if binary and metric != "bias" else "short",
            dashed_regex="^baseline .*", ds=ds), 12 if len(metrics) % 2 == 0 else 8, 8)
    b.add(panels.timeseries(
        "Label coverage per cohort",
        [target(full.expr("driftline_label_coverage"), "{{segment}}={{cohort}}", ds=ds)],
        unit="percentunit", minimum=0, ds=ds), 12, 8)
    b.add(panels.table(
        "Estimated minus realized (newest windows)",
        [target(f"{full.expr(PERF, kind='estimated')} - ignoring(kind) "
                f"{full.expr(PERF, kind='realized')}", instant=True, table=True, ds=ds)],
        description="Large gaps under labels mean concept drift (P(y|x) changed): the "
                    "estimate assumes covariate shift only.", ds=ds), 12, 8)

    b.row("Labels")
    b.add(panels.timeseries(
        "Label join outcomes",
        [target(f"sum by (outcome) (rate({m.expr('driftline_labels_total')}{RATE}))",
                "{{outcome}}", ds=ds)],
        unit="cps", minimum=0, ds=ds), 8, 8)
    b.add(panels.timeseries(
        "Label lag (p50, p95)",
        [target(f"histogram_quantile(0.5, sum by (le) (rate("
                f"{m.expr('driftline_label_lag_seconds_bucket')}{RATE})))", "p50", ds=ds),
         target(f"histogram_quantile(0.95, sum by (le) (rate("
                f"{m.expr('driftline_label_lag_seconds_bucket')}{RATE})))", "p95", "B",
                ds=ds)],
        unit="s", minimum=0, ds=ds), 8, 8)
    b.add(panels.timeseries(
        "Join state",
        [target(m.expr("driftline_label_pending"), "{{state}}", ds=ds)],
        unit="short", minimum=0, ds=ds), 8, 8)
    return builder
