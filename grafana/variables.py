"""The template variables of driftline's dashboards: ``monitor``, ``window``, ``reference``,
``feature``, ``segment``, ``cohort``.

All are ``label_values()`` queries against live series, so the cohort list is always the live
one (top-K per segment plus ``__other__`` and the global ``all``). ``feature``, ``segment`` and
``cohort`` are multi-value with All (= ``.*``); ``monitor`` defaults to the configured monitor and
``window`` (single-value, All allowed) to the base window tier. ``reference`` (what drift is
measured against: ``training``, ``trailing``, ``seasonal``, ``cohort:<value>``) is multi-value
with All and defaults to ``training``; only the dashboards with drift panels have it.

>>> [v.build().name for v in dashboard_variables("fraud", "5m", ("monitor", "cohort"))]
['monitor', 'segment', 'cohort']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from grafana_foundation_sdk.cog import builder as cogbuilder

from driftline.grafana.common import query_variable
from driftline.stream.config.contract import DATASOURCE_UID

VARIABLE_ORDER = ("monitor", "window", "reference", "feature", "segment", "cohort")
DEFAULT_VARIABLES = ("monitor", "window", "feature", "segment", "cohort")


def variable_queries() -> dict[str, str]:
    """The ``label_values`` query of each variable (they chain: monitor → segment → cohort)."""
    return {
        "monitor": "label_values(driftline_window_events, monitor)",
        "window": 'label_values(driftline_window_events{monitor=~"$monitor"}, window)',
        "reference": 'label_values(driftline_drift_score{monitor=~"$monitor"}, reference)',
        "feature": 'label_values(driftline_drift_score{monitor=~"$monitor"}, feature)',
        "segment": 'label_values(driftline_window_events{monitor=~"$monitor"}, segment)',
        "cohort": (
            'label_values(driftline_window_events{monitor=~"$monitor", segment=~"$segment"}, '
            "cohort)"
        ),
    }


def dashboard_variables(
    monitor: str,
    base_window: str,
    names: Iterable[str] = DEFAULT_VARIABLES,
    ds: str = DATASOURCE_UID,
    defaults: Mapping[str, str] | None = None,
) -> list[cogbuilder.Builder[Any]]:
    """Builders for the requested variables, in the canonical order; ``defaults`` preselects a
    value of a multi-value variable instead of All."""
    wanted = set(names)
    unknown = wanted - set(VARIABLE_ORDER)
    if unknown:
        raise ValueError(f"unknown dashboard variables {sorted(unknown)}; known: {VARIABLE_ORDER}")
    if "cohort" in wanted:
        wanted.add("segment")  # the cohort query is chained to the segment selection
    queries = variable_queries()
    out: list[cogbuilder.Builder[Any]] = []
    for name in VARIABLE_ORDER:
        if name not in wanted:
            continue
        if name == "monitor":
            var = query_variable(name, queries[name], current=monitor, ds=ds)
        elif name == "window":
            var = query_variable(name, queries[name], multi=False, current=base_window, ds=ds)
        elif name == "reference":
            var = query_variable(name, queries[name], current="training", ds=ds)
        else:
            var = query_variable(name, queries[name], current=(defaults or {}).get(name), ds=ds)
        out.append(var)
    return out
