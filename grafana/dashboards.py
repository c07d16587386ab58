"""All dashboards of a monitor as Grafana JSON, with alert annotations on the time axis.

>>> from driftline.stream.config.model import DriftlineConfig
>>> cfg = DriftlineConfig.model_validate(
...     {"monitor": "fraud", "features": [{"name": "amount", "type": "numeric"}]})
>>> sorted(build_dashboards(cfg))
['driftline-fraud-feature.json', 'driftline-fraud-overview.json', 'driftline-fraud-quality.json']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder

from driftline.grafana.drilldown import drilldown_dashboard
from driftline.grafana.overview import overview_dashboard
from driftline.grafana.quality import quality_dashboard
from driftline.stream.config.contract import DATASOURCE_UID
from driftline.stream.config.model import DriftlineConfig

ALERT_ANNOTATION_EXPR = (
    "max by (check, severity, feature, segment, cohort, window) "
    '(driftline_alert_active{monitor=~"$monitor"})'
)
MONITOR_ALERT_ANNOTATION_EXPR = 'ALERTS{alertstate="firing", monitor=~"$monitor"}'


def alert_annotations(ds: str = DATASOURCE_UID) -> list[dict[str, Any]]:
    """Annotation queries marking when driftline's alerts fired (and the Prometheus rules
    about the monitor itself), drawn on every time axis of the dashboard."""
    ref = {"type": "prometheus", "uid": ds}
    return [
        {
            "name": "driftline alerts",
            "datasource": ref,
            "enable": True,
            "hide": False,
            "iconColor": "red",
            "expr": ALERT_ANNOTATION_EXPR,
            "step": "1m",
            "titleFormat": "{{severity}}: {{check}} {{feature}}",
            "textFormat": "{{segment}}={{cohort}} · window {{window}}",
            "tagKeys": "severity,check,feature,segment,cohort",
            "useValueForTime": False,
        },
        {
            "name": "monitor health alerts",
            "datasource": ref,
            "enable": True,
            "hide": False,
            "iconColor": "orange",
            "expr": MONITOR_ALERT_ANNOTATION_EXPR,
            "step": "1m",
            "titleFormat": "{{alertname}}",
            "textFormat": "{{severity}}",
            "tagKeys": "alertname,severity",
            "useValueForTime": False,
        },
    ]


def to_json(builder: Any) -> dict[str, Any]:
    """The plain JSON dict of a foundation-sdk dashboard builder."""
    data: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return data


def build_dashboards(
    cfg: DriftlineConfig, datasource_uid: str = DATASOURCE_UID
) -> dict[str, dict[str, Any]]:
    """``{file name: dashboard JSON}`` for the overview, the feature drill-down and the data
    quality and freshness dashboards of ``cfg``'s monitor (and, with ``model:``, its model
    quality dashboard)."""
    out: dict[str, dict[str, Any]] = {}
    makers: list[Any] = [overview_dashboard, drilldown_dashboard, quality_dashboard]
    if cfg.model is not None:
        from driftline.grafana.model_quality import model_quality_dashboard

        makers.append(model_quality_dashboard)
    for make in makers:
        data = to_json(make(cfg, datasource_uid))
        data["annotations"] = {"list": alert_annotations(datasource_uid)}
        data["id"] = None
        out[f"{data['uid']}.json"] = data
    return out


def render(dashboard: dict[str, Any]) -> str:
    """The canonical file text of a dashboard (stable key order, trailing newline)."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def write_dashboards(
    cfg: DriftlineConfig, out_dir: str | Path, datasource_uid: str = DATASOURCE_UID
) -> list[Path]:
    """Write the dashboards of ``cfg`` as JSON files into ``out_dir``; return their paths."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in build_dashboards(cfg, datasource_uid).items():
        path = directory / name
        path.write_text(render(data))
        paths.append(path)
    return paths
