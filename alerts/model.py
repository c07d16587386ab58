"""What the rest of driftline hands to alerts/: plain measurements, nothing of Kafka.

The engine evaluates a closed window and turns its scores into ``Measurement`` objects, one per
(check, metric, feature, segment, cohort, window tier); the freshness clock does the same for
staleness. ``alerts`` applies the rules (thresholds, significance, hysteresis) and decides what
becomes an alert. This module is the contract between the two sides: add fields, don't rename.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Check = Literal["drift", "quality", "volume", "freshness", "performance"]
Status = Literal["ok", "drift", "insufficient_data"]


@dataclass(frozen=True, slots=True)
class Measurement:
    """One statistic of one window (or one freshness tick) for one feature and cohort.

    ``check``/``metric`` pairs in use:
      drift:     psi, ks, js, wasserstein, chi2         (value = the score; p_value set)
      quality:   null_ratio, nan_ratio, out_of_range_ratio, unseen_ratio, invalid_ratio
      volume:    events                                   (value = events in the window;
                                                           details["expected"] = baseline rate)
      freshness: staleness_seconds                        (feature = the freshness rule's name;
                                                           details["max_staleness"] = SLA seconds)
      performance: accuracy, roc_auc                      (feature = realized|estimated; value =
                                                           the drop below the baseline; p_value
                                                           one-sided; n = labels/predictions)
    ``feature`` is "" where a check is not about one feature (volume).
    ``segment``/``cohort`` are "all"/"all" for the global cohort.
    ``window`` is the window tier ("5m", "1h"), "" for freshness.
    ``reference`` is what a drift measurement compares with: ``training`` (the baseline),
    ``trailing``, ``seasonal`` or ``cohort:<value>``; ``training`` for every other check.
    Times are Unix seconds.
    """

    monitor: str
    check: Check
    metric: str
    feature: str
    segment: str
    cohort: str
    window: str
    window_start: float
    window_end: float
    value: float
    n: int = 0
    m: int = 0
    p_value: float | None = None
    status: Status = "ok"
    details: Mapping[str, Any] = field(default_factory=dict)
    reference: str = "training"


Severity = Literal["warning", "critical"]
AlertState = Literal["pending", "firing", "resolved"]
Transition = Literal["pending", "new", "escalated", "deescalated", "repeat", "resolved"]
KEY_SEPARATOR = "\x1f"
SEVERITY_RANK: dict[str | None, int] = {None: 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class AlertKey:
    """What identifies one alert: a finding without its value and severity. Alerts against
    different references are different alerts; a ``training`` key has the six parts it had
    before references existed (its id, and so stored alert state, is unchanged).

    >>> AlertKey("m", "drift", "x", "all", "all", "5m", "trailing").parts[-1]
    'trailing'
    >>> len(AlertKey("m", "drift", "x", "all", "all", "5m").parts)
    6
    """

    monitor: str
    check: str
    feature: str
    segment: str
    cohort: str
    window: str
    reference: str = "training"

    @property
    def id(self) -> str:
        """The key as one string (fields joined by the ASCII unit separator, never in labels)."""
        return KEY_SEPARATOR.join(self.parts)

    @property
    def parts(self) -> tuple[str, ...]:
        six = (self.monitor, self.check, self.feature, self.segment, self.cohort, self.window)
        return six if self.reference == "training" else (*six, self.reference)

    @classmethod
    def from_id(cls, key_id: str) -> AlertKey:
        return cls(*key_id.split(KEY_SEPARATOR))

    @property
    def dedup_key(self) -> str:
        """Stable, ≤255 chars: the same alert always maps to the same PagerDuty incident key."""
        digest = hashlib.sha256(self.id.encode()).hexdigest()[:24]
        readable = f"{self.monitor}/{self.check}/{self.feature or '-'}/{self.segment}={self.cohort}"
        if self.reference != "training":
            readable += f"/{self.reference}"
        return f"driftline:{readable[:200]}:{self.window or '-'}:{digest}"

    @classmethod
    def of(cls, m: Measurement) -> AlertKey:
        return cls(m.monitor, m.check, m.feature, m.segment, m.cohort, m.window, m.reference)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """A transition of one alert, as returned by ``Alerting.observe_window``.

    ``state`` is pending, firing or resolved; ``transition`` says why (new, escalated,
    deescalated, repeat, resolved, pending). ``since`` is the start of the first breaching window.
    """

    monitor: str
    check: str
    metric: str
    feature: str
    segment: str
    cohort: str
    window: str
    severity: Severity
    state: AlertState
    transition: Transition
    value: float
    threshold: float | None
    n: int
    window_start: float
    window_end: float
    since: float
    p_value: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    reference: str = "training"

    @property
    def key(self) -> AlertKey:
        return AlertKey(
            self.monitor, self.check, self.feature, self.segment, self.cohort, self.window,
            self.reference,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the backtest report's ``alerts`` entries)."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["details"] = dict(self.details)
        out["dedup_key"] = self.key.dedup_key
        return out
