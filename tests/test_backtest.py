"""Baseline build + backtest end to end through the CLI: a shift injected into one feature of
one cohort at a known time is found there, from the right window on, and nowhere else."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from driftline.stream.cli import EXIT_CHECK_FAILED, EXIT_OK, app
from driftline.stream.sources.backtest import run_backtest
from driftline.stream.sources.baselines import build_baseline, load_baseline, save_baseline
from tests.test_engine_support import T0, columns, config_dict, small_config, to_records

SHIFT_AT = T0 + 180  # the start of the 4th minute
RATE = 50.0


def _table(cols: dict[str, np.ndarray]) -> pa.Table:
    data = {("model.score" if k == "score" else k): (v.tolist() if v.dtype == object else v)
            for k, v in cols.items()}
    return pa.table(data)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("backtest")
    (d / "driftline.yaml").write_text(yaml.safe_dump(config_dict()))
    train = columns(30_000, seed=1, rate=RATE, t0=T0 - 86_400)
    pacsv.write_csv(_table(train), d / "train.csv")
    events = columns(18_000, seed=2, rate=RATE, shift=1.0, shift_from=SHIFT_AT,
                     shift_region="latam")
    (d / "events.jsonl").write_bytes(b"\n".join(to_records(events)) + b"\n")
    pq.write_table(_table(events), d / "events.parquet")
    save_baseline(build_baseline(small_config(), d / "train.csv", min_cohort_rows=2000),
                  d / "b.dlb")
    return d


def _cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


def test_baseline_build_reports_rows_cohorts_and_size(workdir: Path) -> None:
    code, out = _cli("baseline", "build", "-c", str(workdir / "driftline.yaml"),
                     "--data", str(workdir / "train.csv"), "-o", str(workdir / "cli.dlb"),
                     "--min-cohort-rows", "2000")
    assert code == EXIT_OK, out
    assert "rows: 30000" in out
    assert "region=latam" in out and "device=web" in out
    base = load_baseline(workdir / "cli.dlb")
    assert base.rows == 30_000 and ("region", "latam") in base.cohorts
    assert base.meta["span_seconds"] == pytest.approx(30_000 / RATE)
    assert f"size: {(workdir / 'cli.dlb').stat().st_size} bytes" in out


def _drifting(report: dict) -> set[tuple[float, str, str, str]]:
    return {(w["start_ts"] - T0, c["segment"], c["cohort"], f["name"])
            for w in report["windows"] for c in w["cohorts"] for f in c["features"]
            if f["status"] == "drift"}


def test_backtest_finds_the_injected_shift_exactly_and_fails_on_critical(workdir: Path) -> None:
    base_args = ["backtest", "-c", str(workdir / "driftline.yaml"),
                 "--baseline", str(workdir / "b.dlb"), "--events", str(workdir / "events.jsonl")]
    out_path = workdir / "report.json"
    code, out = _cli(*base_args, "--out", str(out_path), "--fail-on", "critical")
    assert code == EXIT_CHECK_FAILED, out
    report = json.loads(out_path.read_text())
    assert report["monitor"] == "test-model"
    assert [w["start_ts"] - T0 for w in report["windows"]] == [0, 60, 120, 180, 240, 300]
    assert _drifting(report) == {(t, "region", "latam", "x") for t in (180.0, 240.0, 300.0)}
    first = report["windows"][0]
    glob = first["cohorts"][0]
    assert (glob["segment"], glob["cohort"], glob["n"]) == ("all", "all", 3000)
    feat = glob["features"][0]
    for key in ("name", "type", "n", "null_ratio", "psi", "ks", "js", "wasserstein", "chi2",
                "p_value", "status"):
        assert key in feat
    fired = [a for a in report["alerts"] if a["state"] == "firing"]
    assert {(a["check"], a["feature"], a["segment"], a["cohort"]) for a in fired} == {
        ("drift", "x", "region", "latam")}
    assert fired[0]["severity"] == "critical" and fired[0]["window_end"] == SHIFT_AT + 60
    for key in ("check", "feature", "segment", "cohort", "severity", "state", "window_end",
                "value", "threshold"):
        assert key in fired[0]
    code, out = _cli(*base_args, "--out", str(out_path))
    assert code == EXIT_OK, out


def test_parquet_and_jsonl_replays_agree(workdir: Path) -> None:
    cfg = small_config()
    base = load_baseline(workdir / "b.dlb")
    a = run_backtest(cfg, base, workdir / "events.jsonl", alerting=False)
    b = run_backtest(cfg, base, workdir / "events.parquet", alerting=False)
    assert _drifting(a) == _drifting(b)
    counts = [[c["n"] for c in w["cohorts"]] for w in a["windows"]]
    assert counts == [[c["n"] for c in w["cohorts"]] for w in b["windows"]]
    psi_a = [f["psi"] for w in a["windows"] for c in w["cohorts"] for f in c["features"]]
    psi_b = [f["psi"] for w in b["windows"] for c in w["cohorts"] for f in c["features"]]
    assert psi_a == pytest.approx(psi_b, rel=1e-9)


def test_csv_files_read_text_columns_with_the_stream_rules(tmp_path: Path) -> None:
    from driftline.stream.decode.decoder import Decoder
    from driftline.stream.sources.files import read_events

    path = tmp_path / "events.csv"
    path.write_text(
        "ts,amount,x,merchant,channel,region,device,unused\n"
        f"{T0:.0f},12.5,1.0,7,app,eu,ios,a\n"
        f"{T0 + 1:.0f},twelve,2.0,7,app,eu,ios,1\n"
        f"{T0 + 2:.0f},,3.0,8,web,us,web,b\n"
        f"2023-11-14T22:00:03Z,4,4.0,8,web,us,web,c\n"
        f",5,5.0,8,web,us,web,d\n")
    d = read_events(path, Decoder.from_config(small_config()))
    assert d.n == 4 and [(dl.index, dl.reason) for dl in d.dead_letters] == [
        (4, "missing_event_time")]
    assert d.event_time.tolist() == [T0, T0 + 1, T0 + 2, T0 + 3]
    amount = d.numeric["amount"]
    assert amount.invalid.tolist() == [False, True, False, False]
    assert amount.null.tolist() == [False, False, True, False]
    assert d.numeric["score"].null.all()  # model.score is not in the file: nulls
    merchant = d.categorical["merchant"]
    assert [merchant.labels[c] for c in merchant.codes] == ["7", "7", "8", "8"]
