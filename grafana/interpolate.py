"""Template variables substituted into PromQL the way Grafana's Prometheus datasource does it,
so dashboards can be checked against a real Prometheus without Grafana.

Rules (Grafana 11, ``interpolateQueryExpr``): a multi-value or include-All variable has each
value regex-escaped and several values joined as ``(a|b)``; the All option with a custom
``allValue`` is inserted verbatim (``.*``); a plain single-value variable is only escaped for
the string literal. ``$__rate_interval`` is ``max($__interval + scrape interval,
4 × scrape interval)``. ``$var``, ``${var}`` and ``[[var]]`` are all recognised.

>>> variables = {"cohort": Variable(multi=True, include_all=True)}
>>> interpolate('x{cohort=~"$cohort"}', variables, {"cohort": ["eu", "us"]})
'x{cohort=~"(eu|us)"}'
>>> interpolate('x{cohort=~"$cohort"}', variables, {"cohort": ALL})
'x{cohort=~".*"}'
>>> interpolate("rate(x[$__rate_interval])", {}, {}, scrape_interval=1.0, interval=1.0)
'rate(x[4s])'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALL = "$__all"
"""The value Grafana stores when the All option is selected."""

_REF = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]")
_REGEX_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")


@dataclass(frozen=True)
class Variable:
    """What matters of a template variable for interpolation."""

    multi: bool = False
    include_all: bool = False
    all_value: str | None = ".*"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Variable:
        return cls(
            multi=bool(data.get("multi")),
            include_all=bool(data.get("includeAll")),
            all_value=data.get("allValue"),
        )


def variables_of(dashboard: Mapping[str, Any]) -> dict[str, Variable]:
    """The template variables of a dashboard JSON by name."""
    return {
        v["name"]: Variable.from_json(v) for v in dashboard.get("templating", {}).get("list", [])
    }


def regular_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def special_regex_escape(value: str) -> str:
    value = value.replace("\\", "\\\\\\\\")
    return _REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(0), value)


def format_value(variable: Variable, value: str | Sequence[str]) -> str:
    """One variable's selection as it appears inside the query."""
    if value == ALL or (not isinstance(value, str) and list(value) == [ALL]):
        if variable.all_value is None:
            raise ValueError("All without a custom allValue expands to every option; not modelled")
        return variable.all_value
    if not variable.multi and not variable.include_all:
        return regular_escape(value if isinstance(value, str) else ",".join(value))
    if isinstance(value, str):
        return special_regex_escape(value)
    escaped = [special_regex_escape(v) for v in value]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def duration(seconds: float) -> str:
    """Grafana's rendering of an interval: 4s, 1m, 90s, 2h."""
    s = max(1, round(seconds))
    for unit, size in (("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


def interpolate(
    expr: str,
    variables: Mapping[str, Variable],
    selection: Mapping[str, str | Sequence[str]],
    *,
    scrape_interval: float = 15.0,
    interval: float | None = None,
    range_seconds: float = 3600.0,
) -> str:
    """``expr`` with every variable replaced; raises ``KeyError`` for an undefined one (an
    unsubstituted ``$var`` would silently match nothing in Prometheus)."""
    step = interval if interval is not None else scrape_interval
    builtins = {
        "__interval": duration(step),
        "__interval_ms": str(int(step * 1000)),
        "__rate_interval": duration(max(step + scrape_interval, 4 * scrape_interval)),
        "__range": duration(range_seconds),
        "__range_s": str(int(range_seconds)),
        "__range_ms": str(int(range_seconds * 1000)),
    }

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in builtins:
            return builtins[name]
        if name not in variables:
            raise KeyError(f"variable ${name} is not defined by the dashboard")
        if name not in selection:
            raise KeyError(f"no value selected for ${name}")
        return format_value(variables[name], selection[name])

    return _REF.sub(replace, expr)


def referenced(text: str) -> set[str]:
    """Names of the variables referenced in ``text`` (built-ins ``__*`` excluded)."""
    names = {m.group(1) or m.group(2) or m.group(3) for m in _REF.finditer(text)}
    return {n for n in names if not n.startswith("__")}
