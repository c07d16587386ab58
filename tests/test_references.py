"""References besides the training baseline, in backtests on generated data: a trailing
reference catches a sudden jump after a slow legitimate drift, a seasonal one stays quiet on a
daily cycle the training baseline pages on every night, a canary cohort is compared with the
stable one in the same window; and with all four references on, a stationary stream pages
nobody. Plus the two-sample statistics against scipy, and the reference history surviving a
restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from scipy import stats

from driftline.sketches.baseline import Baseline
from driftline.sketches.column import Column
from driftline.stream.config.model import parse_config
from driftline.stream.engine.core import Engine, RecordBatch, feature_specs
from driftline.stream.report.build import build_payload
from driftline.stream.sources.backtest import run_backtest

T0 = 1_700_006_400.0  # a midnight (UTC)


def _config(window: str, extra: dict[str, Any], segments: list[str] | None = None,
            features: list[dict[str, str]] | None = None) -> Any:
    return parse_config({
        "monitor": "refs", "source": {"event_time": {"field": "ts"}},
        "features": features or [{"name": "x", "type": "numeric"}],
        "segments": segments or [],
        "windows": {"size": window, "allowed_lateness": 0},
        "drift": {"metric": "psi", "min_samples": 200, "for_windows": 2},
        "volume": {"enabled": False}, **extra})


def _baseline(cfg: Any, cols: dict[str, np.ndarray]) -> Baseline:
    specs = feature_specs(cfg)
    return Baseline.build(specs, {s.name: Column(cols[s.name]) for s in specs})


def _write(path: Path, cols: dict[str, np.ndarray]) -> Path:
    names = list(cols)
    rows = zip(*(cols[n].tolist() for n in names), strict=True)
    path.write_bytes(b"\n".join(orjson.dumps(dict(zip(names, r, strict=True))) for r in rows))
    return path


def _firing(report: dict[str, Any], reference: str, **where: str) -> list[float]:
    """Window starts (seconds after T0) where an alert against ``reference`` started firing."""
    return sorted(a["window_start"] - T0 for a in report["alerts"]
                  if a["reference"] == reference and a["state"] == "firing"
                  and a["transition"] == "new"
                  and all(a[k] == v for k, v in where.items()))


def _times(windows: int, per: int, size: float) -> np.ndarray:
    return T0 + np.repeat(np.arange(windows) * size, per) + np.tile(
        np.linspace(0, size, per, endpoint=False), windows)


def test_trailing_catches_a_jump_after_slow_legitimate_drift(tmp_path: Path) -> None:
    # 24 windows of 2,000 events; the mean drifts 0.04 sd per window (legitimately), then jumps
    # by 1.5 sd at window 16
    rng = np.random.default_rng(11)
    per, n_win, jump = 2000, 24, 16
    w = np.repeat(np.arange(n_win), per)
    mean = 0.04 * w + np.where(w >= jump, 1.5, 0.0)
    ev = {"ts": _times(n_win, per, 60.0), "x": rng.normal(mean, 1.0)}
    cfg = _config("1m", {"references": {"trailing": {"windows": 4}}})
    base = _baseline(cfg, {"x": rng.normal(0.0, 1.0, 20_000)})
    rep = run_backtest(cfg, base, _write(tmp_path / "ev.jsonl", ev))
    # training pages long before the jump and all along; trailing only for the jump, in its
    # second window (for_windows 2), and resolves once the trailing windows hold the new level
    training = _firing(rep, "training", feature="x")
    assert len(training) == 1 and training[0] < jump * 60
    assert not [a for a in rep["alerts"] if a["reference"] == "training"
                and a["state"] == "resolved"]
    assert _firing(rep, "trailing", feature="x") == [(jump + 1) * 60.0]
    resolved = [a["window_start"] - T0 for a in rep["alerts"]
                if a["reference"] == "trailing" and a["state"] == "resolved"]
    assert len(resolved) == 1 and resolved[0] > (jump + 1) * 60
    # the report: every feature record says which reference it is against
    win = rep["windows"][jump]
    glob = win["cohorts"][0]
    assert [f["reference"] for f in glob["features"]] == ["training"]
    [trail] = glob["references"]
    assert trail["reference"] == "trailing" and trail["n"] == 4 * per
    assert trail["features"][0]["status"] == "drift"
    assert "references" not in rep["windows"][0]["cohorts"][0]  # no history yet
    # the HTML report has a row against the trailing reference; its alert points at that row
    page = build_payload(rep)
    assert page["cohorts"] == ["all=all", "all=all vs trailing"]
    assert {(a["reference"], page["cohorts"][a["ci"]]) for a in page["alerts"]} == {
        ("training", "all=all"), ("trailing", "all=all vs trailing")}


def test_seasonal_stays_quiet_on_a_daily_cycle_training_pages_every_night(
        tmp_path: Path) -> None:
    # hourly windows over 3 days; from 00:00 to 06:00 the feature is 1 sd higher every night
    rng = np.random.default_rng(12)
    per, n_win = 1000, 72
    hour = np.repeat(np.arange(n_win) % 24, per)
    ev = {"ts": _times(n_win, per, 3600.0), "x": rng.normal(np.where(hour < 6, 1.0, 0.0), 1.0)}
    cfg = _config("1h", {"references": {"seasonal": {"period": "1d"}}})
    base = _baseline(cfg, {"x": rng.normal(0.0, 1.0, 20_000)})
    rep = run_backtest(cfg, base, _write(tmp_path / "ev.jsonl", ev))
    assert _firing(rep, "training", feature="x") == [3600.0, 86400.0 + 3600, 2 * 86400 + 3600]
    assert [a for a in rep["alerts"] if a["reference"] == "seasonal"] == []
    # seasonal evaluations exist from the second day on, each against yesterday's hour
    seasonal = [w["start_ts"] for w in rep["windows"]
                if any(r["reference"] == "seasonal" for r in w["cohorts"][0].get("references", []))]
    assert seasonal == [T0 + h * 3600.0 for h in range(24, 72)]


def test_canary_cohort_against_stable_in_the_same_window(tmp_path: Path) -> None:
    # 3 % of the traffic goes to the canary from window 3 on; its score is shifted
    rng = np.random.default_rng(13)
    per, n_win, start = 20_000, 8, 3
    n = per * n_win
    w = np.repeat(np.arange(n_win), per)
    canary = (w >= start) & (rng.random(n) < 0.03)
    ev = {"ts": _times(n_win, per, 300.0), "x": rng.normal(0.0, 1.0, n),
          "score": rng.beta(np.where(canary, 3.0, 2.0), 5.0),
          "model_version": np.where(canary, "canary", "stable").astype(object)}
    features = [{"name": "x", "type": "numeric"}, {"name": "score", "type": "numeric"}]
    cfg = _config("5m", {"compare": {"segment": "model_version", "reference": "stable"}},
                  ["model_version"], features)
    base = _baseline(cfg, {"x": rng.normal(0.0, 1.0, 50_000),
                           "score": rng.beta(2.0, 5.0, 50_000)})
    rep = run_backtest(cfg, base, _write(tmp_path / "ev.jsonl", ev))
    ref = "cohort:stable"
    assert _firing(rep, ref, feature="score", cohort="canary") == [(start + 1) * 300.0]
    assert [a for a in rep["alerts"] if a["cohort"] == "stable"] == []
    assert [a for a in rep["alerts"] if a["reference"] == ref and a["feature"] != "score"] == []
    # only the other cohorts of the segment are compared with the stable one
    compared = {(c["segment"], c["cohort"]) for wnd in rep["windows"] for c in wnd["cohorts"]
                if any(r["reference"] == ref for r in c.get("references", []))}
    assert compared == {("model_version", "canary")}


def _stationary(windows: int, per: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = windows * per
    return {"ts": _times(windows, per, 60.0), "x": rng.normal(0.0, 1.0, n),
            "c": rng.choice(np.array(["a", "b", "c", "d"], dtype=object), n,
                            p=[0.4, 0.3, 0.2, 0.1]),
            "version": rng.choice(np.array(["stable", "canary"], dtype=object), n,
                                  p=[0.8, 0.2])}


ALL_REFERENCES = {"references": {"trailing": {"windows": 6, "gap": 1},
                                 "seasonal": {"period": "10m"}},
                  "compare": {"segment": "version", "reference": "stable"}}


def test_no_false_alarms_on_a_stationary_stream_with_all_references(tmp_path: Path) -> None:
    features = [{"name": "x", "type": "numeric"}, {"name": "c", "type": "categorical"}]
    cfg = _config("1m", ALL_REFERENCES, ["version"], features)
    train = _stationary(10, 5000, 1)
    base = _baseline(cfg, train)
    rep = run_backtest(cfg, base, _write(tmp_path / "ev.jsonl", _stationary(60, 2500, 2)))
    refs = {r["reference"] for w in rep["windows"] for c in w["cohorts"]
            for r in c.get("references", [])}
    assert refs == {"trailing", "seasonal", "cohort:stable"}
    assert [a for a in rep["alerts"] if a["state"] == "firing"] == []


def test_two_sample_statistics_match_scipy_on_the_same_reference_sample() -> None:
    # the trailing reference is a live sample: KS of current vs trailing is scipy's two-sample
    # KS on the raw values (both sketches exact below their capacity)
    rng = np.random.default_rng(5)
    cfg = _config("1m", {"references": {"trailing": {"windows": 2}},
                         "drift": {"metrics": ["ks"], "min_samples": 10}})
    per = 60  # both sides below the KLL's first compaction: exact
    x = rng.normal(0.0, 1.0, 3 * per) + np.repeat([0.0, 0.0, 0.6], per)
    eng = Engine(cfg)
    recs = [orjson.dumps({"ts": T0 + i * 60.0 / per, "x": float(v)}) for i, v in enumerate(x)]
    eng.ingest(RecordBatch("t", 0, list(range(len(recs))), None, recs))
    last = eng.flush()[-1]
    [ref] = last.cohorts[0].references
    ks = ref.evaluation.features["x"].scores["ks"]
    exact = stats.ks_2samp(x[2 * per:], x[:2 * per])
    assert (ks.n, ks.m) == (per, 2 * per)
    assert ks.value == pytest.approx(exact.statistic, abs=1e-12)
    assert ks.error_bound == 0.0
    # the p-value of the two-sample test: effective size n*m/(n+m), as scipy's asymptotic one
    asymp = stats.ks_2samp(x[2 * per:], x[:2 * per], method="asymp").pvalue
    assert ks.p_value == pytest.approx(asymp, rel=0.2)
    assert ks.p_value < 0.01


def _exact_parts(results: list[Any]) -> list[Any]:
    """What a restart must keep exactly: per window, cohort and reference the events on both
    sides and the bin counts (quantile sketches are randomized, so scores are not compared)."""
    return [(r.start, rec["segment"], rec["cohort"], ref["reference"], ref["n"],
             [(f["name"], f["n"], f["m"], f["bins"]["current"], f["bins"]["baseline"])
              for f in ref["features"]])
            for r in results for rec in r.to_json_records()
            for ref in [{"reference": "training", "n": None, "features": rec["features"]},
                        *rec.get("references", [])]]


def test_reference_history_survives_a_restart() -> None:
    cfg = _config("1m", ALL_REFERENCES, ["version"])
    base = _baseline(cfg, _stationary(10, 1000, 1))
    cols = _stationary(14, 300, 3)
    recs = [orjson.dumps({k: (v[i].item() if hasattr(v[i], "item") else v[i])
                          for k, v in cols.items()}) for i in range(len(cols["ts"]))]
    half = len(recs) // 2
    whole = Engine(cfg, base)
    whole.ingest(RecordBatch("t", 0, list(range(len(recs))), None, recs))
    expect = whole.flush()
    first = Engine(cfg, base)
    first.ingest(RecordBatch("t", 0, list(range(half)), None, recs[:half]))
    before = first.tick()
    second = Engine(cfg, base)
    second.restore(first.snapshot())
    second.ingest(RecordBatch("t", 0, list(range(half, len(recs))), None, recs[half:]))
    got = before + second.flush()
    assert _exact_parts(got) == _exact_parts(expect)
    refs = [p[3] for p in _exact_parts(got) if p[0] == T0 + 13 * 60 and p[2] == "all"]
    assert refs == ["training", "trailing", "seasonal"]


def test_canary_model_quality_against_stable_with_labels(tmp_path: Path) -> None:
    # the canary (10 %) ranks with noise, the stable model well; labels arrive within minutes
    rng = np.random.default_rng(14)
    n, size = 24_000, 600.0
    ts = np.sort(rng.uniform(T0, T0 + 4 * size, n))
    canary = rng.random(n) < 0.1
    x = rng.normal(0.0, 1.0, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(int)
    logit = np.where(canary, 2 * x * 0.1 + rng.normal(0, 1.5, n), 2 * x)
    score = 1 / (1 + np.exp(-logit))
    version = np.where(canary, "canary", "stable")
    ev = [{"ts": float(ts[i]), "id": f"r{i}", "version": str(version[i]), "x": float(x[i]),
           "score": float(score[i])} for i in range(n)]
    labels = [{"id": f"r{i}", "y": int(y[i]), "lt": float(ts[i] + 60)} for i in range(n)]
    (tmp_path / "ev.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in ev))
    (tmp_path / "lab.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in labels))
    cfg = parse_config({
        "monitor": "refs", "source": {"event_time": {"field": "ts"}},
        "features": [{"name": "x", "type": "numeric"}], "segments": ["version"],
        "windows": {"size": "10m", "allowed_lateness": 0},
        "model": {"prediction": "score", "id": "id"},
        "labels": {"id": "id", "label": "y", "time": "lt", "max_delay": "10m"},
        "performance": {"metrics": ["accuracy"], "min_labeled": 200},
        "compare": {"segment": "version", "reference": "stable"}, "volume": {"enabled": False}})
    rep = run_backtest(cfg, None, tmp_path / "ev.jsonl", labels=tmp_path / "lab.jsonl")
    perf = [a for a in rep["alerts"] if a["check"] == "performance"]
    assert {(a["cohort"], a["reference"]) for a in perf} == {("canary", "cohort:stable")}
    first = min((a for a in perf if a["state"] == "firing"), key=lambda a: a["window_start"])
    assert first["window_start"] == T0
    # the drop is exactly stable's accuracy minus the canary's in that window
    w = (ts >= T0) & (ts < T0 + size)
    acc = {v: float(np.mean((score[w & (version == v)] >= 0.5) == y[w & (version == v)]))
           for v in ("stable", "canary")}
    assert first["value"] == pytest.approx(acc["stable"] - acc["canary"], abs=1e-12)
    assert first["n"] == int((w & canary).sum())


def test_check_config_names_the_field_and_the_fix(tmp_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from driftline.stream.cli import EXIT_CONFIG, app

    path = tmp_path / "driftline.yaml"

    def problems(references: dict[str, object]) -> list[str]:
        """check-config's exit code and its reference/compare lines for this config."""
        path.write_text(yaml.safe_dump({
            "monitor": "m", "features": [{"name": "x", "type": "numeric"}],
            "segments": ["model_version"], "windows": {"size": "5m"},
            "references": references,
            "compare": {"segment": "model_versoin", "reference": "stable"}}))
        res = CliRunner().invoke(app, ["check-config", "-c", str(path), "--skip-environment"])
        assert res.exit_code == EXIT_CONFIG, res.output
        return [ln.strip().removeprefix("- ") for ln in res.output.splitlines()
                if ln.strip().removeprefix("- ").startswith(("references", "compare"))]

    assert problems({"trailing": {"windows": 4, "duration": "1h"},
                     "seasonal": {"period": "1w"}}) == [
        "references.trailing: set one of windows or duration, not both",
    ]
    assert problems({"seasonal": {"period": "1w"}}) == [
        "references.seasonal.period: 7d needs more than 288 windows of history at every tier "
        "['5m'] (or is not a multiple of them): add a rollup (e.g. windows.rollups: [1h]) or "
        "list the tiers in seasonal.tiers",
        "compare.segment: 'model_versoin' is not one of the segments ['model_version'] "
        "(did you mean 'model_version'?); add it to segments"]


