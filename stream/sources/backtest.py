"""Backtest: replay an event file in event-time order through the same engine and alerting.

The file is decoded with the stream's extraction, sorted by event time (stable, so ties keep
file order), fed to :class:`~stream.engine.core.Engine` in chunks and ticked after each chunk; the
alerting runs in evaluate-only mode (no delivery). The report has the DESIGN.md shape:
``{"monitor", "windows": [...], "alerts": [...]}`` plus input counts.

>>> import tempfile, pathlib, orjson
>>> from driftline.stream.config.model import parse_config
>>> cfg = parse_config({"monitor": "m", "features": [{"name": "x", "type": "numeric"}],
...     "source": {"event_time": {"field": "ts"}}, "windows": {"size": "1m"}})
>>> p = pathlib.Path(tempfile.mkdtemp()) / "ev.jsonl"
>>> _ = p.write_bytes(b"\\n".join(orjson.dumps({"ts": i, "x": 1.0}) for i in range(120)))
>>> rep = run_backtest(cfg, None, p, alerting=False)
>>> [w["cohorts"][0]["n"] for w in rep["windows"]], rep["input"]["events"]
([60, 60], 120)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from driftline.alerts.model import AlertEvent
from driftline.sketches.baseline import Baseline
from driftline.stream.config.alerts import DriftOverride
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.config.references import other_references, reference_drift
from driftline.stream.decode.batchops import take
from driftline.stream.engine.core import Engine
from driftline.stream.engine.plausible import drop_implausible
from driftline.stream.engine.results import WindowResult
from driftline.stream.monitor.core import Monitor
from driftline.stream.sources.files import Progress, read_events

CHUNK = 50_000


def alert_record(e: AlertEvent) -> dict[str, Any]:
    return {"check": e.check, "metric": e.metric, "feature": e.feature, "segment": e.segment,
            "cohort": e.cohort, "window": e.window, "severity": e.severity, "state": e.state,
            "transition": e.transition, "window_start": e.window_start,
            "window_end": e.window_end, "since": e.since, "value": e.value,
            "threshold": e.threshold, "n": e.n, "p_value": e.p_value, "reference": e.reference,
            "baseline_version": e.details.get("baseline_version")}


def drift_rules(config: DriftlineConfig, reference: DriftOverride | None = None
                ) -> dict[str, Any]:
    """The drift rules the windows were judged by: metrics, significance level, minimum samples
    and, per feature and metric, the resolved warning/critical/clear thresholds; under
    ``references`` the same for each other configured reference (``trailing``, ``seasonal``,
    ``cohort:<value>``)."""
    thresholds: dict[str, dict[str, dict[str, float | None]]] = {}
    for f in config.features:
        rules = reference_drift(config.drift, reference, f.name)
        thresholds[f.name] = {m: rules.tiers(m)._asdict() for m in rules.metric_names}
    top = reference_drift(config.drift, reference)
    out: dict[str, Any] = {"metrics": top.metric_names, "alpha": top.alpha,
                           "min_samples": top.min_samples, "thresholds": thresholds}
    if reference is None:
        out["references"] = {
            name: drift_rules(config, ref)
            for name, ref in other_references(config.references, config.compare).items()}
    return out


def run_backtest(config: DriftlineConfig, baseline: Baseline | None, events: Path | str,
                 alerting: bool = True, progress: Progress | None = None,
                 chunk: int = CHUNK, labels: Path | str | None = None) -> dict[str, Any]:
    """Replay ``events`` (and, with ``model:`` in the config, the model's performance; with
    ``labels``, the label events joined to it: :mod:`stream.sources.backtest_labels`)."""
    if not config.source.event_time.field:
        raise ValueError("a backtest replays events in event-time order: set "
                         "source.event_time.field in the config (files carry no Kafka "
                         "timestamps)")
    engine = Engine(config, baseline)
    alert = None
    if alerting:
        from driftline.alerts import Alerting

        alert = Alerting.from_config(config, deliver=False)
    monitor = Monitor(engine, alert)
    replay = None
    if config.model is not None or labels is not None:
        from driftline.stream.sources.backtest_labels import PerformanceReplay

        replay = PerformanceReplay(config=config, baseline=baseline, events=events, labels=labels)
        monitor.measurement_sources.append(replay.on_close)
    triggers = None
    if config.retraining.triggers:
        from driftline.stream.performance.retraining import RetrainingTriggers

        triggers = RetrainingTriggers(monitor=config.monitor, config=config.retraining,
                                      min_samples=config.drift.min_samples)
        if replay is not None:
            replay.triggers = triggers
        else:
            base_tier = config.windows.tiers[0]
            monitor.subscribe(lambda r: triggers.observe_closed(r.to_report(), None)
                              if r.tier == base_tier else None)
    results: list[WindowResult] = []
    monitor.subscribe(results.append)
    d = read_events(Path(events), engine.decoder, progress)
    # implausible times are judged in file order, as a stream would see them (offset order):
    # sorted by time, a 1970 record would come first and pass the past bound
    d = drop_implausible(d, engine.plausible, -math.inf)
    order = np.argsort(d.event_time, kind="stable")
    d = take(d, order)
    topic = Path(events).name
    late = 0
    for lo in range(0, d.n, chunk):
        part = take(d, np.arange(lo, min(lo + chunk, d.n)))
        part.dead_letters = []
        late += engine.ingest_decoded(topic, 0, part).late
        if replay is not None:
            replay.feed_until(float(part.event_time[-1]))
        monitor.tick()
        if replay is not None:
            replay.mature(monitor)
    if replay is not None:
        replay.drain(monitor, config.windows.size)
        replay.finish()
    monitor.flush()
    if replay is not None:
        replay.mature(monitor, final=True)
    reasons: dict[str, int] = {}
    for dl in d.dead_letters:
        reasons[dl.reason] = reasons.get(dl.reason, 0) + 1
    report: dict[str, Any] = {
        "monitor": config.monitor,
        "drift": drift_rules(config),
        "input": {"file": Path(events).name, "events": d.n, "dead_letters": reasons,
                  "late": late},
        "windows": [r.to_report() for r in results],
        "alerts": [alert_record(e) for e in monitor.alert_log],
    }
    if replay is not None:
        from driftline.stream.sources.backtest_labels import attach_performance

        attach_performance(report["windows"], replay.tracker)
        report["input"]["labels"] = {**replay.info, "outcomes": replay.tracker.counters()}
        report["performance_timeline"] = replay.timeline
    if triggers is not None:
        report["retraining"] = triggers.events
    return report
