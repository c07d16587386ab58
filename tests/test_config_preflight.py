"""The offline checks ``check-config`` shares with ``run`` and ``backtest``: the baseline file,
secret environment variables, the metrics port and the state directory. Each fails both
commands with exit 2 and the same single line (``run`` never gets to Kafka)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from driftline.stream.cli import EXIT_CONFIG, EXIT_OK, app
from driftline.stream.config.model import parse_config
from driftline.stream.sources.baselines import build_baseline, save_baseline
from tests.test_config_cases import base_config, problems


@pytest.fixture(scope="module")
def baselines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """good.dlb for base_config(), other.dlb for other features, typed.dlb with merchant numeric,
    corrupt.dlb (one flipped byte) and text.dlb (not a baseline at all)."""
    d = tmp_path_factory.mktemp("baselines")
    rows = [{"ts": i, "amount": i % 97, "merchant": f"m{i % 5}", "amount_usd": i % 13,
             "region": "eu"} for i in range(2000)]
    (d / "train.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows))

    def build(name: str, features: list[dict[str, Any]]) -> None:
        cfg = parse_config({**base_config(), "features": features})
        save_baseline(build_baseline(cfg, d / "train.jsonl"), d / name)

    build("good.dlb", base_config()["features"])
    build("other.dlb", [{"name": "amount_usd", "type": "numeric"},
                        {"name": "merchant", "type": "categorical"}])
    build("typed.dlb", [{"name": "amount", "type": "numeric"},
                        {"name": "merchant", "type": "numeric"}])
    data = bytearray((d / "good.dlb").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "corrupt.dlb").write_bytes(bytes(data))
    (d / "text.dlb").write_text("hello\n" * 10)
    return d


def _write(tmp_path: Path, **updates: Any) -> Path:
    cfg = {**base_config(), "state_dir": str(tmp_path / "state"), **updates}
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args), env=env)
    assert "Traceback" not in res.output
    return res.exit_code, res.output


def _both(path: Path, env: dict[str, str] | None = None) -> list[tuple[int, list[str]]]:
    """(exit code, problem lines) of check-config and of run on the same file."""
    out = []
    for cmd in ("check-config", "run"):
        code, text = _cli(cmd, "-c", str(path), env=env)
        out.append((code, problems(text)))
    return out


REBUILD = "rebuild it with `driftline baseline build`"


@pytest.mark.parametrize(("name", "line"), [
    ("missing.dlb", "baseline: cannot read baseline {d}/missing.dlb: No such file or directory; "
                    "build one with `driftline baseline build`"),
    ("corrupt.dlb", "baseline: {d}/corrupt.dlb is not a usable driftline baseline: corrupt "
                    "baseline blob: checksum mismatch; build one with `driftline baseline build`"),
    ("text.dlb", "baseline: {d}/text.dlb is not a usable driftline baseline: not a driftline "
                 "baseline blob (bad magic b'hell'); build one with `driftline baseline build`"),
    ("typed.dlb", "features.1.type: 'merchant' is categorical here but numeric in the baseline "
                  "{d}/typed.dlb; " + REBUILD),
])
def test_a_baseline_run_cannot_use_fails_check_config_and_run_alike(
        tmp_path: Path, baselines: Path, name: str, line: str) -> None:
    path = _write(tmp_path, baseline=str(baselines / name))
    expected = line.format(d=baselines)
    assert _both(path) == [(EXIT_CONFIG, [expected]), (EXIT_CONFIG, [expected])]


def test_a_baseline_built_for_other_features_names_both_sides(
        tmp_path: Path, baselines: Path) -> None:
    path = _write(tmp_path, baseline=str(baselines / "other.dlb"))
    other = baselines / "other.dlb"
    lines = [f"baseline: {other} has no profile of the configured features ['amount']; {REBUILD}",
             f"baseline: {other} was built with features ['amount_usd'] that are not "
             f"configured; {REBUILD} (or configure them)"]
    assert _both(path) == [(EXIT_CONFIG, lines), (EXIT_CONFIG, lines)]


def test_a_matching_baseline_passes(tmp_path: Path, baselines: Path) -> None:
    code, out = _cli("check-config", "-c", str(_write(tmp_path,
                                                      baseline=str(baselines / "good.dlb"))))
    assert code == EXIT_OK, out
    assert "warning" not in out


def test_missing_secret_environment_variables_are_named_never_their_values(
        tmp_path: Path) -> None:
    kafka = {**base_config()["source"]["kafka"], "security_protocol": "SASL_PLAINTEXT",
             "sasl_mechanism": "SCRAM-SHA-256", "sasl_username": "u",
             "sasl_password_env": "DL_TEST_KAFKA_PASSWORD"}
    path = _write(tmp_path, source={"kafka": kafka}, alerts={"channels": {
        "pd": {"type": "pagerduty", "routing_key_env": "DL_TEST_PD_KEY"},
        "hook": {"type": "webhook", "url": "http://127.0.0.1:1/x",
                 "headers_env": {"Authorization": "DL_TEST_HOOK_TOKEN"}}}})
    env = {k: v for k, v in os.environ.items() if not k.startswith("DL_TEST_")}
    env["DL_TEST_HOOK_TOKEN"] = "s3cr3t-token"
    lines = [
        "alerts.channels.pd.routing_key_env: environment variable DL_TEST_PD_KEY is not set; "
        "export it",
        "source.kafka.sasl_password_env: environment variable DL_TEST_KAFKA_PASSWORD is not "
        "set; export it",
    ]
    assert _both(path, env) == [(EXIT_CONFIG, lines), (EXIT_CONFIG, lines)]
    code, out = _cli("check-config", "-c", str(path), "--skip-environment", env=env)
    assert code == EXIT_OK and "s3cr3t" not in out


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_a_metrics_port_in_use_warns_at_check_config_and_stops_run(
        tmp_path: Path, taken_port: int) -> None:
    path = _write(tmp_path, metrics={"listen": f"127.0.0.1:{taken_port}"})
    line = (f"metrics.listen: 127.0.0.1:{taken_port} is already in use (another worker or "
            "exporter?); choose a free port, or null to disable /metrics")
    code, out = _cli("check-config", "-c", str(path))
    assert code == EXIT_OK and f"warning: {line}" in out
    assert _both(path)[1] == (EXIT_CONFIG, [line])


def test_a_listen_host_that_does_not_resolve(tmp_path: Path) -> None:
    path = _write(tmp_path, metrics={"listen": "no-such-host.invalid:9108"})
    code, out = _cli("run", "-c", str(path))
    assert code == EXIT_CONFIG
    [line] = problems(out)
    assert line.startswith("metrics.listen: cannot resolve host 'no-such-host.invalid'")


def test_a_state_dir_that_cannot_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    path = _write(tmp_path, state_dir=str(tmp_path / "file" / "state"))
    line = f"state_dir: {tmp_path / 'file'} is not a directory; point state_dir at a directory"
    assert _both(path) == [(EXIT_CONFIG, [line]), (EXIT_CONFIG, [line])]


def test_run_needs_source_kafka_and_check_config_says_so(tmp_path: Path) -> None:
    path = _write(tmp_path, source={"event_time": {"field": "ts"}})
    line = ("source.kafka: not set; `driftline run` needs it (bootstrap_servers and topics), "
            "backtest and baseline build do not")
    code, out = _cli("check-config", "-c", str(path))
    assert code == EXIT_OK and f"warning: {line}" in out
    assert _both(path)[1] == (EXIT_CONFIG, [line])


def test_backtest_user_errors_exit_2_with_one_line_each(tmp_path: Path, baselines: Path) -> None:
    path = _write(tmp_path, baseline=str(baselines / "typed.dlb"))
    missing = tmp_path / "events.jsonl"
    code, out = _cli("backtest", "-c", str(path), "--events", str(missing),
                     "-o", str(tmp_path / "r.json"))
    assert code == EXIT_CONFIG
    assert problems(out) == [
        f"features.1.type: 'merchant' is categorical here but numeric in the baseline "
        f"{baselines / 'typed.dlb'}; {REBUILD}",
        f"--events: {missing}: no such file",
    ]
    code, out = _cli("backtest", "-c", str(path), "--events", str(tmp_path / "e.txt"),
                     "--baseline", str(baselines / "good.dlb"), "-o", str(tmp_path / "r.json"))
    assert code == EXIT_CONFIG
    assert problems(out) == [f"--events: {tmp_path / 'e.txt'}: unknown file type (expected "
                             ".jsonl, .csv, .parquet or .avro)"]


def test_tls_files_are_checked_offline(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    kafka = {**base_config()["source"]["kafka"], "security_protocol": "SSL",
             "ssl_cafile": str(tmp_path / "ca.pem")}
    code, out = _cli("check-config", "-c", str(_write(tmp_path, source={"kafka": kafka})))
    assert code == EXIT_CONFIG
    [line] = problems(out)
    assert line.startswith("source.kafka: cannot load the TLS files (ssl_cafile, ssl_certfile, "
                           "ssl_keyfile, ssl_password_env): [X509")
    kafka["ssl_cafile"] = str(tmp_path / "missing.pem")
    code, out = _cli("run", "-c", str(_write(tmp_path, source={"kafka": kafka})))
    assert code == EXIT_CONFIG
    assert problems(out) == [f"source.kafka.ssl_cafile: cannot read {tmp_path / 'missing.pem'}"]
