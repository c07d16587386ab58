"""The command line loads only what a command uses: ``--help``, ``check-config`` and
``backtest`` never import the Kafka clients, faust, the Grafana client or ``scipy.stats``
(which alone takes about a second). Checked in a fresh interpreter through ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from driftline.stream.sources.baselines import build_baseline, save_baseline
from tests.test_engine_support import T0, columns, config_dict, small_config, to_records

FORBIDDEN = ("kafka", "aiokafka", "faust", "scipy.stats", "driftline.stream.kafka",
             "driftline.grafana", "grafana")

_PROBE = """
import json, sys
from typer.testing import CliRunner
from driftline.stream.cli import app
res = CliRunner().invoke(app, sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"kafka", "aiokafka", "faust",
                "grafana"} or m == "scipy.stats" or m.startswith(("driftline.stream.kafka",
                "driftline.grafana")))
print(json.dumps({"code": res.exit_code, "loaded": loaded, "out": res.output}))
"""


def _run(*args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True,
                          text=True, timeout=120, check=True)
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_import_and_help_load_no_kafka_faust_or_scipy_stats() -> None:
    res = _run("--help")
    assert res["code"] == 0 and "backtest" in str(res["out"])
    assert res["loaded"] == []


def test_check_config_and_backtest_load_no_kafka_faust_or_scipy_stats(tmp_path: Path) -> None:
    cfg = tmp_path / "driftline.yaml"
    cfg.write_text(yaml.safe_dump(config_dict()))
    train = tmp_path / "train.jsonl"
    train.write_bytes(b"\n".join(to_records(columns(3_000, seed=1, t0=T0 - 86_400))) + b"\n")
    save_baseline(build_baseline(small_config(), train, min_cohort_rows=500), tmp_path / "b.dlb")
    events = tmp_path / "events.jsonl"
    cols = columns(2_000, seed=2)
    events.write_bytes(b"\n".join(to_records(cols)) + b"\n")
    res = _run("check-config", "-c", str(cfg))
    assert res["code"] == 0 and res["loaded"] == []
    out = tmp_path / "report.json"
    res = _run("backtest", "-c", str(cfg), "--events", str(events), "--baseline",
               str(tmp_path / "b.dlb"), "-o", str(out))
    assert res["code"] == 0, res["out"]
    assert res["loaded"] == []
    report = json.loads(out.read_text())
    assert report["input"]["events"] == int(np.asarray(cols["ts"]).shape[0])


def test_streamed_report_parses_back_to_the_report(tmp_path: Path) -> None:
    """The report written window by window parses back to exactly the report dict."""
    from driftline.stream.cli.engine_common import write_report

    report = {"input": {"events": 3, "dead_letters": {}}, "windows": [
        {"start": "a", "cohorts": [{"n": 1, "x": [1.5, None]}]}, {"start": "b", "cohorts": []}],
        "alerts": [], "empty": []}
    path = tmp_path / "r" / "report.json"
    write_report(report, path)
    assert json.loads(path.read_text()) == report
    write_report({**report, "windows": []}, path)
    assert json.loads(path.read_text())["windows"] == []
