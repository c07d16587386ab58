"""Generated dashboards: structure Grafana relies on, variables, thresholds from the config,
Grafana-style variable interpolation, provisioning and the CLI that writes them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from driftline.grafana.checks import check_dashboard, iter_panels
from driftline.grafana.common import GRID_COLUMNS
from driftline.grafana.dashboards import build_dashboards
from driftline.grafana.interpolate import ALL, Variable, interpolate
from driftline.grafana.provisioning import write_provisioning
from driftline.stream.cli import app
from driftline.stream.config.contract import DATASOURCE_UID, dashboard_uid
from driftline.stream.config.model import DriftlineConfig, load_config, parse_config

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "stream" / "demo" / "data" / "demo.yaml"


def _configs() -> dict[str, DriftlineConfig]:
    varied = parse_config({
        "monitor": "fraud.model-with-a-rather-long-name_v2",
        "features": [
            {"name": "amount", "type": "numeric", "range": [0, 50000]},
            {"name": "country", "type": "categorical"},
        ],
        "segments": ["region"],
        "windows": {"size": "5m", "rollups": ["1h", "1d"]},
        "drift": {"metric": "ks", "thresholds": {"psi": {"warning": 0.15, "critical": 0.3}}},
    })
    numeric_only = parse_config({
        "monitor": "tiny",
        "features": [{"name": "score", "type": "numeric"}],
    })
    return {"demo": load_config(DEMO), "varied": varied, "numeric_only": numeric_only}


CONFIGS = _configs()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_dashboard_is_structurally_sound(name: str) -> None:
    cfg = CONFIGS[name]
    dashboards = build_dashboards(cfg)
    assert len(dashboards) == 3
    for file_name, d in dashboards.items():
        assert check_dashboard(d, DATASOURCE_UID) == [], file_name
        panels = list(iter_panels(d))
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids))
        for p in panels:
            pos = p["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= GRID_COLUMNS
        targets = [t for p in panels for t in p.get("targets", [])]
        assert targets and all(t["datasource"]["uid"] == DATASOURCE_UID for t in targets)
        assert len(d["uid"]) <= 40 and file_name == f"{d['uid']}.json"
        assert d["annotations"]["list"], "alert annotations on the time axis"


def test_checker_reports_what_grafana_would_get_wrong() -> None:
    d = copy.deepcopy(build_dashboards(CONFIGS["demo"])[
        f"{dashboard_uid('payments-demo', 'feature')}.json"])
    panels = d["panels"]
    panels[2]["id"] = panels[1]["id"]
    panels[3]["gridPos"] = dict(panels[4]["gridPos"])
    panels[4]["targets"][0]["expr"] += ' and on() up{job=~"$job"}'
    panels[5]["targets"][0]["datasource"] = {"type": "prometheus", "uid": "other"}
    panels[6]["gridPos"]["x"] = 20
    problems = "\n".join(check_dashboard(d, DATASOURCE_UID))
    assert f"id also used by {panels[1]['title']!r}" in problems
    assert "overlaps" in problems
    assert "$job is not a dashboard variable" in problems
    assert "'uid': 'other'" in problems
    assert "exceeds 24 columns" in problems


def test_drilldown_has_multi_value_cohort_variables_and_overview_links_to_it() -> None:
    dashboards = build_dashboards(CONFIGS["demo"])
    drill = dashboards[f"{dashboard_uid('payments-demo', 'feature')}.json"]
    variables = {v["name"]: v for v in drill["templating"]["list"]}
    assert list(variables) == ["monitor", "window", "reference", "feature", "segment", "cohort"]
    assert variables["reference"]["current"]["value"] == "training"
    for name in ("monitor", "feature", "segment", "cohort"):
        v = variables[name]
        assert v["multi"] and v["includeAll"] and v["allValue"] == ".*", name
        assert v["query"].startswith("label_values(") and v["refresh"] == 2
    assert variables["monitor"]["current"]["value"] == "payments-demo"
    assert variables["window"]["current"]["value"] == "1m"
    assert variables["feature"]["current"]["value"] == "amount"  # a drill-down: one feature
    assert variables["cohort"]["current"]["value"] == "$__all"
    assert "segment=~\"$segment\"" in variables["cohort"]["query"]

    overview = dashboards[f"{dashboard_uid('payments-demo', 'overview')}.json"]
    table = next(p for p in overview["panels"] if p["title"] == "Top drifting feature × cohort")
    link = table["fieldConfig"]["defaults"]["links"][0]["url"]
    assert link.startswith(f"/d/{drill['uid']}?")
    for var in ("feature", "segment", "cohort"):
        assert f"var-{var}=${{__data.fields.{var}}}" in link


def test_the_overview_shows_the_baseline_version_in_use() -> None:
    cfg = CONFIGS["varied"]
    overview = build_dashboards(cfg)[f"{dashboard_uid(cfg.monitor, 'overview')}.json"]
    now = [p for p in overview["panels"] if p["type"] == "stat"]
    assert [(p["title"], p["gridPos"]["w"]) for p in now] == [
        ("Critical alerts firing", 3), ("Warning alerts firing", 3), ("Throughput", 3),
        ("Sent to DLQ", 3), ("Consumer lag", 3), ("Live cohorts", 3), ("Baseline version", 6)]
    assert {p["gridPos"]["y"] for p in now} == {now[0]["gridPos"]["y"]}  # one row
    panel = now[-1]
    [t] = panel["targets"]
    assert t["expr"] == 'count by (version) (driftline_baseline_info{monitor=~"$monitor"})'
    assert t["legendFormat"] == "{{version}}"
    assert panel["options"]["textMode"] == "name"  # the version, not the worker count


def test_panel_thresholds_follow_the_configured_tiers() -> None:
    cfg = CONFIGS["varied"]
    drill = build_dashboards(cfg)[f"{dashboard_uid(cfg.monitor, 'feature')}.json"]
    psi = next(p for p in drill["panels"] if p["title"] == "PSI")
    steps = psi["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["value"], s["color"]) for s in steps] == [
        (None, "green"), (0.15, "orange"), (0.3, "red")]
    overview = build_dashboards(cfg)[f"{dashboard_uid(cfg.monitor, 'overview')}.json"]
    heat = next(p for p in overview["panels"] if p["type"] == "heatmap")
    assert 'metric="ks"' in heat["targets"][0]["expr"]  # the configured primary metric


def test_panels_adapt_to_the_features_and_freshness_rules() -> None:
    tiny = build_dashboards(CONFIGS["numeric_only"])
    titles = {p.get("title") for d in tiny.values() for p in d["panels"]}
    assert "Unseen categories ratio" not in titles  # no categorical feature
    assert "Freshness vs SLA" not in titles  # no freshness rule
    demo = build_dashboards(CONFIGS["demo"])
    demo_titles = {p.get("title") for d in demo.values() for p in d["panels"]}
    assert {"Unseen categories ratio", "Freshness vs SLA", "Staleness vs SLA"} <= demo_titles


def test_variables_are_substituted_the_way_grafana_does() -> None:
    multi = {"cohort": Variable(multi=True, include_all=True, all_value=".*"),
             "monitor": Variable(multi=False, include_all=False)}
    expr = 'x{cohort=~"$cohort", monitor="${monitor}"}[$__rate_interval]'
    assert interpolate(expr, multi, {"cohort": ["eu", "us"], "monitor": "m"},
                       scrape_interval=15) == 'x{cohort=~"(eu|us)", monitor="m"}[1m]'
    assert interpolate(expr, multi, {"cohort": ALL, "monitor": "m"},
                       scrape_interval=1) == 'x{cohort=~".*", monitor="m"}[4s]'
    # values are regex-escaped inside the PromQL string, one value needs no parentheses
    assert interpolate('x{c=~"$cohort"}', multi, {"cohort": ["a.b"]}) == 'x{c=~"a\\\\.b"}'
    with pytest.raises(KeyError, match=r"\$region"):
        interpolate('x{r=~"$region"}', multi, {})


def test_provisioned_datasource_is_the_one_every_query_uses(tmp_path: Path) -> None:
    files = write_provisioning(tmp_path, "http://prometheus:9090", "/var/lib/grafana/dashboards")
    ds = yaml.safe_load(files[0].read_text())["datasources"][0]
    provider = yaml.safe_load(files[1].read_text())["providers"][0]
    assert ds["type"] == "prometheus" and ds["access"] == "proxy" and ds["isDefault"]
    assert provider["type"] == "file" and provider["options"]["path"]
    for d in build_dashboards(CONFIGS["demo"]).values():
        assert check_dashboard(d, ds["uid"]) == []


def test_cli_writes_the_generated_dashboards(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["grafana", "dashboards", "-c", str(DEMO), "--out", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    written = {p.name: json.loads(p.read_text()) for p in (tmp_path / "d").glob("*.json")}
    expected: dict[str, Any] = build_dashboards(CONFIGS["demo"])
    assert written == expected
    assert sorted(result.output.split()) == sorted(str(tmp_path / "d" / n) for n in expected)


def test_cli_default_datasource_is_the_provisioned_one() -> None:
    from driftline.stream.cli import cmd_grafana

    assert cmd_grafana.DATASOURCE_UID == DATASOURCE_UID


def test_cli_rejects_a_broken_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("monitor: x\nfeatures: []\n")
    result = CliRunner().invoke(
        app, ["grafana", "dashboards", "-c", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "features" in result.output


CONTRACT = {
    "driftline_drift_score", "driftline_drift_p_value", "driftline_feature_quantile",
    "driftline_quality_ratio", "driftline_window_events",
    "driftline_window_end_timestamp_seconds", "driftline_events_total",
    "driftline_events_invalid_total", "driftline_events_late_total",
    "driftline_staleness_seconds", "driftline_staleness_sla_seconds",
    "driftline_consumer_lag_records", "driftline_alerts_firing", "driftline_alert_active",
    "driftline_notifications_total", "driftline_evaluation_duration_seconds_bucket",
    "driftline_cohorts", "driftline_build_info", "driftline_baseline_rejected_total",
    "driftline_baseline_info",
}


def test_dashboards_and_rules_query_only_the_metric_contract() -> None:
    import re

    from driftline.grafana.rules import monitor_rules

    used: set[str] = set()
    for cfg in CONFIGS.values():
        text = json.dumps(build_dashboards(cfg)) + json.dumps(monitor_rules(cfg))
        used |= set(re.findall(r"driftline_[a-z_]+(?=[{\[( ])", text))
    assert used <= CONTRACT, used - CONTRACT
    # every metric of the contract is on some panel, except build_info (no panel needs it)
    assert CONTRACT - used == {"driftline_build_info"}
