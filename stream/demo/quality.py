"""The demo's model-quality act: a loan model whose inputs shift, labels that come two hours
later, the estimate that sees the drop when the window closes and the labels that confirm it.

A calibrated model (P(repaid | x) = sigmoid(2x), the score is that probability) is trained on
x ~ N(0, 1.5); eight 10-minute windows of 1,500 predictions follow, the last four with
x ~ N(0, 0.4): the applicants crowd at the decision boundary, and accuracy falls from ~0.84 to
~0.65 with nothing wrong in the model itself. The replay is the backtest's
(:mod:`stream.sources.backtest_labels`): predictions and labels on one event-time timeline.

>>> import tempfile, pathlib
>>> story = run_quality_story(pathlib.Path(tempfile.mkdtemp()), log=lambda s: None)
>>> story["estimated_alert_window"], story["estimated_before_labels"]
(4, True)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from driftline.stream.config.model import parse_config
from driftline.stream.sources.backtest import run_backtest
from driftline.stream.sources.baselines import build_baseline

WINDOW = 600.0
PER_WINDOW = 1500
DELAY = 7200.0
CONFIG = {
    "monitor": "loans", "source": {"event_time": {"field": "ts"}},
    "features": [{"name": "income_z", "type": "numeric"}], "windows": {"size": "10m"},
    "drift": {"enabled": False}, "volume": {"enabled": False},
    "model": {"prediction": "model.score", "id": "application_id"},
    "labels": {"id": "application_id", "label": "repaid", "time": "label_ts",
               "max_delay": "2h10m"},
}


def _rows(rng: np.random.Generator, x: np.ndarray, t: np.ndarray, prefix: str
          ) -> list[dict[str, Any]]:
    p = 1 / (1 + np.exp(-2 * x))
    y = rng.uniform(0, 1, x.shape[0]) < p
    return [{"ts": float(t[i]), "application_id": f"{prefix}{i}", "income_z": float(x[i]),
             "model": {"score": float(p[i])}, "repaid": bool(y[i]),
             "label_ts": float(t[i] + DELAY)} for i in range(x.shape[0])]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return path


def run_quality_story(out: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Generate, replay and narrate the story; returns what happened (for the summary)."""
    rng = np.random.default_rng(2024)
    out.mkdir(parents=True, exist_ok=True)
    train = _rows(rng, rng.normal(0, 1.5, 20_000), np.arange(20_000.0), "t")
    x = np.concatenate([rng.normal(0, 1.5, 4 * PER_WINDOW), rng.normal(0, 0.4, 4 * PER_WINDOW)])
    t = np.concatenate([np.sort(rng.uniform(w * WINDOW, (w + 1) * WINDOW, PER_WINDOW))
                        for w in range(8)])
    live = _rows(rng, x, t, "a")
    events = _write(out / "loans-predictions.jsonl",
                    [{k: r[k] for k in ("ts", "application_id", "income_z", "model")}
                     for r in live])
    labels = _write(out / "loans-outcomes.jsonl",
                    [{k: r[k] for k in ("application_id", "repaid", "label_ts")} for r in live])
    config = parse_config(CONFIG)
    base = build_baseline(config, _write(out / "loans-training.jsonl", train))
    rep = run_backtest(config, base, events, labels=labels, chunk=500)
    ref = rep["windows"][0]["cohorts"][0]["performance"]["reference"]["accuracy"]
    log(f"model quality: loan model, baseline accuracy {ref:.3f}; inputs shift from window 4; "
        f"labels arrive {DELAY / 3600:.0f} h after each prediction")
    fired = {(a["feature"], int(a["window_start"] // WINDOW)): a for a in rep["alerts"]
             if a["check"] == "performance" and a["state"] == "firing"}
    for p in rep["performance_timeline"]:
        w = int(p["window_start"] // WINDOW)
        alert = fired.get((p["kind"], w))
        note = f"  -> {alert['severity'].upper()} performance alert ({p['kind']})" if alert else ""
        log(f"  t+{p['at'] / 3600:5.2f} h  window {w}: {p['kind']:9s} accuracy "
            f"{p['accuracy']:.3f}  ROC AUC {p['roc_auc']:.3f}{note}")
    est = fired.get(("estimated", 4))
    real = fired.get(("realized", 4))
    est_at = next((p["at"] for p in rep["performance_timeline"]
                   if p["kind"] == "estimated" and p["window_start"] == 4 * WINDOW), None)
    first_label = 4 * WINDOW + DELAY
    return {
        "baseline_accuracy": ref,
        "estimated_alert_window": 4 if est is not None else None,
        "realized_alert_window": 4 if real is not None else None,
        "estimated_before_labels": est_at is not None and est_at < first_label,
        "windows": [{"window": int(w["start_ts"] // WINDOW),
                     "estimated_accuracy": w["cohorts"][0]["performance"]["estimated"]["accuracy"],
                     "realized_accuracy": w["cohorts"][0]["performance"]["realized"]["accuracy"]}
                    for w in rep["windows"]],
    }
