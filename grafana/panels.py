"""Panel factories with driftline's defaults (units, legends, thresholds) over the SDK builders.

>>> from driftline.grafana.common import target
>>> p = timeseries("Events", [target("sum(driftline_window_events)")], unit="short").build()
>>> p.type_val, p.field_config.defaults.unit
('timeseries', 'short')
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import heatmap as heatmap_b
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import table as table_b
from grafana_foundation_sdk.builders import timeseries as ts_b
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import heatmap as heatmap_m

from driftline.grafana.common import DATASOURCE_UID, datasource


def timeseries(
    title: str,
    targets: Sequence[prom.Dataquery],
    *,
    unit: str = "short",
    description: str = "",
    thresholds: dash.ThresholdsConfig | None = None,
    dashed_regex: str | None = None,
    minimum: float | None = None,
    ds: str = DATASOURCE_UID,
) -> ts_b.Panel:
    """A time series panel; ``thresholds`` are drawn as dashed lines; series whose name matches
    ``dashed_regex`` are drawn dashed (e.g. the baseline beside the current distribution)."""
    panel = (
        ts_b.Panel()
        .title(title)
        .datasource(datasource(ds))
        .targets(list(targets))
        .unit(unit)
        .line_width(1)
        .fill_opacity(0)
        .legend(
            common_b.VizLegendOptions()
            .display_mode(common_m.LegendDisplayMode.TABLE)
            .placement(common_m.LegendPlacement.RIGHT)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
            .sort_by("Last *")
            .sort_desc(True)
        )
        .tooltip(common_b.VizTooltipOptions().mode(common_m.TooltipDisplayMode.MULTI))
    )
    if description:
        panel = panel.description(description)
    if minimum is not None:
        panel = panel.min(minimum)
    if thresholds is not None:
        panel = panel.thresholds(thresholds).thresholds_style(
            common_b.GraphThresholdsStyleConfig().mode(common_m.GraphThresholdsStyleMode.DASHED)
        )
    if dashed_regex:
        panel = panel.override_by_regexp(
            dashed_regex,
            [
                model.DynamicConfigValue(
                    id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}
                )
            ],
        )
    return panel


def stat(
    title: str,
    targets: Sequence[prom.Dataquery],
    *,
    unit: str = "short",
    description: str = "",
    thresholds: dash.ThresholdsConfig | None = None,
    ds: str = DATASOURCE_UID,
    show_name: bool = False,
) -> stat_b.Panel:
    """A single big number (last value), colored by ``thresholds``; ``show_name``: the
    series' name (its legend) instead of the number, e.g. a version label."""
    panel = (
        stat_b.Panel()
        .title(title)
        .datasource(datasource(ds))
        .targets(list(targets))
        .unit(unit)
        .graph_mode(common_m.BigValueGraphMode.AREA)
        .color_mode(common_m.BigValueColorMode.BACKGROUND)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if show_name:
        panel = panel.text_mode(common_m.BigValueTextMode.NAME).graph_mode(
            common_m.BigValueGraphMode.NONE)
    if description:
        panel = panel.description(description)
    if thresholds is not None:
        panel = panel.thresholds(thresholds)
    return panel


def table(
    title: str,
    targets: Sequence[prom.Dataquery],
    *,
    unit: str = "short",
    description: str = "",
    sort_by: str = "Value",
    thresholds: dash.ThresholdsConfig | None = None,
    link_title: str = "",
    link_url: str = "",
    ds: str = DATASOURCE_UID,
) -> table_b.Panel:
    """An instant-query table (one row per series, labels as columns, the time column hidden),
    sorted by ``sort_by`` descending; optional data link on every row."""
    panel = (
        table_b.Panel()
        .title(title)
        .datasource(datasource(ds))
        .targets(list(targets))
        .unit(unit)
        .sort_by([common_b.TableSortByFieldState().display_name(sort_by).desc(True)])
        .with_transformation(
            model.DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {"Time": True}, "renameByName": {}},
            )
        )
    )
    if description:
        panel = panel.description(description)
    if thresholds is not None:
        panel = panel.thresholds(thresholds).cell_options(
            common_m.TableColoredBackgroundCellOptions()
        )
    if link_url:
        panel = panel.data_links([dash.DashboardLink(link_title or title).url(link_url)])
    return panel


def heatmap(
    title: str,
    targets: Sequence[prom.Dataquery],
    *,
    description: str = "",
    maximum: float | None = None,
    ds: str = DATASOURCE_UID,
) -> heatmap_b.Panel:
    """A heatmap whose rows are the query's series (e.g. one per feature) and whose cells are
    colored by value (not a calculated histogram)."""
    color = (
        heatmap_b.HeatmapColorOptions()
        .mode(heatmap_m.HeatmapColorMode.SCHEME)
        .scheme("RdYlGn")
        .reverse(True)
        .scale(heatmap_m.HeatmapColorScale.LINEAR)
        .steps(64)
        .min(0)
    )
    if maximum is not None:
        color = color.max(maximum)
    panel = (
        heatmap_b.Panel()
        .title(title)
        .datasource(datasource(ds))
        .targets(list(targets))
        .calculate(False)
        .color(color)
        .rows_frame(heatmap_b.RowsHeatmapOptions().layout(common_m.HeatmapCellLayout.UNKNOWN))
        .y_axis(heatmap_b.YAxisConfig().axis_placement(common_m.AxisPlacement.LEFT))
        .show_legend()
        .cell_gap(1)
    )
    if description:
        panel = panel.description(description)
    return panel
