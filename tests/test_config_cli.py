"""``driftline check-config`` and ``driftline config schema``."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from driftline.stream.cli import EXIT_CONFIG, EXIT_OK, app
from tests.test_engine_support import config_dict


def _check(tmp_path: Path, data: object) -> tuple[int, str]:
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump(data))
    res = CliRunner().invoke(app, ["check-config", "-c", str(path)])
    return res.exit_code, res.output


def test_a_valid_config_passes(tmp_path: Path) -> None:
    code, out = _check(tmp_path, config_dict())
    assert code == EXIT_OK, out
    assert "test-model" in out and "5 features" in out


def test_errors_name_the_field_the_value_and_what_is_valid(tmp_path: Path) -> None:
    data = config_dict()
    data["features"][0]["type"] = "numberish"
    data["windows"] = {"size": "5m", "rollups": ["7m"]}
    data["max_cohorts_per_segment"] = 0
    data["drfit"] = {"metric": "psi"}
    code, out = _check(tmp_path, data)
    assert code == EXIT_CONFIG
    assert "features.0.type" in out and "'numberish'" in out and "'numeric'" in out
    assert "rollup 7m must be a multiple of the window size 5m" in out
    assert "max_cohorts_per_segment: must be >= 1 (got 0)" in out
    assert "drfit: unknown field" in out


def test_unreadable_and_non_yaml_files_exit_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["check-config", "-c", str(tmp_path / "missing.yaml")])
    assert res.exit_code == EXIT_CONFIG and "cannot read" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("monitor: [unclosed\n")
    res = CliRunner().invoke(app, ["check-config", "-c", str(bad)])
    assert res.exit_code == EXIT_CONFIG and "not valid YAML" in res.output


def test_config_schema_is_the_json_schema_of_the_config() -> None:
    res = CliRunner().invoke(app, ["config", "schema"])
    assert res.exit_code == EXIT_OK
    schema = json.loads(res.output)
    assert schema["title"] == "DriftlineConfig"
    assert {"monitor", "features", "windows", "drift", "alerts"} <= set(schema["properties"])
    assert set(schema["required"]) >= {"monitor", "features"}


def test_every_config_field_is_described_in_the_reference() -> None:
    import re

    from driftline.stream.config.reference import render_reference

    rows = [re.split(r"(?<!\\)\|", r) for r in render_reference().splitlines()[2:]]
    assert all(len(r) == 6 for r in rows)
    undescribed = [r[1].strip() for r in rows if not r[4].strip()]
    assert len(rows) > 150 and undescribed == []
