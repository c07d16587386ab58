"""Shared pieces of the generated dashboards: datasource, variables, queries, layout.

Every dashboard reads one Prometheus datasource (uid :data:`DATASOURCE_UID`, the one the
provisioning files declare) and filters with the same template variables, so a link from an
alert or from the overview table (``?var-feature=amount&var-segment=region&var-cohort=eu``)
lands on the right drill-down.

>>> sel = Selector("monitor", "window", "feature").expr("driftline_drift_score", metric="psi")
>>> sel
'driftline_drift_score{monitor=~"$monitor", window=~"$window", feature=~"$feature", metric="psi"}'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import prometheus as prom_model

from driftline.stream.config.contract import DATASOURCE_UID

"""The uid of the Prometheus datasource in the provisioning files and in every query."""

GRID_COLUMNS = 24
RATE = "[$__rate_interval]"
COHORT_LEGEND = "{{feature}} · {{segment}}={{cohort}}"
REFERENCE_LEGEND = COHORT_LEGEND + " vs {{reference}}"



def datasource(uid: str = DATASOURCE_UID) -> model.DataSourceRef:
    return model.DataSourceRef(type_val="prometheus", uid=uid)


@dataclass(frozen=True)
class Selector:
    """The label filters of a dashboard's variables, rendered into PromQL selectors.

    Each named label is matched with ``=~"$label"`` so multi-value and All selections work.
    """

    labels: tuple[str, ...]

    def __init__(self, *labels: str) -> None:
        object.__setattr__(self, "labels", labels)

    def only(self, *labels: str) -> Selector:
        """The same selector restricted to the given labels (for metrics without the others)."""
        return Selector(*(label for label in self.labels if label in labels))

    def expr(self, name: str, /, **fixed: str) -> str:
        """``metric{label=~"$label", ..., key="value"}``; a fixed value starting with ``~`` is a
        regex match (``metric="~psi|ks"`` → ``metric=~"psi|ks"``)."""
        parts = [f'{label}=~"${label}"' for label in self.labels]
        for key, value in fixed.items():
            op = "=~" if value.startswith("~") else "="
            parts.append(f'{key}{op}"{value.removeprefix("~")}"')
        return f"{name}{{{', '.join(parts)}}}"


def target(
    expr: str,
    legend: str = "",
    ref: str = "A",
    *,
    instant: bool = False,
    table: bool = False,
    ds: str = DATASOURCE_UID,
) -> prom.Dataquery:
    """One Prometheus query of a panel."""
    q = prom.Dataquery().expr(expr).ref_id(ref).datasource(datasource(ds))
    if legend:
        q = q.legend_format(legend)
    q = q.instant() if instant else q.range()
    if table:
        q = q.format(prom_model.PromQueryFormat.TABLE)
    return q


def query_variable(
    name: str,
    query: str,
    *,
    label: str | None = None,
    multi: bool = True,
    include_all: bool = True,
    current: str | None = None,
    ds: str = DATASOURCE_UID,
) -> dash.QueryVariable:
    """A ``label_values`` variable, refreshed when the time range changes, All = ``.*``."""
    var = (
        dash.QueryVariable(name)
        .label(label or name.capitalize())
        .query(query)
        .datasource(datasource(ds))
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(include_all)
    )
    if include_all:
        var = var.all_value(".*")
    if current is not None:
        var = var.current(model.VariableOption(text=current, value=current, selected=True))
    elif include_all:
        var = var.current(model.VariableOption(text="All", value="$__all", selected=True))
    return var


def thresholds(
    steps: Iterable[tuple[float | None, str]],
) -> dash.ThresholdsConfig:
    """Absolute thresholds; the first step's value is ``None`` (Grafana's base step)."""
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value, color) for value, color in steps])
    )


def tier_thresholds(warning: float | None, critical: float | None) -> dash.ThresholdsConfig:
    """green, then orange at ``warning`` and red at ``critical`` (either may be absent)."""
    steps: list[tuple[float | None, str]] = [(None, "green")]
    if warning is not None:
        steps.append((warning, "orange"))
    if critical is not None:
        steps.append((critical, "red"))
    return thresholds(steps)


class Grid:
    """Places panels left to right on Grafana's 24-column grid, wrapping to a new line when a
    panel does not fit, and numbers them (unique ids). Rows span the full width.

    >>> g = Grid()
    >>> [g.place(w, 4) for w in (16, 12, 24)]
    [(0, 0), (0, 4), (0, 8)]
    """

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.line_height = 0
        self.next_id = 1

    def place(self, w: int, h: int) -> tuple[int, int]:
        if not 0 < w <= GRID_COLUMNS:
            raise ValueError(f"panel width must be 1..{GRID_COLUMNS}, got {w}")
        if self.x + w > GRID_COLUMNS:
            self.newline()
        pos = (self.x, self.y)
        self.x += w
        self.line_height = max(self.line_height, h)
        return pos

    def newline(self) -> None:
        if self.x:
            self.y += self.line_height
        self.x = 0
        self.line_height = 0

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


class Board:
    """A dashboard builder with automatic, non-overlapping layout and panel ids."""

    def __init__(self, builder: dash.Dashboard) -> None:
        self.builder = builder
        self.grid = Grid()

    def row(self, title: str) -> Board:
        self.grid.newline()
        x, y = self.grid.place(GRID_COLUMNS, 1)
        self.grid.newline()
        row = (
            dash.Row(title)
            .id(self.grid.take_id())
            .grid_pos(model.GridPos(h=1, w=GRID_COLUMNS, x=x, y=y))
        )
        self.builder.with_row(row)
        return self

    def add(self, panel: Any, w: int, h: int) -> Board:
        x, y = self.grid.place(w, h)
        panel = panel.id(self.grid.take_id()).grid_pos(model.GridPos(h=h, w=w, x=x, y=y))
        self.builder.with_panel(panel)
        return self

    def build(self) -> model.Dashboard:
        return self.builder.build()


def variables_for(builder: dash.Dashboard, variables: list[cogbuilder.Builder[Any]]) -> None:
    for var in variables:
        builder.with_variable(var)
