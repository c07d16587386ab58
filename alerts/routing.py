"""Routing: alert transitions -> outbox rows, per channel type.

Severity picks the channels (``alerts.routes``; a freshness rule's ``alert_channels`` replaces
them). A channel that was told an alert fires is told when it resolves — also when the alert
de-escalates out of that channel's route (critical -> warning resolves the PagerDuty incident).
Slack gets one digest per window for all changes routed to it; PagerDuty one trigger/resolve per
key (stable dedup_key); Alertmanager the key's current tiers; webhooks and console one row per
change.

>>> from driftline.stream.config.alerts import AlertsConfig
>>> cfg = AlertsConfig.model_validate({"channels": {"out": {"type": "console"}},
...                                    "routes": {"critical": ["out"], "warning": ["out"]}})
>>> Router("fraud", cfg).targets("critical", None)
['out']
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from driftline.alerts.model import AlertEvent
from driftline.alerts.render import (
    alertmanager_alerts,
    facts,
    grafana_link,
    iso,
    pagerduty_event,
    report_link,
    slack_digest,
    summary,
)
from driftline.alerts.store import OutboxRow
from driftline.stream.config.alerts import AlertsConfig


@dataclass(frozen=True, slots=True)
class Change:
    """A notifiable transition with the channels to tell it fires and those to tell it ended."""

    event: AlertEvent
    fire: tuple[str, ...]
    resolve: tuple[str, ...]


class Router:
    def __init__(self, monitor: str, cfg: AlertsConfig) -> None:
        self.monitor = monitor
        self.cfg = cfg

    def targets(self, severity: str, override: Sequence[str] | None) -> list[str]:
        return list(override) if override else self.cfg.route(severity)

    def link(self, e: AlertEvent) -> str | None:
        return grafana_link(e, self.cfg.grafana_url, self.cfg.grafana_dashboard_uid)

    def report(self, e: AlertEvent) -> str | None:
        return report_link(e, self.cfg.report_url)

    def rows(self, changes: Sequence[Change]) -> list[OutboxRow]:
        rows: list[OutboxRow] = []
        digests: dict[str, list[AlertEvent]] = {}
        for change in changes:
            e = change.event
            for action, names in (("fire", change.fire), ("resolve", change.resolve)):
                for name in names:
                    channel = self.cfg.channels.get(name)
                    if channel is None:
                        continue
                    if channel.type == "slack":
                        digests.setdefault(name, []).append(e)
                    else:
                        rows.append(self._row(name, channel.type, action, e))
        for name, events in digests.items():
            rows.append(self._digest(name, events))
        return rows

    def _row(self, name: str, kind: str, action: str, e: AlertEvent) -> OutboxRow:
        key = e.key.id
        link = self.link(e)
        if kind == "pagerduty":
            source = getattr(self.cfg.channels[name], "source", None)
            pd_action = "trigger" if action == "fire" else "resolve"
            return OutboxRow(name, pd_action, key,
                             pagerduty_event(e, pd_action, link, source, self.report(e)))
        if kind == "alertmanager":
            alerts = alertmanager_alerts(e, link) if action == "fire" else []
            return OutboxRow(name, "alerts", key, {"alerts": alerts})
        if kind == "webhook":
            return OutboxRow(name, action, key,
                             {"action": action, **facts(e, link, self.report(e))})
        text = summary(e)  # "RESOLVED ..." when resolved
        if action == "resolve" and e.state != "resolved":
            text = f"DOWNGRADED (no longer routed here) {text}"
        return OutboxRow(name, "line", key, {"text": text})

    def _digest(self, name: str, events: list[AlertEvent]) -> OutboxRow:
        window_end = max(e.window_end for e in events)
        tiers = sorted({e.window or "freshness" for e in events})
        ident = hashlib.sha256(
            "|".join([name, *sorted(f"{e.key.id}:{e.transition}:{e.window_end}" for e in events)])
            .encode()
        ).hexdigest()[:12]
        channel = self.cfg.channels[name]
        cap = getattr(channel, "max_alerts_per_digest", 20)
        note = f"{'/'.join(tiers)} window ending {iso(window_end)} · digest {ident}"
        payload = slack_digest(self.monitor, events, [self.link(e) for e in events], cap, note,
                               [self.report(e) for e in events])
        return OutboxRow(name, "digest", f"digest:{ident}", payload)