def test_drift_metrics_carry_a_bounded_reference_label() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from driftline.stream.monitor.core import Monitor
    from driftline.stream.monitor.exporter import DriftlineCollector

    cfg = _config("1m", ALL_REFERENCES, ["version"])
    cols = _stationary(12, 300, 4)
    recs = [orjson.dumps({k: (v[i].item() if hasattr(v[i], "item") else v[i])
                          for k, v in cols.items()}) for i in range(len(cols["ts"]))]
    mon = Monitor(Engine(cfg, _baseline(cfg, _stationary(10, 1000, 1))))
    mon.ingest(RecordBatch("t", 0, list(range(len(recs))), None, recs))
    mon.flush()
    reg = CollectorRegistry()
    reg.register(DriftlineCollector(mon))
    refs: dict[str, set[tuple[str, str]]] = {}
    for metric in reg.collect():
        if metric.name in ("driftline_drift_score", "driftline_drift_p_value"):
            for s in metric.samples:
                refs.setdefault(s.labels["reference"], set()).add(
                    (s.labels["segment"], s.labels["cohort"]))
    # the last window (12) has a trailing reference (windows 5-10) and a seasonal one (window 2)
    assert refs == {
        "training": {("all", "all"), ("version", "stable"), ("version", "canary")},
        "trailing": {("all", "all"), ("version", "stable"), ("version", "canary")},
        "seasonal": {("all", "all"), ("version", "stable"), ("version", "canary")},
        "cohort:stable": {("version", "canary")}}
    assert b'reference="cohort:stable"' in generate_latest(reg)


