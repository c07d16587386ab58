"""Control-chart thresholds learnt from a metric's own history (mean + k·σ, or EWMA).

>>> chart = ChartState()
>>> for v in [0.02, 0.03, 0.025, 0.02, 0.03]:
...     chart = chart.update(v, method="sigma", lam=0.2)
>>> round(chart.mean, 4), chart.n
(0.025, 5)
>>> w, c, clear = chart.thresholds(k_warning=3, k_critical=5)
>>> round(w, 4) < round(c, 4)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class ChartState:
    """Running mean and variance of one metric of one alert key (in-control windows only)."""

    n: int = 0
    mean: float = 0.0
    var: float = 0.0

    def update(self, value: float, method: Literal["sigma", "ewma"], lam: float) -> ChartState:
        """Add one in-control value: Welford (``sigma``) or exponentially weighted (``ewma``)."""
        if not math.isfinite(value):
            return self
        if self.n == 0:
            return ChartState(1, value, 0.0)
        if method == "sigma":
            n = self.n + 1
            delta = value - self.mean
            mean = self.mean + delta / n
            m2 = self.var * (self.n - 1) + delta * (value - mean)
            return ChartState(n, mean, m2 / (n - 1))
        delta = value - self.mean
        mean = self.mean + lam * delta
        var = (1 - lam) * (self.var + lam * delta * delta)
        return ChartState(self.n + 1, mean, var)

    def thresholds(self, k_warning: float, k_critical: float) -> tuple[float, float, float]:
        """(warning, critical, clear) = mean + k·σ, with σ floored so a flat history still
        leaves room for noise."""
        sd = max(math.sqrt(max(self.var, 0.0)), 0.05 * abs(self.mean), 1e-9)
        return (
            self.mean + k_warning * sd,
            self.mean + k_critical * sd,
            self.mean + 0.5 * k_warning * sd,
        )
