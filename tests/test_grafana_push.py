"""``driftline grafana push`` against a local server answering like Grafana's HTTP API:
folder, overwrite, token from the environment and never shown, retries on 429/5xx."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from driftline.grafana.dashboards import build_dashboards
from driftline.grafana.push import GrafanaPusher, PushError
from driftline.stream.cli import app
from driftline.stream.config.model import load_config
from tests.fixtures.grafana_receiver import GrafanaReceiver

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "stream" / "demo" / "data" / "demo.yaml"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def _push(receiver: GrafanaReceiver, *extra: str, token: str | None = None):  # type: ignore[no-untyped-def]
    env = {"GRAFANA_TOKEN": receiver.token if token is None else token}
    return CliRunner().invoke(
        app, ["grafana", "push", "-c", str(DEMO), "--url", receiver.url, *extra], env=env)


def test_push_saves_every_dashboard_into_the_folder_and_overwrites(
    grafana_receiver: GrafanaReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    first = _push(grafana_receiver, "--folder", "ML monitors")
    assert first.exit_code == 0, first.output
    expected = build_dashboards(load_config(DEMO))
    assert set(grafana_receiver.dashboards) == {d["uid"] for d in expected.values()}
    folder = grafana_receiver.folders["ml-monitors"]
    assert folder["title"] == "ML monitors"
    for d in expected.values():
        saved = grafana_receiver.dashboards[d["uid"]]
        assert saved["folderUid"] == "ml-monitors" and saved["overwrite"] is True
        assert saved["dashboard"] == {**d, "id": None}
        assert saved["version"] == 1
    saves = [r for r in grafana_receiver.requests if r.path == "/api/dashboards/db"]
    assert all(r.headers["authorization"] == f"Bearer {grafana_receiver.token}" for r in saves)

    second = _push(grafana_receiver, "--folder", "ML monitors")
    assert second.exit_code == 0, second.output
    assert {d["version"] for d in grafana_receiver.dashboards.values()} == {2}
    assert len(grafana_receiver.folders) == 1  # found by uid, not created again
    assert "version 2 in folder ml-monitors" in second.output

    shown = first.output + second.output + caplog.text
    assert grafana_receiver.token not in shown


def test_push_uses_an_existing_folder_found_by_title(grafana_receiver: GrafanaReceiver) -> None:
    grafana_receiver.folders["abc123"] = {"id": 99, "uid": "abc123", "title": "driftline"}
    result = _push(grafana_receiver)
    assert result.exit_code == 0, result.output
    assert {d["folderUid"] for d in grafana_receiver.dashboards.values()} == {"abc123"}


def test_push_needs_the_token_from_the_environment(grafana_receiver: GrafanaReceiver) -> None:
    missing = _push(grafana_receiver, token="")
    assert missing.exit_code == 2
    assert "GRAFANA_TOKEN" in missing.output
    assert grafana_receiver.requests == []

    wrong = _push(grafana_receiver, token="glsa_not-the-right-one")
    assert wrong.exit_code == 3
    assert "401" in wrong.output and "invalid API key" in wrong.output
    assert "glsa_not-the-right-one" not in wrong.output
    assert grafana_receiver.dashboards == {}


def test_push_reads_a_custom_token_variable_and_pushes_files(
    grafana_receiver: GrafanaReceiver, tmp_path: Path
) -> None:
    data = next(iter(build_dashboards(load_config(DEMO)).values()))
    (tmp_path / "one.json").write_text(json.dumps({**data, "title": "edited by hand"}))
    result = CliRunner().invoke(
        app,
        ["grafana", "push", "-c", str(DEMO), "--url", grafana_receiver.url,
         "--token-env", "MY_GRAFANA_SA", "--from", str(tmp_path)],
        env={"MY_GRAFANA_SA": grafana_receiver.token, "GRAFANA_TOKEN": ""},
    )
    assert result.exit_code == 0, result.output
    assert [d["title"] for d in grafana_receiver.dashboards.values()] == ["edited by hand"]


def test_push_retries_server_errors_and_honours_retry_after(
    grafana_receiver: GrafanaReceiver,
) -> None:
    dashboards = list(build_dashboards(load_config(DEMO)).values())
    pusher = GrafanaPusher(grafana_receiver.url, grafana_receiver.token, backoff=0.05)
    grafana_receiver.fail_next(503, times=2)
    pusher.push(dashboards[:1])
    assert len(grafana_receiver.dashboards) == 1

    grafana_receiver.fail_next(429, times=1, retry_after="1")
    started = time.monotonic()
    pusher.push(dashboards[1:2])
    waited = time.monotonic() - started
    assert len(grafana_receiver.dashboards) == 2
    assert waited >= 1.0, "Retry-After: 1 must be honoured"

    grafana_receiver.fail_next(500, times=10)
    with pytest.raises(PushError, match="500"):
        pusher.push(dashboards[2:])
    assert grafana_receiver.token not in repr(pusher)


def test_push_to_an_unreachable_grafana_fails_cleanly(grafana_receiver: GrafanaReceiver) -> None:
    from tests.fixtures.prometheus import free_port

    result = CliRunner().invoke(
        app, ["grafana", "push", "-c", str(DEMO), "--url", f"http://127.0.0.1:{free_port()}"],
        env={"GRAFANA_TOKEN": grafana_receiver.token})
    assert result.exit_code == 3
    assert "push failed" in result.output
    assert grafana_receiver.token not in result.output
