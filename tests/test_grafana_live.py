"""Every panel of every generated dashboard shows data: a real Prometheus scrapes a real
driftline worker (``driftline demo --forever``: the full engine, alerting, freshness clock and
exporter on a stream with two segments, alerts delivered to a local Slack receiver), and each
panel query, with the dashboard variables
substituted the way Grafana does, returns series. The ``cohort`` variable lists exactly the
live cohorts, and ``promtool check metrics`` accepts the worker's exposition.

Series that exist only under Kafka (consumer lag) are checked in ``test_grafana_kafka.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from driftline.grafana.dashboards import build_dashboards
from driftline.grafana.interpolate import ALL, interpolate, variables_of
from driftline.grafana.rules import RuleSettings, monitor_rules, render_yaml
from driftline.grafana.variables import variable_queries
from driftline.stream.config.model import DriftlineConfig, load_config
from driftline.stream.demo.generator import DEVICES, REGIONS
from tests.fixtures.prometheus import PROMTOOL, PrometheusServer, free_port, start_prometheus
from tests.fixtures.receivers import SlackReceiver, _serve
from tests.fixtures.waiting import stop_process, wait_until

REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "stream" / "demo" / "data" / "demo.yaml"
KAFKA_ONLY = ("driftline_consumer_lag_records",)
SCRAPE = 1.0

pytestmark = pytest.mark.prometheus


@dataclass
class Live:
    cfg: DriftlineConfig
    metrics_url: str
    prometheus: PrometheusServer
    started: float

    def exposition(self) -> str:
        return httpx.get(self.metrics_url, timeout=5, trust_env=False).text


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    port = free_port()
    cfg = load_config(DEMO_CONFIG)
    rules = tmp / "driftline.rules.yml"  # the generated rules, without their `for` delays
    rules.write_text(render_yaml(monitor_rules(cfg, RuleSettings(
        down_for="0s", staleness_for="0s", dlq_for="0s"))))
    prometheus = start_prometheus(tmp / "prometheus", [f"127.0.0.1:{port}"],
                                  scrape_interval="1s", evaluation_interval="1s",
                                  rule_files=[rules])
    slack = SlackReceiver()  # alerts are delivered (notification counters) to a local Slack
    _serve(slack)
    log = (tmp / "demo.log").open("wb")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["SLACK_WEBHOOK_URL"] = slack.webhook_url
    env.pop("PD_ROUTING_KEY", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "driftline.stream", "demo", "--short", "--forever", "--plain",
         "--metrics", f"127.0.0.1:{port}", "--out", str(tmp / "demo-out")],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=tmp)
    started = time.time()
    try:
        state = Live(cfg, f"http://127.0.0.1:{port}/metrics", prometheus,
                     started)

        def alerts_exported() -> bool:
            if worker.poll() is not None:
                raise RuntimeError((tmp / "demo.log").read_text(errors="replace")[-3000:])
            return bool(prometheus.query("driftline_alert_active"))

        wait_until(alerts_exported, 120, 0.5, "the demo worker's alerts scraped by Prometheus")
        yield state
    finally:
        stop_process(worker, 15)
        log.close()
        prometheus.stop()
        slack.stop()


def _queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    out = [(f"{p['title']} [{t['refId']}]", t["expr"])
           for p in dashboard["panels"] for t in p.get("targets", [])]
    out += [(f"annotation {a['name']}", a["expr"]) for a in dashboard["annotations"]["list"]]
    return out


def _run(live: Live, expr: str) -> list[Any]:
    now = time.time()
    return live.prometheus.query_range(expr, max(live.started, now - 120), now, SCRAPE)


def _check_all_panels(live: Live, selection: dict[str, Any]) -> dict[str, list[str]]:
    empty: dict[str, list[str]] = {}
    for name, d in build_dashboards(live.cfg).items():
        variables = variables_of(d)
        for title, expr in _queries(d):
            if any(metric in expr for metric in KAFKA_ONLY):
                continue
            chosen = {k: v for k, v in selection.items() if k in variables}
            query = interpolate(expr, variables, chosen, scrape_interval=SCRAPE,
                                interval=SCRAPE, range_seconds=120)
            if not _run(live, query):
                empty.setdefault(name, []).append(f"{title}: {query}")
    return empty


def _assert_all_panels_have_data(live: Live, selection: dict[str, Any]) -> None:
    empty: dict[str, list[str]] = {}

    def nothing_empty() -> bool:
        nonlocal empty
        empty = _check_all_panels(live, selection)
        return not empty

    try:
        wait_until(nothing_empty, 60, 1.0, "every panel query returning series")
    except TimeoutError:
        pytest.fail("panels without data:\n" + "\n".join(
            f"{name}: {q}" for name, qs in empty.items() for q in qs))


def test_every_panel_query_returns_series_with_all_selected(live: Live) -> None:
    _assert_all_panels_have_data(live, {"monitor": "payments-demo", "window": "1m",
                                        "reference": ALL, "feature": ALL, "segment": ALL,
                                        "cohort": ALL})


def test_every_panel_query_returns_series_for_a_multi_value_selection(live: Live) -> None:
    # Two features (numeric + categorical), two segments, three cohorts: what a user
    # clicking in Grafana produces (multi-value -> regex alternatives).
    selection = {"monitor": ["payments-demo"], "window": "1m", "reference": ["training"],
                 "feature": ["amount", "merchant_category"], "segment": ["region", "all"],
                 "cohort": ["eu", "us", "all"]}
    _assert_all_panels_have_data(live, selection)


def test_cohort_variable_lists_exactly_the_live_cohorts(live: Live) -> None:
    families = {f.name: f for f in text_string_to_metric_families(live.exposition())}
    live_cohorts = {s.labels["cohort"] for s in families["driftline_window_events"].samples}
    assert live_cohorts >= {*REGIONS, *DEVICES, "all"}
    template = variable_queries()["cohort"]
    variables = variables_of(build_dashboards(live.cfg)[
        "driftline-payments-demo-feature.json"])
    match = template.removeprefix("label_values(").rsplit(",", 1)[0]
    all_match = interpolate(match, variables, {"monitor": "payments-demo", "segment": ALL})
    listed: set[str] = set()

    def lists_live_cohorts() -> bool:
        nonlocal listed
        listed = set(live.prometheus.label_values("cohort", all_match, live.started))
        return listed == live_cohorts

    try:
        wait_until(lists_live_cohorts, 30, 0.5, "cohort variable = live cohorts")
    except TimeoutError:
        assert listed == live_cohorts
    region_match = interpolate(match, variables, {"monitor": "payments-demo",
                                                  "segment": ["region"]})
    regions = {s.labels["cohort"] for s in families["driftline_window_events"].samples
               if s.labels["segment"] == "region"}
    assert set(live.prometheus.label_values("cohort", region_match, live.started)) == regions
    assert regions == set(REGIONS)


def test_other_variables_list_the_live_label_values(live: Live) -> None:
    variables = variables_of(build_dashboards(live.cfg)["driftline-payments-demo-feature.json"])
    queries = variable_queries()
    expected = {
        "monitor": {"payments-demo"},
        "window": set(live.cfg.windows.tiers),
        "feature": {f.name for f in live.cfg.features},
        "segment": {*live.cfg.segments, "all"},
        "reference": {"training"},  # the demo configures no other reference
    }
    for name, values in expected.items():
        match = queries[name].removeprefix("label_values(").rsplit(",", 1)[0]
        selector = interpolate(match, variables, {"monitor": "payments-demo"})
        found = set(wait_until(
            lambda s=selector, n=name: live.prometheus.label_values(n, s, live.started),
            30, 0.5, f"values of {name}"))
        assert found == values, name


def test_promtool_accepts_the_worker_exposition(live: Live) -> None:
    text = live.exposition()
    assert "driftline_build_info" in text
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_monitor_rules_evaluate_against_the_real_exposition(live: Live) -> None:
    # The demo stalls the user_purchase_history feed on purpose: the staleness rule (joined on
    # the exporter's real labels) fires for it and nothing else; the worker is up, evaluating,
    # and its DLQ share (0.4 %) is under the 1 % warning.
    def staleness_alerts() -> list[dict[str, Any]]:
        return [a for a in live.prometheus.alerts() if a["state"] == "firing"
                and a["labels"]["alertname"] == "DriftlineStalenessPastSLA"]

    firing = wait_until(staleness_alerts, 60, 0.5, "DriftlineStalenessPastSLA firing")
    assert {a["labels"]["target"] for a in firing} == {"user_purchase_history"}
    assert all(a["labels"]["monitor"] == "payments-demo" for a in firing)
    names = {a["labels"]["alertname"] for a in live.prometheus.alerts()}
    assert names.isdisjoint({"DriftlineWorkerDown", "DriftlineNeverEvaluated", "DriftlineDLQRate",
                             "DriftlineNotificationsFailing"})
