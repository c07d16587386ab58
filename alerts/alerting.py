"""The one object the stream engine talks to.

``observe_window`` is synchronous and fast: rules, significance, the state machine, one SQLite
commit of state + outbox, then it returns the transitions. Delivery runs on background threads
(one per channel) started by ``start``; ingestion never waits on a network call.

>>> from driftline.alerts.model import Measurement
>>> alerting = Alerting("fraud", drift=DriftConfig(min_samples=100, for_windows=1),
...                     deliver=False)  # backtest: evaluate only
>>> m = Measurement("fraud", "drift", "psi", "amount", "all", "all", "5m", 0, 300, 0.25,
...                 n=800, m=50000, p_value=1e-12)
>>> [(e.state, e.severity) for e in alerting.observe_window([m])]
[('firing', 'critical')]
>>> alerting.firing()
{'warning': 0, 'critical': 1}
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from driftline.alerts.control_chart import ChartState
from driftline.alerts.delivery import ChannelWorker, DeliveryStats
from driftline.alerts.lifecycle import AlertStatus, step
from driftline.alerts.model import AlertEvent, AlertKey, Measurement
from driftline.alerts.notifiers import (
    AlertmanagerNotifier,
    ConsoleNotifier,
    Notifier,
    PagerDutyNotifier,
    SlackNotifier,
    WebhookNotifier,
)
from driftline.alerts.ratelimit import TokenBucket
from driftline.alerts.routing import Change, Router
from driftline.alerts.rules import Rules
from driftline.alerts.secrets import Secrets, install_redaction, remove_redaction
from driftline.alerts.store import Store
from driftline.stream.config.alerts import (
    AlertsConfig,
    ChannelConfig,
    DriftConfig,
    DriftOverride,
    FreshnessRule,
    QualityConfig,
    VolumeConfig,
)
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.config.performance import PerformanceAlertConfig
from driftline.stream.config.references import other_references

_LOGGERS = ("driftline.alerts",)
WINDOWS_REMEMBERED = 64  # per tier: enough to recognize any window re-published after a crash
log = logging.getLogger("driftline.alerts")


class _Tracked(dict[str, ChartState]):
    """Control-chart history that remembers which keys changed (to persist only those)."""

    def __init__(self, data: Mapping[str, ChartState]) -> None:
        super().__init__(data)
        self.dirty: set[str] = set()

    def __setitem__(self, key: str, value: ChartState) -> None:
        super().__setitem__(key, value)
        self.dirty.add(key)


def _wanted_secrets(channels: Mapping[str, ChannelConfig]) -> dict[str, dict[str, str]]:
    wanted: dict[str, dict[str, str]] = {}
    for name, ch in channels.items():
        fields: dict[str, str] = {}
        if ch.type == "pagerduty":
            fields["routing_key"] = ch.routing_key_env
        elif ch.type == "slack":
            fields["webhook_url"] = ch.webhook_url_env
        if ch.type in ("pagerduty", "alertmanager", "webhook") and ch.url_env:
            fields["url"] = ch.url_env
        if ch.type == "webhook":
            fields.update({f"header {h}": env for h, env in ch.headers_env.items()})
        if fields:
            wanted[name] = fields
    return wanted


class Alerting:
    """Findings of each window -> alerts with a lifecycle -> routed, durable notifications."""

    def __init__(
        self,
        monitor: str,
        *,
        drift: DriftConfig | None = None,
        quality: QualityConfig | None = None,
        volume: VolumeConfig | None = None,
        freshness: Sequence[FreshnessRule] = (),
        alerts: AlertsConfig | None = None,
        state_dir: Path | str | None = None,
        environ: Mapping[str, str] | None = None,
        deliver: bool = True,
        performance: PerformanceAlertConfig | None = None,
        references: Mapping[str, DriftOverride | None] | None = None,
    ) -> None:
        self.monitor = monitor
        self.cfg = alerts or AlertsConfig()
        for rule in freshness:
            if rule.alert_channels:
                self.cfg.check_channels(rule.alert_channels, f"freshness rule {rule.name}")
        self.rules = Rules(drift or DriftConfig(), quality or QualityConfig(),
                           volume or VolumeConfig(), freshness, performance, references)
        self.router = Router(monitor, self.cfg)
        self.deliver = deliver
        env = os.environ if environ is None else environ
        self.secrets = Secrets.resolve(_wanted_secrets(self.cfg.channels), env) if deliver else (
            Secrets({})
        )
        directory = state_dir if state_dir is not None else self.cfg.state_dir
        if deliver and directory is None:
            raise ValueError(
                "alerting with delivery needs a state directory (the outbox and alert state are "
                "durable): pass state_dir or set alerts.state_dir; use deliver=False to evaluate "
                "only"
            )
        self.store = Store(Path(directory) if deliver and directory is not None else None)
        self._states = self.store.load_states()
        self._history = _Tracked(self.store.load_history())
        self._windows = self.store.load_windows()
        self._stats = DeliveryStats()
        self._workers: dict[str, ChannelWorker] = {}
        self._filters: list[Any] = []
        self._lock = threading.Lock()
        self._commits = 0

    @classmethod
    def from_config(
        cls,
        cfg: DriftlineConfig,
        *,
        state_dir: Path | str | None = None,
        environ: Mapping[str, str] | None = None,
        deliver: bool = True,
    ) -> Alerting:
        """From a driftline config. The state directory is ``state_dir``, else
        ``alerts.state_dir``, else ``<state_path>/alerts``."""
        directory = state_dir if state_dir is not None else cfg.alerts.state_dir
        if directory is None:
            directory = cfg.state_path / "alerts"
        return cls(cfg.monitor, drift=cfg.drift, quality=cfg.quality, volume=cfg.volume,
                   freshness=cfg.freshness, alerts=cfg.alerts, state_dir=directory,
                   environ=environ, deliver=deliver,
                   performance=cfg.performance,
                   references=other_references(cfg.references, cfg.compare))

    # -- delivery ---------------------------------------------------------------------------
    def _notifier(self, name: str, ch: ChannelConfig) -> Notifier:
        timeout = self.cfg.delivery.timeout
        s = self.secrets
        if ch.type == "pagerduty":
            url = s.get(name, "url") if ch.url_env else ch.url
            return PagerDutyNotifier(url, s.get(name, "routing_key"), timeout)
        if ch.type == "slack":
            return SlackNotifier(s.get(name, "webhook_url"), timeout)
        if ch.type == "alertmanager":
            url = s.get(name, "url") if ch.url_env else str(ch.url)
            return AlertmanagerNotifier(url, self.store, name, ch.resend_interval, timeout)
        if ch.type == "webhook":
            url = s.get(name, "url") if ch.url_env else str(ch.url)
            headers = {h: s.get(name, f"header {h}") for h in ch.headers_env}
            return WebhookNotifier(url, headers, timeout)
        return ConsoleNotifier(ch.stream)

    def start(self) -> Alerting:
        """Start background delivery (idempotent). Pending notifications from before a restart
        are delivered first, in order."""
        if not self.deliver or self._workers:
            return self
        self._filters = install_redaction(self.secrets, _LOGGERS)
        dropped = self.store.drop_channels_except(self.cfg.channels)
        if dropped:
            log.warning("dropped %d undelivered notifications of channels no longer configured",
                        dropped)
        for name, ch in self.cfg.channels.items():
            bucket = TokenBucket(ch.rate_per_second, ch.burst) if ch.type == "slack" else None
            worker = ChannelWorker(
                name, self.store, lambda n=name, c=ch: self._notifier(n, c),  # type: ignore[misc]
                self.cfg.delivery, self._stats, self.secrets, bucket,
            )
            self._workers[name] = worker
            worker.start()
        return self

    # -- evaluation -------------------------------------------------------------------------
    def observe_window(self, measurements: Sequence[Measurement]) -> list[AlertEvent]:
        """All measurements of one closed window (one tier): returns the alert transitions.

        A window already evaluated (the same tier and end, e.g. published again after a
        crash between publishing and checkpointing) is ignored, so it cannot count twice
        toward ``for_windows`` or page twice."""
        with self._lock:
            seen = {tier: set(ends) for tier, ends in self._windows.items()}
            fresh = [m for m in measurements if m.window_end not in seen.get(m.window, ())]
            windows: dict[str, list[float]] = {}
            for m in fresh:
                ends = windows.setdefault(m.window, list(self._windows.get(m.window, [])))
                if m.window_end not in ends:
                    ends.append(m.window_end)
            for tier, ends in windows.items():
                windows[tier] = sorted(ends)[-WINDOWS_REMEMBERED:]
        if len(fresh) < len(measurements):
            log.info("ignored %d measurements of windows already evaluated",
                     len(measurements) - len(fresh))
        return self._observe(fresh, windows)

    def observe_freshness(self, measurements: Sequence[Measurement]) -> list[AlertEvent]:
        """Staleness measurements of one freshness tick."""
        return self._observe([m for m in measurements if m.check == "freshness"])

    def _observe(self, measurements: Sequence[Measurement],
                 windows: dict[str, list[float]] | None = None) -> list[AlertEvent]:
        with self._lock:
            if windows:
                self._windows.update(windows)
            active = {AlertKey.from_id(k).parts for k in self._states}
            findings = self.rules.evaluate(measurements, self._history, active)
            events: list[AlertEvent] = []
            changes: list[Change] = []
            updates: dict[str, AlertStatus | None] = {}
            for f in findings:
                kid = f.key.id
                old = self._states.get(kid) or AlertStatus()
                new, event = step(old, f, self.cfg.repeat_interval)
                if event is not None:
                    events.append(event)
                    if event.state == "firing":
                        fire = self.router.targets(event.severity, f.channels)
                        gone = tuple(c for c in old.channels if c not in fire)
                        new = replace(new, channels=tuple(fire))
                        changes.append(Change(event, tuple(fire), gone))
                    elif event.state == "resolved":
                        changes.append(Change(event, (), old.channels))
                        new = replace(new, channels=())
                if new == old:
                    continue
                if new.is_idle:
                    self._states.pop(kid, None)
                    updates[kid] = None
                else:
                    self._states[kid] = new
                    updates[kid] = new
            rows = self.router.rows(changes) if self.deliver else []
            history = {k: self._history[k] for k in self._history.dirty}
            self._history.dirty.clear()
            if updates or history or rows or windows:
                self.store.commit(updates, history, rows, windows)
                self._commits += 1
                if not self._workers and self._commits % 100 == 0:
                    self.store.checkpoint()  # nobody else will (no delivery threads)
        if rows:
            for worker in self._workers.values():
                worker.wake.set()
        return events

    # -- introspection ----------------------------------------------------------------------
    def firing(self) -> dict[str, int]:
        """Alerts firing now, by severity."""
        counts = {"warning": 0, "critical": 0}
        with self._lock:
            for status in self._states.values():
                if status.phase == "firing" and status.severity in counts:
                    counts[status.severity] += 1
        return counts

    def delivery_stats(self) -> dict[tuple[str, str], int]:
        """Delivery attempts since start by (channel, outcome): sent, retried, rate_limited,
        failed, expired, resent."""
        return self._stats.snapshot()

    def pending(self) -> int:
        """Notifications waiting in the outbox."""
        with self._lock:
            return self.store.pending_count()

    def outbox(self) -> list[dict[str, Any]]:
        """Every notification with its status, attempts and last (redacted) error."""
        with self._lock:
            return self.store.outbox_report()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until the outbox is drained (True) or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.pending() == 0:
                return True
            if time.monotonic() >= deadline or not self._workers:
                return False
            progress = [w.progress for w in self._workers.values()]
            progress[0].wait(timeout=min(0.05, max(0.0, deadline - time.monotonic())))
            for p in progress:
                p.clear()

    def close(self, timeout: float = 5.0) -> None:
        """Stop delivery threads (undelivered rows stay in the outbox for the next start)."""
        for worker in self._workers.values():
            worker.stop.set()
            worker.wake.set()
        for worker in self._workers.values():
            worker.join(timeout)
        self._workers.clear()
        remove_redaction(self._filters, _LOGGERS)
        self._filters = []
        with self._lock:
            self.store.close()

    def __enter__(self) -> Alerting:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

