"""The demo: the real engine, alerting, freshness clock and exporter on a generated stream.

Nothing here is demo-only logic except the source and the bookkeeping of what was injected: the
events go through the same decode -> cohorts -> windows -> sketches -> evaluation -> alerts path as
``driftline run``. Time is compressed: one one-minute window of events per ``pace`` seconds, on a
simulated clock that the engine and the freshness clock share.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from prometheus_client.metrics_core import Metric

from driftline.alerts import Alerting
from driftline.alerts.model import AlertEvent
from driftline.stream.config.model import DriftlineConfig, parse_config
from driftline.stream.demo.generator import (
    NEW_CATEGORY,
    Injections,
    PaymentsGenerator,
    encode_events,
)
from driftline.stream.engine.batch import RecordBatch
from driftline.stream.engine.core import Engine
from driftline.stream.engine.results import WindowResult
from driftline.stream.monitor.core import Monitor
from driftline.stream.monitor.exporter import DriftlineCollector
from driftline.stream.monitor.freshness import FreshnessClock
from driftline.stream.sources.baselines import build_baseline, save_baseline

TOPIC = "payments"
PARTITIONS = 2


@dataclass
class DemoOptions:
    out: Path
    windows: int = 40
    pace: float = 1.0
    events_per_window: int = 4000
    metrics: str | None = "127.0.0.1:9108"
    forever: bool = False
    seed: int = 42


@dataclass
class Detection:
    problem: str
    injected_at_window: int | None
    detected: bool = False
    window: int | None = None
    severity: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        delay = None
        if self.detected and self.window is not None and self.injected_at_window is not None:
            delay = self.window - self.injected_at_window
        return {"problem": self.problem, "injected_at_window": self.injected_at_window,
                "detected": self.detected, "detected_at_window": self.window,
                "delay_windows": delay, "severity": self.severity, **self.details}


def load_demo_config(metrics: str | None, environ: Mapping[str, str] | None = None,
                     ) -> DriftlineConfig:
    """The embedded monitor; real Slack/PagerDuty channels when their env vars are set."""
    env = os.environ if environ is None else environ
    text = resources.files("driftline.stream.demo").joinpath("data/demo.yaml").read_text()
    data = yaml.safe_load(text)
    data["metrics"] = {"listen": metrics}
    alerts = data["alerts"]
    if env.get("SLACK_WEBHOOK_URL"):
        alerts["channels"]["slack"] = {"type": "slack", "webhook_url_env": "SLACK_WEBHOOK_URL"}
        alerts["routes"] = {"critical": ["slack"], "warning": ["slack"]}
    if env.get("PD_ROUTING_KEY"):
        alerts["channels"]["pagerduty"] = {"type": "pagerduty", "routing_key_env": "PD_ROUTING_KEY"}
        alerts["routes"]["critical"] = [*alerts["routes"]["critical"], "pagerduty"]
    return parse_config(data, "demo.yaml")


class _CountingCollector(DriftlineCollector):
    """The exporter's collector, counting scrapes for the demo's summary."""

    scrapes = 0

    def collect(self) -> Iterator[Metric]:
        self.scrapes += 1
        yield from super().collect()


class Demo:
    """One demo run; ``step()`` advances one window; ``summary()`` says what was found."""

    def __init__(self, opts: DemoOptions, log: Callable[[str], None] = print) -> None:
        self.opts = opts
        self.log = log
        self.config = load_demo_config(opts.metrics)
        self.injections = Injections()
        size = self.config.windows.size
        # The scripted part ends at the current minute, so dashboards show it as recent history.
        self.start = math.floor(time.time() / size) * size - opts.windows * size
        self.gen = PaymentsGenerator(opts.seed, opts.events_per_window, size, self.start,
                                     self.injections)
        self.sim_now = self.start
        self.index = 0
        self.offsets = [0] * PARTITIONS
        self.malformed_injected = 0
        self.malformed_counted = 0
        self.events = 0
        self.results: list[WindowResult] = []
        self.alerts: list[AlertEvent] = []
        inj = self.injections
        self.detections = {
            "drift": Detection("drift", inj.drift_window, details={
                "feature": "amount", "segment": inj.drift_segment, "cohort": inj.drift_cohort}),
            "new_category": Detection("new_category", inj.new_category_window, details={
                "feature": "merchant_category", "category": NEW_CATEGORY}),
            "stalled_feature": Detection("stalled_feature", inj.stall_window, details={
                "feature": inj.stall_feature}),
            "malformed": Detection("malformed", 0),
        }

    # -- setup ----------------------------------------------------------------------------
    def prepare(self) -> None:
        out = self.opts.out
        state = out / "state"
        if state.exists():
            shutil.rmtree(state)  # a demo starts from a clean slate every time
        out.mkdir(parents=True, exist_ok=True)
        self.baseline_path = out / "baseline.dlb"
        train = out / "train.jsonl"
        rows = 100_000
        cols = self.gen.training(rows)
        # Training traffic at the live rate, so the volume check has a true expectation.
        span = rows / self.opts.events_per_window * self.config.windows.size
        ts = self.start - span + np.sort(np.random.default_rng(1).random(rows)) * span
        with train.open("wb") as fh:
            fh.write(b"\n".join(encode_events(cols, ts)) + b"\n")
        baseline = build_baseline(self.config, train, min_cohort_rows=2000)
        size = save_baseline(baseline, self.baseline_path)
        self.log(f"baseline: {baseline.rows} training rows, {len(baseline.cohorts)} cohorts with "
                 f"their own baseline, {size / 1024:.0f} KiB -> {self.baseline_path}")
        self._write_grafana(out)
        self.alerting = Alerting(
            self.config.monitor, drift=self.config.drift, quality=self.config.quality,
            volume=self.config.volume, freshness=self.config.freshness,
            alerts=self.config.alerts, state_dir=state,
        ).start()
        self.engine = Engine(self.config, baseline)
        self.engine.assign((TOPIC, p) for p in range(PARTITIONS))
        self.monitor = Monitor(self.engine, self.alerting)
        self.freshness = FreshnessClock(self.config.monitor, self.config.freshness,
                                        tick=self.config.freshness_tick, clock=self._clock)
        self.exporter_url = self._serve_metrics()

    def _clock(self) -> float:
        return self.sim_now

    def _write_grafana(self, out: Path) -> None:
        from driftline.grafana.dashboards import write_dashboards
        from driftline.grafana.provisioning import write_provisioning

        paths = write_dashboards(self.config, out / "dashboards")
        # Paths as a Grafana next to a local Prometheus sees them; edit to taste.
        write_provisioning(out / "provisioning", prometheus_url="http://localhost:9090",
                           dashboards_path=str((out / "dashboards").resolve()))
        self.log(f"grafana: {len(paths)} dashboards -> {out / 'dashboards'}, provisioning -> "
                 f"{out / 'provisioning'}")

    def _serve_metrics(self) -> str | None:
        if not self.opts.metrics:
            return None
        from driftline.stream.monitor.exporter import serve

        engine = self.engine
        self.collector = _CountingCollector(
            self.monitor, freshness=self.freshness, alerting=self.alerting,
            baseline=lambda: {"version": engine.baseline.version if engine.baseline else None})
        try:
            self.metrics_server = serve(self.collector, self.opts.metrics)
        except OSError:  # the port is taken (another demo?): any free port will do
            host = self.opts.metrics.rpartition(":")[0] or "127.0.0.1"
            self.log(f"{self.opts.metrics} is in use; serving /metrics on a free port instead")
            self.metrics_server = serve(self.collector, host, 0)
        host, port = self.metrics_server
        return f"http://{host}:{port}/metrics"

    # -- the loop -------------------------------------------------------------------------
    def step(self) -> list[WindowResult]:
        """Generate and ingest one window of events, then evaluate what closed."""
        i = self.index
        batch = self.gen.window(i)
        self.malformed_injected += batch.malformed
        parts = np.arange(len(batch.values)) % PARTITIONS
        for p in range(PARTITIONS):
            idx = np.flatnonzero(parts == p)
            offsets = np.arange(self.offsets[p], self.offsets[p] + idx.size)
            self.offsets[p] += idx.size
            values = [batch.values[j] for j in idx.tolist()]
            rb = RecordBatch(TOPIC, p, offsets, batch.timestamps_ms[idx], values)
            report = self.monitor.ingest(rb)
            self.malformed_counted += report.invalid
            self.events += report.events
        self.sim_now = self.start + (i + 1) * self.config.windows.size
        for key, t in self.engine.last_seen().items():
            kind, _, name = key.partition(":")
            if kind == "topic":
                self.freshness.observe_topic(name, t)
            elif kind == "feature":
                self.freshness.observe_feature(name, t)
        results = self.monitor.tick()
        self.results.extend(results)
        fresh_events = self.alerting.observe_freshness(self.freshness.evaluate())
        self.monitor.observe_alert_events(fresh_events)
        new_alerts = self.monitor.alert_log[len(self.alerts):]
        self.alerts = list(self.monitor.alert_log)
        self._detect(new_alerts, i)
        self.index += 1
        return results

    def window_of(self, e: AlertEvent) -> int:
        return int(round((e.window_start - self.start) / self.config.windows.size))

    def _detect(self, events: list[AlertEvent], index: int) -> None:
        inj = self.injections
        for e in events:
            if e.state != "firing":
                continue
            d: Detection | None = None
            if (e.check == "drift" and e.feature == "amount" and e.window == "1m"
                    and (e.segment, e.cohort) == (inj.drift_segment, inj.drift_cohort)):
                d = self.detections["drift"]
            elif e.check == "quality" and e.metric == "unseen_ratio" \
                    and e.feature == "merchant_category":
                d = self.detections["new_category"]
            elif e.check == "freshness" and e.feature.endswith(inj.stall_feature):
                d = self.detections["stalled_feature"]
            if d is not None and not d.detected:
                d.detected = True
                d.severity = e.severity
                d.window = index if e.check == "freshness" else self.window_of(e)
                d.details.setdefault("value", round(e.value, 4))
        m = self.detections["malformed"]
        m.details.update({"injected": self.malformed_injected, "counted": self.malformed_counted})
        m.detected = self.malformed_counted == self.malformed_injected > 0
        if m.detected and m.window is None:
            m.window = 0

    def finish(self) -> None:
        self.results.extend(self.monitor.flush())
        self.alerts = list(self.monitor.alert_log)
        self.alerting.flush(timeout=10)
        self.report_path = self.write_report()

    def write_report(self) -> Path:
        """The self-contained HTML report of the run (``report.html`` in the output folder)."""
        from driftline.stream.report import write_report
        from driftline.stream.sources.backtest import alert_record, drift_rules

        report = {
            "monitor": self.config.monitor, "drift": drift_rules(self.config),
            "input": {"file": f"{TOPIC} (generated)", "events": self.events,
                      "dead_letters": ({"malformed": self.malformed_counted}
                                       if self.malformed_counted else {}), "late": 0},
            "windows": [r.to_report() for r in self.results],
            "alerts": [alert_record(e) for e in self.alerts],
        }
        path = write_report(report, self.opts.out / "report.html", source="demo")
        self.log(f"report: {path}")
        return path

    def close(self) -> None:
        self.alerting.close()
        server = getattr(self, "metrics_server", None)
        if server is not None:
            server.close()

    # -- report ---------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        return {
            "monitor": self.config.monitor,
            "windows": self.index,
            "events": self.events,
            "detections": [d.record() for d in self.detections.values()],
            "alerts": [
                {"check": e.check, "metric": e.metric, "feature": e.feature,
                 "segment": e.segment, "cohort": e.cohort, "window": e.window,
                 "severity": e.severity, "state": e.state, "value": e.value,
                 "threshold": e.threshold, "window_end": e.window_end}
                for e in self.alerts
            ],
            "metrics_url": self.exporter_url,
            "metrics_scrapes": getattr(getattr(self, "collector", None), "scrapes", 0),
            "out": str(self.opts.out),
            "report": str(getattr(self, "report_path", "")) or None,
        }
