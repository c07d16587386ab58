"""The life of one alert key: ok -> pending (for N windows) -> firing -> resolved.

Escalation (warning -> critical) is immediate; de-escalation and clearing need ``clear_windows``
consecutive calmer windows, or one window below the lower ``clear`` threshold (hysteresis). A
window with too few events changes nothing. While firing, ``repeat_interval`` re-notifies.

>>> from driftline.alerts.model import AlertKey, Measurement
>>> from driftline.alerts.rules import Finding
>>> key = AlertKey("fraud", "drift", "amount", "all", "all", "5m")
>>> def window(t, severity, clear=False):
...     m = Measurement("fraud", "drift", "psi", "amount", "all", "all", "5m", t, t + 300, 0.3)
...     return Finding(key, m, severity, 0.2, clear, False, for_windows=2, clear_windows=3)
>>> status, seen = AlertStatus(), []
>>> for t, sev, clear in [(0, "warning", False), (300, "critical", False), (600, None, True)]:
...     status, event = step(status, window(t, sev, clear), repeat_interval=3600)
...     seen.append(event and f"{event.state}/{event.severity}")
>>> seen
['pending/warning', 'firing/critical', 'resolved/critical']
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from driftline.alerts.model import SEVERITY_RANK, AlertEvent, AlertState, Severity, Transition
from driftline.alerts.rules import Finding

Phase = Literal["ok", "pending", "firing"]


@dataclass(frozen=True, slots=True)
class AlertStatus:
    """What is remembered about one alert key between windows (persisted as JSON)."""

    phase: Phase = "ok"
    severity: Severity | None = None
    breaches: int = 0
    calm: int = 0
    since: float = 0.0
    last_notified: float = 0.0
    channels: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> AlertStatus:
        data = json.loads(text)
        data["channels"] = tuple(data.get("channels", ()))
        return cls(**data)

    @property
    def is_idle(self) -> bool:
        return self.phase == "ok" and not self.channels


def _event(
    f: Finding, state: AlertState, transition: Transition, severity: Severity, since: float
) -> AlertEvent:
    m = f.measurement
    details = dict(m.details)
    if f.breaches:
        details["breaches"] = f.breaches
    return AlertEvent(
        monitor=m.monitor, check=m.check, metric=m.metric, feature=m.feature, segment=m.segment,
        cohort=m.cohort, window=m.window, severity=severity, state=state, transition=transition,
        value=m.value, threshold=f.threshold, n=m.n, window_start=m.window_start,
        window_end=m.window_end, since=since, p_value=m.p_value, details=details,
        reference=m.reference,
    )


def step(
    status: AlertStatus, f: Finding, repeat_interval: float
) -> tuple[AlertStatus, AlertEvent | None]:
    """Advance one key by one window; return the new status and the transition, if any."""
    if f.insufficient:
        return status, None
    now = f.measurement.window_end
    sev = f.severity
    if sev is not None:
        if status.phase == "ok":
            since = f.measurement.window_start
            if f.for_windows <= 1:
                new = replace(status, phase="firing", severity=sev, breaches=1, calm=0,
                              since=since, last_notified=now)
                return new, _event(f, "firing", "new", sev, since)
            new = replace(status, phase="pending", severity=sev, breaches=1, calm=0, since=since)
            return new, _event(f, "pending", "pending", sev, since)
        if status.phase == "pending":
            worst = sev if SEVERITY_RANK[sev] >= SEVERITY_RANK[status.severity] else status.severity
            breaches = status.breaches + 1
            if breaches >= f.for_windows:
                new = replace(status, phase="firing", severity=sev, breaches=breaches,
                              last_notified=now)
                return new, _event(f, "firing", "new", sev, status.since)
            return replace(status, severity=worst, breaches=breaches), None
        # firing
        current = status.severity or sev
        if SEVERITY_RANK[sev] > SEVERITY_RANK[current]:
            new = replace(status, severity=sev, calm=0, last_notified=now)
            return new, _event(f, "firing", "escalated", sev, status.since)
        if SEVERITY_RANK[sev] < SEVERITY_RANK[current]:
            calm = status.calm + 1
            if calm >= f.clear_windows:
                new = replace(status, severity=sev, calm=0, last_notified=now)
                return new, _event(f, "firing", "deescalated", sev, status.since)
            return replace(status, calm=calm), None
        if now - status.last_notified >= repeat_interval:
            new = replace(status, calm=0, last_notified=now)
            return new, _event(f, "firing", "repeat", sev, status.since)
        return replace(status, calm=0), None
    # a calm window
    if status.phase == "pending":
        return replace(status, phase="ok", severity=None, breaches=0, calm=0), None
    if status.phase == "firing":
        calm = status.calm + 1
        if f.clear or calm >= f.clear_windows:
            severity = status.severity or "warning"
            new = replace(status, phase="ok", severity=None, breaches=0, calm=0,
                          last_notified=now)
            return new, _event(f, "resolved", "resolved", severity, status.since)
        return replace(status, calm=calm), None
    return status, None
