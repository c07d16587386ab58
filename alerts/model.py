"""What the rest of driftline hands to alerts/: plain measurements, nothing of Kafka.

The engine evaluates a closed window and turns its scores into ``Measurement`` objects, one per
(check, metric, feature, segment, cohort, window tier); the freshness clock does the same for
staleness. ``alerts`` applies the rules (thresholds, significance, hysteresis) and decides what
becomes an alert. This module is the contract between the two sides: add fields, don't rename.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Check = Literal["drift", "quality", "volume", "freshness"]
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
    ``feature`` is "" where a check is not about one feature (volume).
    ``segment``/``cohort`` are "all"/"all" for the global cohort.
    ``window`` is the window tier ("5m", "1h"), "" for freshness.
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
