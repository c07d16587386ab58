"""The ``performance`` block of driftline.yaml: when a model-performance drop alerts.

A drop versus the baseline's reference performance alerts only when it is both material
(at least ``warning``/``critical`` absolute, e.g. 0.02 accuracy) and statistically significant
for the labels at hand (one-sided p-value at most ``alpha``: two-proportion z-test for accuracy,
Hanley-McNeil for ROC AUC, :mod:`sketches.performance_tests`), with at least ``min_labeled``
labels (or predictions, for the estimate). Regression metrics (mae, rmse, mse) are worse when
they RISE: their value is the relative increase over the reference (0.1 = 10 % more error),
tested with a one-sided Welch z-test (:func:`sketches.regression.error_rise_p`), and their
materiality levels default to ``REGRESSION_LEVELS`` unless ``thresholds`` sets them. Tiers,
routing, ``for_windows``/``clear_windows`` hysteresis and digests are the drift alerts' own.

>>> PerformanceAlertConfig().warning, PerformanceAlertConfig().metrics
(0.02, ['accuracy', 'roc_auc', 'mae', 'rmse'])
>>> PerformanceAlertConfig(thresholds={"mae": {"warning": 0.2}}).levels("mae")
(0.2, 0.25, 0.1)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from driftline.stream.config.alerts import Tier

Metric = Literal["accuracy", "roc_auc", "mae", "rmse", "mse"]
REGRESSION_METRICS = ("mae", "rmse", "mse")
# (warning, critical, clear) relative increases of the regression metrics
REGRESSION_LEVELS = {"mae": (0.1, 0.25, 0.05), "rmse": (0.1, 0.25, 0.05),
                     "mse": (0.2, 0.5, 0.1)}


class PerformanceAlertConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="alert on model-performance drops")
    metrics: list[Metric] = Field(
        default=["accuracy", "roc_auc", "mae", "rmse"],
        description="metrics whose drop versus the baseline alerts (each task uses those that "
                    "apply: accuracy, roc_auc for binary classification; mae, rmse, mse for "
                    "regression, where a rise is the drop)")
    thresholds: dict[Metric, Tier] = Field(
        default_factory=dict,
        description="per-metric warning/critical/clear, e.g. {mae: {warning: 0.15}}; unset "
                    "levels: 0.1/0.25/0.05 relative increase for mae and rmse, 0.2/0.5/0.1 for "
                    "mse, `warning`/`critical`/`clear` for the rest")
    warning: float = Field(default=0.02, gt=0, le=1, description="absolute drop that is a warning")
    critical: float | None = Field(default=0.05, gt=0, le=1,
                                   description="absolute drop that is critical (null: never)")
    clear: float = Field(default=0.01, ge=0, le=1,
                         description="the alert clears when the drop is below this")
    alpha: float = Field(default=0.01, gt=0, lt=1,
                         description="one-sided significance level the drop must reach")
    min_labeled: int = Field(default=200, ge=1, description="fewer labels (effective) never alert")
    estimated: bool = Field(default=True, description="also alert on the estimated performance "
                            "(before labels; `feature: estimated` in the alert)")
    for_windows: int = Field(default=1, ge=1, description="breaching windows before firing")
    clear_windows: int = Field(default=2, ge=1, description="clear windows before resolving")

    def levels(self, metric: str) -> tuple[float, float | None, float]:
        """(warning, critical, clear) of a metric: its ``thresholds`` entry, else the
        regression defaults or the global levels."""
        warning, critical, clear = REGRESSION_LEVELS.get(
            metric, (self.warning, self.critical, self.clear))
        own = self.thresholds.get(metric)  # type: ignore[call-overload]
        if own is not None:
            warning = own.warning if own.warning is not None else warning
            critical = own.critical if own.critical is not None else critical
            if own.clear is not None:
                clear = own.clear
            elif own.warning is not None:  # as every Tier: clear defaults to warning / 2
                clear = own.warning / 2
        return warning, critical, clear

    @model_validator(mode="after")
    def _check(self) -> PerformanceAlertConfig:
        if self.critical is not None and self.critical < self.warning:
            raise ValueError("performance.critical must be >= performance.warning")
        if self.clear > self.warning:
            raise ValueError("performance.clear must be <= performance.warning")
        for metric in self.thresholds:
            warning, critical, clear = self.levels(metric)
            if critical is not None and critical < warning:
                raise ValueError(f"performance.thresholds.{metric}: critical must be >= warning")
            if clear > warning:
                raise ValueError(f"performance.thresholds.{metric}: clear must be <= warning")
        return self
