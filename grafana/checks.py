"""Structural checks of a dashboard JSON that Grafana itself would not report clearly.

Unique panel ids, panels inside the 24-column grid and not overlapping, every ``$variable``
defined, every datasource reference pointing at the provisioned datasource, every target with
an expression and a unique ``refId``.

>>> check_dashboard({"uid": "u", "title": "t", "panels": [
...     {"id": 1, "type": "stat", "gridPos": {"x": 20, "y": 0, "w": 8, "h": 4},
...      "targets": [{"refId": "A", "expr": "up{job=~\\"$job\\"}"}]}]}, "ds")
['panel 1: gridPos x=20 w=8 exceeds 24 columns', 'panel 1: $job is not a dashboard variable']
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from driftline.grafana.common import GRID_COLUMNS
from driftline.grafana.interpolate import referenced


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", []) or []


def _datasource_refs(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield path or "dashboard", value
            else:
                yield from _datasource_refs(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _datasource_refs(item, f"{path}[{i}]")


def _overlaps(a: Mapping[str, int], b: Mapping[str, int]) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def check_dashboard(dashboard: Mapping[str, Any], datasource_uid: str) -> list[str]:
    """Problems found in ``dashboard`` (empty when it is sound)."""
    problems: list[str] = []
    uid = dashboard.get("uid", "")
    if not uid or len(uid) > 40:
        problems.append(f"uid {uid!r} must be 1..40 characters")
    if not dashboard.get("title"):
        problems.append("dashboard has no title")
    defined = {v.get("name") for v in dashboard.get("templating", {}).get("list", [])}

    seen_ids: dict[Any, str] = {}
    placed: list[tuple[Any, Mapping[str, int]]] = []
    for panel in iter_panels(dashboard):
        pid = panel.get("id")
        name = f"panel {pid}"
        if pid is None:
            problems.append(f"panel {panel.get('title')!r} has no id")
        elif pid in seen_ids:
            problems.append(f"{name}: id also used by {seen_ids[pid]!r}")
        else:
            seen_ids[pid] = str(panel.get("title"))
        pos = panel.get("gridPos")
        if not pos:
            problems.append(f"{name}: no gridPos")
        else:
            if pos["w"] < 1 or pos["h"] < 1 or pos["x"] < 0 or pos["y"] < 0:
                problems.append(f"{name}: gridPos {pos} has a negative or empty extent")
            if pos["x"] + pos["w"] > GRID_COLUMNS:
                problems.append(
                    f"{name}: gridPos x={pos['x']} w={pos['w']} exceeds {GRID_COLUMNS} columns"
                )
            for other_id, other in placed:
                if _overlaps(pos, other):
                    problems.append(f"{name}: gridPos {pos} overlaps panel {other_id} {other}")
            placed.append((pid, pos))
        refs = [t.get("refId") for t in panel.get("targets", []) or []]
        if len(refs) != len(set(refs)) or not all(refs):
            problems.append(f"{name}: refIds {refs} must be non-empty and unique")
        for t in panel.get("targets", []) or []:
            if not t.get("expr"):
                problems.append(f"{name}: target {t.get('refId')} has no expression")
        for var in sorted(referenced(json.dumps(panel)) - defined):
            problems.append(f"{name}: ${var} is not a dashboard variable")

    rest = {k: v for k, v in dashboard.items() if k != "panels"}
    for var in sorted(referenced(json.dumps(rest)) - defined):
        problems.append(f"${var} (in variables or annotations) is not a dashboard variable")
    for where, ref in _datasource_refs(dashboard):
        ref_uid = ref.get("uid") if isinstance(ref, dict) else ref
        if ref_uid != datasource_uid:
            problems.append(
                f"{where}: datasource {ref!r} is not the provisioned {datasource_uid!r}"
            )
    return problems
