"""Rules about the monitor itself: valid for promtool, their unit tests pass, and the unit tests
have teeth (a wrong threshold or a missing rule makes them fail)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from driftline.grafana.rules import RuleSettings, monitor_rules, render_yaml
from driftline.grafana.rules_tests import rules_unit_tests
from driftline.stream.cli import app
from driftline.stream.config.model import DriftlineConfig, load_config, parse_config
from tests.fixtures.prometheus import PROMTOOL

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "stream" / "demo" / "data" / "demo.yaml"

CONFIGS: dict[str, DriftlineConfig] = {
    "demo": load_config(DEMO),
    "tiers": parse_config({
        "monitor": "fraud",
        "features": [{"name": "amount", "type": "numeric"}],
        "windows": {"size": "5m", "allowed_lateness": "1m", "rollups": ["1h", "1d"]},
        "quality": {"invalid_ratio": {"warning": 0.02, "critical": None}},
        "alerts": {"grafana_url": "https://grafana.example.com/"},
    }),
}


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


def _write(cfg: DriftlineConfig, directory: Path, settings: RuleSettings | None = None,
           rules: dict | None = None) -> None:
    (directory / "rules.yml").write_text(render_yaml(rules or monitor_rules(cfg, settings)))
    (directory / "rules_test.yml").write_text(
        render_yaml(rules_unit_tests(cfg, "rules.yml", settings)))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_promtool_checks_and_unit_tests_pass(name: str, tmp_path: Path) -> None:
    _write(CONFIGS[name], tmp_path)
    check = _promtool("check", "rules", "rules.yml", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    test = _promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr


def test_every_rule_has_a_firing_case_in_the_unit_tests() -> None:
    cfg = CONFIGS["tiers"]
    rules = monitor_rules(cfg)["groups"][0]["rules"]
    tests = rules_unit_tests(cfg, "rules.yml")["tests"]
    fired = {
        (alert["exp_labels"]["severity"], case["alertname"], alert["exp_labels"].get("window"))
        for t in tests for case in t["alert_rule_test"] for alert in case["exp_alerts"]
    }
    for rule in rules:
        window = rule["labels"].get("window")
        if window == "1d":
            continue  # same expression as 5m/1h with a longer range (see MAX_TESTED_TIER)
        key = (rule["labels"]["severity"], rule["alert"], window)
        if rule["alert"] == "DriftlineNeverEvaluated":
            key = (rule["labels"]["severity"], rule["alert"], "5m")
        assert key in fired, f"no unit test fires {key}"
    assert {r["labels"].get("window") for r in rules if r["alert"] == "DriftlineNoEvaluation"} \
        == {"5m", "1h", "1d"}
    dashboards = {r["annotations"].get("dashboard") for r in rules}
    assert "https://grafana.example.com/d/driftline-fraud-overview" in dashboards


def test_unit_tests_catch_a_wrong_rule(tmp_path: Path) -> None:
    cfg = CONFIGS["demo"]
    rules = monitor_rules(cfg)
    for rule in rules["groups"][0]["rules"]:
        if rule["alert"] == "DriftlineDLQRate" and rule["labels"]["severity"] == "critical":
            rule["expr"] = rule["expr"].rsplit(">", 1)[0] + "> 0.5"  # too lax: misses 20%
    _write(cfg, tmp_path, rules=rules)
    test = _promtool("test", "rules", "rules_test.yml", cwd=tmp_path)
    assert test.returncode != 0
    assert "DriftlineDLQRate" in test.stdout + test.stderr

    rules = monitor_rules(cfg)
    rules["groups"][0]["rules"] = [
        r for r in rules["groups"][0]["rules"] if r["alert"] != "DriftlineWorkerDown"]
    _write(cfg, tmp_path, rules=rules)
    assert _promtool("test", "rules", "rules_test.yml", cwd=tmp_path).returncode != 0


def test_cli_writes_rules_and_their_tests(tmp_path: Path) -> None:
    out = tmp_path / "rules" / "driftline.rules.yml"
    tests = tmp_path / "tests" / "driftline.rules_test.yml"
    result = CliRunner().invoke(app, [
        "prometheus", "rules", "-c", str(DEMO), "--out", str(out), "--tests", str(tests),
        "--job", "workers", "--missed-windows", "4"])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(out.read_text())
    exprs = [r["expr"] for r in doc["groups"][0]["rules"]]
    assert any('up{job="workers"}' in e for e in exprs)
    assert yaml.safe_load(tests.read_text())["rule_files"] == ["../rules/driftline.rules.yml"]
    test = _promtool("test", "rules", str(tests), cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr
