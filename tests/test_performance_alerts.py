"""Performance alerts: a covariate shift that lowers accuracy is estimated at window close
(before any label), realized when the labels come; small samples and noise never page."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from driftline.alerts.model import Measurement
from driftline.alerts.rules import Rules
from driftline.sketches.performance_tests import accuracy_drop_p, auc_drop_p, hanley_mcneil_se
from driftline.stream.config.alerts import DriftConfig, QualityConfig, VolumeConfig
from driftline.stream.config.model import parse_config
from driftline.stream.config.performance import PerformanceAlertConfig
from driftline.stream.performance.retraining import post_webhook
from driftline.stream.sources.backtest import run_backtest
from driftline.stream.sources.baselines import build_baseline

PER_WINDOW = 1500


def cfg() -> Any:
    return parse_config({
        "monitor": "loans", "source": {"event_time": {"field": "ts"}},
        "features": [{"name": "x", "type": "numeric"}], "windows": {"size": "10m"},
        "drift": {"enabled": False}, "volume": {"enabled": False},
        "model": {"prediction": "score", "id": "id"},
        "labels": {"id": "id", "label": "y", "time": "lt", "max_delay": "3h"}})


def dump(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return path


def shifted_data(tmp: Path) -> dict[str, Path]:
    """P(y | x) = sigmoid(2x) throughout (the score is calibrated); x ~ N(0, 1.5) in training
    and windows 0-3, N(0, 0.4) from window 4: predictions crowd at the boundary, accuracy falls
    from ~0.80 to ~0.61. Labels come 2 h later; the last window gets 20 labels only."""
    rng = np.random.default_rng(12)

    def rows(x: np.ndarray, t: np.ndarray, prefix: str) -> list[dict[str, Any]]:
        p = 1 / (1 + np.exp(-2 * x))
        y = (rng.uniform(0, 1, x.shape[0]) < p).astype(int)
        return [{"ts": float(t[i]), "id": f"{prefix}{i}", "x": float(x[i]),
                 "score": float(p[i]), "y": int(y[i]), "lt": float(t[i] + 7200)}
                for i in range(x.shape[0])]

    train = rows(rng.normal(0, 1.5, 20_000), np.arange(20_000.0), "t")
    x = np.concatenate([rng.normal(0, 1.5, 4 * PER_WINDOW), rng.normal(0, 0.4, 4 * PER_WINDOW)])
    t = np.sort(rng.uniform(0, 8 * 600, 8 * PER_WINDOW))
    t = np.concatenate([np.sort(rng.uniform(w * 600, (w + 1) * 600, PER_WINDOW))
                        for w in range(8)])
    live = rows(x, t, "p")
    labels = [{"id": r["id"], "y": r["y"], "lt": r["lt"]} for r in live
              if r["ts"] < 4200 or r["id"].endswith(("00", "50"))]
    return {"train": dump(tmp / "train.jsonl", train),
            "events": dump(tmp / "events.jsonl", [{k: r[k] for k in ("ts", "id", "x", "score")}
                                                 for r in live]),
            "labels": dump(tmp / "labels.jsonl", labels)}


def test_estimated_fires_before_realized_and_small_samples_do_not_page(tmp_path: Path) -> None:
    files = shifted_data(tmp_path)
    config = cfg()
    base = build_baseline(config, files["train"])
    rep = run_backtest(config, base, files["events"], labels=files["labels"], chunk=500)
    perf_alerts = [a for a in rep["alerts"] if a["check"] == "performance"]
    fired = [(a["feature"], a["window"], a["window_start"], a["severity"]) for a in perf_alerts
             if a["state"] == "firing"]
    # one alert per kind (the key is monitor/check/kind/cohort/tier; later shifted windows keep
    # it firing): the estimate fires when the first shifted window closes, before any of its
    # labels exists; the realized one when the labels come; nothing before the shift
    assert fired == [("estimated", "10m", 2400.0, "critical"),
                     ("realized", "10m+labels", 2400.0, "critical")]
    # as drift alerts: against the training baseline, naming its version
    assert {(a["reference"], a["baseline_version"]) for a in perf_alerts} == {
        ("training", base.version)}
    est_at = next(p["at"] for p in rep["performance_timeline"]
                  if p["kind"] == "estimated" and p["window_start"] == 2400.0)
    first_label = 2400.0 + 7200
    assert est_at < first_label
    # the last window has ~30 labels: too few to judge (never pages, never clears)
    assert not any(a["window_start"] == 4200.0 and a["feature"] == "realized"
                   for a in perf_alerts)
    perf = rep["windows"][4]["cohorts"][0]["performance"]
    assert perf["realized"]["accuracy"] < 0.7 and perf["estimated"]["accuracy"] < 0.7
    assert abs(perf["realized"]["accuracy"] - perf["estimated"]["accuracy"]) < 0.03
    last = rep["windows"][7]["cohorts"][0]["performance"]
    assert last["labeled"] < 60


def rules() -> Rules:
    return Rules(DriftConfig(), QualityConfig(), VolumeConfig(), [], PerformanceAlertConfig())


def measurement(drop: float, n: int, p: float | None) -> Measurement:
    return Measurement("m", "performance", "accuracy", "realized", "all", "all", "5m+labels",
                       0.0, 300.0, drop, n, 10_000, p)


def test_rules_need_material_significant_and_enough_labels() -> None:
    r = rules()
    (f,) = r.evaluate([measurement(0.06, 5000, 1e-9)], {})
    assert (f.severity, f.threshold) == ("critical", 0.05)
    (f,) = r.evaluate([measurement(0.03, 5000, 1e-9)], {})
    assert f.severity == "warning"
    (f,) = r.evaluate([measurement(0.015, 50_000, 1e-9)], {})  # significant, not material
    assert f.severity is None
    (f,) = r.evaluate([measurement(0.2, 5000, 0.2)], {})  # material, not significant
    assert f.severity is None
    (f,) = r.evaluate([measurement(0.3, 50, 1e-9)], {})  # too few labels
    assert f.severity is None and f.insufficient


def test_drop_tests_against_simulation() -> None:
    """The tests' false-alarm rate under no drop stays at most alpha (simulated)."""
    rng = np.random.default_rng(0)
    acc_ref, n_ref, n = 0.8, 20_000, 300
    ref_hits = rng.binomial(n_ref, acc_ref)
    p = [accuracy_drop_p(rng.binomial(n, acc_ref) / n, n, ref_hits / n_ref, n_ref)
         for _ in range(4000)]
    assert np.mean(np.asarray(p) <= 0.01) <= 0.02
    # Hanley-McNeil: at A = 0.5 with equal classes, SE^2 = (n_p + n_n + 1) / (12 n_p n_n)
    assert hanley_mcneil_se(0.5, 100, 100) ** 2 == pytest.approx(201 / (12 * 100 * 100))
    assert auc_drop_p(0.70, 500, 500, 0.80, 5000, 5000) < 1e-6
    assert auc_drop_p(0.70, 10, 10, 0.80, 5000, 5000) > 0.05


def test_retraining_triggers_fire_once_each_and_post_json(tmp_path: Path) -> None:
    files = shifted_data(tmp_path)
    raw = cfg().model_dump(mode="json", exclude_none=True)
    raw["drift"] = {"enabled": True, "min_samples": 500}
    raw["retraining"] = {"triggers": [
        {"metric": "accuracy", "threshold": 0.05, "window": "30m"},
        {"metric": "feature_drift_psi", "threshold": 0.2, "features": ["x"]},
        {"metric": "prediction_distribution_shift", "threshold": 0.1}]}
    config = parse_config(raw)
    base = build_baseline(config, files["train"])
    rep = run_backtest(config, base, files["events"], labels=files["labels"], chunk=500)
    got = [(e["metric"], e["window"]["start_ts"]) for e in rep["retraining"]]
    # the shift starts at t = 2400: the score and x distributions move in that window; the
    # 30-minute pooled accuracy (windows 1200-2400) drops by > 0.05 once its labels are in;
    # each trigger fires once (cooldown 7 d)
    assert sorted(got) == [("accuracy", 1200.0), ("feature_drift_psi", 2400.0),
                           ("prediction_distribution_shift", 2400.0)]
    acc = next(e for e in rep["retraining"] if e["metric"] == "accuracy")
    assert acc["window"]["end_ts"] == 3000.0 and acc["value"] >= 0.05
    assert acc["details"]["p_value"] <= 0.01

    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(orjson.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/retrain"
    assert post_webhook(acc, url) == 204
    thread.join(10)
    server.server_close()
    assert received == [orjson.loads(orjson.dumps(acc))]


def test_performance_alert_text_and_link() -> None:
    from driftline.alerts.model import AlertEvent
    from driftline.alerts.render import grafana_link, summary

    e = AlertEvent("loans", "performance", "accuracy", "realized", "all", "all", "10m+labels",
                   "critical", "firing", "new", 0.18, 0.05, 1500, 2400.0, 3000.0, 2400.0, 1e-9,
                   details={"current": 0.65, "reference": 0.83})
    assert summary(e) == ("[CRITICAL] loans: realized accuracy dropped by 0.18 (0.65 vs "
                          "baseline 0.83) on all traffic (10m+labels window, n=1500)")
    link = grafana_link(e, "http://grafana", None)
    assert link is not None and "/d/driftline-loans-model-quality?" in link
    assert "var-window=10m&" in link