def test_alerts_are_keyed_by_reference_with_their_own_thresholds_across_a_restart(
        tmp_path: Path) -> None:
    from driftline.alerts import Alerting, DriftConfig, Measurement
    from driftline.stream.config.references import TrailingReference

    def make() -> Alerting:
        return Alerting("m", drift=DriftConfig(min_samples=100, for_windows=1, clear_windows=1),
                        state_dir=tmp_path, references={"trailing": TrailingReference(
                            warning=0.3, critical=0.5)})

    def m(i: int, psi: float, reference: str) -> Measurement:
        start = T0 + 300 * i
        return Measurement("m", "drift", "psi", "x", "all", "all", "5m", start, start + 300,
                           psi, n=5000, m=60000, p_value=1e-30, reference=reference)

    a = make()
    got = a.observe_window([m(0, 0.25, "training"), m(0, 0.25, "trailing")])
    assert [(e.reference, e.state, e.severity) for e in got] == [
        ("training", "firing", "critical")]  # 0.25 is below the trailing warning (0.3)
    got = a.observe_window([m(1, 0.25, "training"), m(1, 0.35, "trailing")])
    assert [(e.reference, e.state, e.severity) for e in got] == [
        ("trailing", "firing", "warning")]
    assert got[0].key.dedup_key.startswith("driftline:m/drift/x/all=all/trailing:5m:")
    a.close()
    b = make()  # restarted on the same state: both alerts are still firing, apart
    assert b.firing() == {"warning": 1, "critical": 1}
    got = b.observe_window([m(2, 0.25, "training"), m(2, 0.01, "trailing")])
    assert [(e.reference, e.state) for e in got] == [("trailing", "resolved")]
    assert b.firing() == {"warning": 0, "critical": 1}
    b.close()
