"""The model quality dashboard: generated only with ``model:``, structurally sound, querying
only the model-quality metrics the collector renders (plus the shared variables' series)."""

from __future__ import annotations

import json
import re

from driftline.grafana.checks import check_dashboard, iter_panels
from driftline.grafana.dashboards import build_dashboards
from driftline.stream.config.contract import DATASOURCE_UID
from driftline.stream.config.model import parse_config

METRICS = {"driftline_model_performance", "driftline_model_performance_reference",
           "driftline_label_coverage", "driftline_labels_total", "driftline_label_pending",
           "driftline_label_lag_seconds_bucket", "driftline_window_events",
           "driftline_alert_active"}  # the last two: variables and alert annotations


def test_model_quality_dashboard() -> None:
    base = {"monitor": "loans", "features": [{"name": "x", "type": "numeric"}],
            "segments": ["region"]}
    assert len(build_dashboards(parse_config(base))) == 3
    for task in ("binary_classification", "regression"):
        cfg = parse_config({**base, "model": {"prediction": "score", "id": "id", "task": task}})
        boards = build_dashboards(cfg)
        d = boards["driftline-loans-model-quality.json"]
        assert check_dashboard(d, DATASOURCE_UID) == []
        names = [v["name"] for v in d["templating"]["list"]]
        assert names == ["monitor", "window", "segment", "cohort"]
        text = json.dumps(d)
        used = set(re.findall(r"driftline_[a-z_]+(?=[{\[( ])", text))
        assert used <= METRICS and "driftline_model_performance" in used
        titles = [p.get("title") for p in iter_panels(d)]
        assert ("accuracy" in titles) == (task == "binary_classification")
        assert ("mae" in titles) == (task == "regression")
