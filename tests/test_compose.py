"""docker-compose.yml cannot be run here (no Docker daemon): check that it is valid, that every
file it mounts or builds exists, that the generated files it mounts are exactly what the code
generates today, and that the services agree with each other (addresses, ports, uids, paths,
secrets) — so ``docker compose up`` gets a consistent stack."""

from __future__ import annotations

import filecmp
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from driftline.grafana.dashboards import build_dashboards
from driftline.stream.cli import app
from driftline.stream.config.contract import DATASOURCE_UID
from driftline.stream.config.model import load_config
from tests.fixtures.prometheus import PROMTOOL

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
DEPLOY = REPO / "deploy"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _binds(service: dict[str, Any]) -> list[tuple[Path, str]]:
    out = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            out.append(((REPO / source).resolve(), target))
    return out


def _target(service: dict[str, Any], path: Path) -> str:
    """Where a repository path appears inside the service's container."""
    for source, target in _binds(service):
        if path.resolve() == source or source in path.resolve().parents:
            rest = str(path.resolve().relative_to(source))
            return target if rest == "." else f"{target}/{rest}"
    raise AssertionError(f"{path} is not mounted into the service")


def test_compose_file_is_valid_for_docker_compose() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.fail("docker-compose is not installed: run scripts/setup-test-env.sh")
    env = {**os.environ, "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x",
           "PD_ROUTING_KEY": "r" * 32}
    result = subprocess.run([tool, "-f", str(COMPOSE), "config", "-q"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_every_mounted_or_built_file_exists(compose: dict[str, Any]) -> None:
    expected = {"kafka", "producer", "driftline", "prometheus", "alertmanager", "grafana"}
    assert expected <= set(compose["services"])
    for name, service in compose["services"].items():
        for source, _ in _binds(service):
            assert source.exists(), f"{name} mounts missing {source}"
        build = service.get("build")
        if build:
            context = REPO / build["context"]
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
    dockerfile = (REPO / "Dockerfile").read_text()
    for src in re.findall(r"^COPY (?!--)(.+?) \S+$", dockerfile, re.M):
        for part in src.split():
            assert (REPO / part).exists(), f"Dockerfile copies missing {part}"
    ignored = (REPO / ".dockerignore").read_text()
    for package in ("sketches", "stream", "alerts", "grafana"):
        assert f"!{package}/" in ignored
    assert 'ENTRYPOINT ["driftline"]' in dockerfile


def test_mounted_generated_files_match_what_the_code_generates(tmp_path: Path) -> None:
    env = {**os.environ, "DRIFTLINE_BIN": str(REPO / ".venv" / "bin" / "driftline")}
    copy = tmp_path / "repo"
    (copy / "deploy").mkdir(parents=True)
    shutil.copy(DEPLOY / "generate.sh", copy / "deploy")
    shutil.copy(DEPLOY / "driftline.yaml", copy / "deploy")
    (copy / ".venv").symlink_to(REPO / ".venv")
    subprocess.run(["bash", "deploy/generate.sh"], cwd=copy, env=env, check=True,
                   capture_output=True, timeout=120)
    for generated in ("grafana/dashboards", "grafana/provisioning/datasources",
                      "grafana/provisioning/dashboards", "prometheus/rules"):
        fresh, committed = copy / "deploy" / generated, DEPLOY / generated
        names = sorted(p.name for p in fresh.iterdir())
        assert names == sorted(p.name for p in committed.iterdir()), generated
        match, mismatch, errors = filecmp.cmpfiles(fresh, committed, names, shallow=False)
        assert not mismatch and not errors, (
            f"deploy/{generated} is out of date ({mismatch + errors}): run deploy/generate.sh")


def test_prometheus_scrapes_the_worker_and_loads_the_rules(compose: dict[str, Any]) -> None:
    cfg = load_config(DEPLOY / "driftline.yaml")
    prom_service = compose["services"]["prometheus"]
    config_path = DEPLOY / "prometheus" / "prometheus.yml"
    assert f"--config.file={_target(prom_service, config_path)}" in prom_service["command"]
    check = subprocess.run([PROMTOOL, "check", "config", str(config_path)], capture_output=True,
                           text=True, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    prom = yaml.safe_load(config_path.read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "driftline")
    port = cfg.metrics.host_port[1] if cfg.metrics.host_port else None
    assert job["static_configs"][0]["targets"] == [f"driftline:{port}"]
    assert cfg.metrics.host_port and cfg.metrics.host_port[0] == "0.0.0.0"
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules" / "driftline.rules.yml").read_text())
    assert any('up{job="driftline"}' in r["expr"] for r in rules["groups"][0]["rules"])
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"]
    test = subprocess.run(
        [PROMTOOL, "test", "rules", str(DEPLOY / "prometheus" / "rules" /
                                        "driftline.rules_test.yml")],
        capture_output=True, text=True, timeout=60, check=False)
    assert test.returncode == 0, test.stdout + test.stderr


def test_alertmanager_routes_by_severity_with_secrets_from_env(compose: dict[str, Any]) -> None:
    path = DEPLOY / "alertmanager" / "alertmanager.yml"
    check = subprocess.run([AMTOOL, "check-config", str(path)], capture_output=True, text=True,
                           timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr

    def route(severity: str) -> str:
        out = subprocess.run(
            [AMTOOL, "config", "routes", "test", f"--config.file={path}", f"severity={severity}"],
            capture_output=True, text=True, timeout=60, check=True)
        return out.stdout.strip()

    assert route("critical") == "pagerduty,slack"
    assert route("warning") == "slack"
    am = yaml.safe_load(path.read_text())
    files = [c["api_url_file"] for r in am["receivers"] for c in r.get("slack_configs", [])]
    files += [c["routing_key_file"] for r in am["receivers"]
              for c in r.get("pagerduty_configs", [])]
    service = compose["services"]["alertmanager"]
    script = " ".join(service["command"])
    for env_name, file in zip(("SLACK_WEBHOOK_URL", "PD_ROUTING_KEY"), files, strict=True):
        assert f'"$${env_name}" > {file}' in script
        assert service["environment"][env_name] == f"${{{env_name}:-}}"
    assert "hooks.slack.com" not in path.read_text() and "routing_key:" not in path.read_text()
    assert f"--config.file={_target(service, path)}" in script


def test_grafana_provisioning_points_at_prometheus_and_the_dashboards(
    compose: dict[str, Any],
) -> None:
    grafana = compose["services"]["grafana"]
    prov = DEPLOY / "grafana" / "provisioning"
    assert _target(grafana, prov / "datasources") == "/etc/grafana/provisioning/datasources"
    ds = yaml.safe_load((prov / "datasources" / "driftline.yaml").read_text())["datasources"][0]
    assert ds["url"] == "http://prometheus:9090" and ds["uid"] == DATASOURCE_UID
    provider = yaml.safe_load((prov / "dashboards" / "driftline.yaml").read_text())["providers"][0]
    dash_dir = DEPLOY / "grafana" / "dashboards"
    assert provider["options"]["path"].rstrip("/") == _target(grafana, dash_dir).rstrip("/")
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    cfg = load_config(DEPLOY / "driftline.yaml")
    names = set(build_dashboards(cfg))
    assert Path(home).name in names and Path(home).parent == Path(provider["options"]["path"])
    assert "prometheus" in compose["services"]


def test_worker_config_matches_the_services(compose: dict[str, Any]) -> None:
    cfg = load_config(DEPLOY / "driftline.yaml")
    kafka_env = compose["services"]["kafka"]["environment"]
    assert cfg.kafka.bootstrap == [kafka_env["KAFKA_ADVERTISED_LISTENERS"].split("//")[1]]
    channel = cfg.alerts.channels["alertmanager"]
    assert channel.url == "http://alertmanager:9093"  # type: ignore[union-attr]
    worker = compose["services"]["driftline"]
    config_path = _target(worker, DEPLOY / "driftline.yaml")
    assert worker["command"] == ["run", "-c", config_path]
    data_volume = next(v for v in worker["volumes"] if not v.startswith("."))
    assert str(cfg.baseline).startswith(data_volume.split(":")[1])
    assert str(cfg.state_path).startswith(data_volume.split(":")[1])
    assert f"{cfg.metrics.host_port[1]}:" in worker["ports"][0]  # type: ignore[index]


def _driftline_invocations(service: dict[str, Any]) -> list[list[str]]:
    """The driftline command lines a service runs (its command, or inside its sh -c script)."""
    command = service["command"]
    if service.get("entrypoint") == ["/bin/sh", "-c"]:
        script = " ".join(command) if isinstance(command, list) else command
        lines = []
        for part in re.split(r"&&|;", script):
            words = shlex.split(part.replace("$$", "$"))
            if "driftline" in words:
                lines.append(words[words.index("driftline") + 1:])
        return lines
    return [command if isinstance(command, list) else shlex.split(command)]


def test_every_driftline_command_in_compose_exists(compose: dict[str, Any]) -> None:
    runner = CliRunner()
    seen = set()
    for name, service in compose["services"].items():
        if service.get("image") != "driftline:local":
            continue
        for words in _driftline_invocations(service):
            sub = words[:1]
            result = runner.invoke(app, [*sub, "--help"])
            if "Commands" in result.output:  # a command group: the next word is the command
                sub = words[:2]
                result = runner.invoke(app, [*sub, "--help"])
            assert result.exit_code == 0, f"{name}: driftline {' '.join(sub)} does not exist"
            for option in (w.split("=")[0] for w in words if w.startswith("-")):
                assert option in result.output, f"{name}: {option} is not an option of {sub}"
            seen.add(" ".join(sub))
    assert {"run", "baseline build", "produce"} <= seen


def test_demo_data_feeds_the_baseline_and_the_producer(tmp_path: Path) -> None:
    script = DEPLOY / "demo_data.py"
    py = str(REPO / ".venv" / "bin" / "python")
    train, events = tmp_path / "train.jsonl", tmp_path / "events.jsonl"
    subprocess.run([py, str(script), "training", str(train), "5000"], check=True, timeout=120)
    out = subprocess.run([py, str(script), "events", str(events), "2"], check=True,
                         capture_output=True, text=True, timeout=120)
    cfg = load_config(DEPLOY / "driftline.yaml")
    rate = float(out.stdout.strip())
    lines = events.read_bytes().splitlines()
    assert rate * cfg.windows.size * 2 == pytest.approx(len(lines), rel=0.02)
    first = json.loads(next(line for line in lines if line.startswith(b'{"ts"')))
    assert abs(first["ts"] - time.time()) < cfg.windows.size + 60  # event time is now
    result = CliRunner().invoke(app, [
        "baseline", "build", "-c", str(DEPLOY / "driftline.yaml"), "--data", str(train),
        "-o", str(tmp_path / "baseline.dlb"), "--min-cohort-rows", "500"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "baseline.dlb").stat().st_size > 0
