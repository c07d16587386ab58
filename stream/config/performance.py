"""The ``performance`` block of driftline.yaml: when a model-performance drop alerts.

A drop versus the baseline's reference performance alerts only when it is both material
(at least ``warning``/``critical`` absolute, e.g. 0.02 accuracy) and statistically significant
for the labels at hand (one-sided p-value at most ``alpha``: two-proportion z-test for accuracy,
Hanley-McNeil for ROC AUC, :mod:`sketches.performance_tests`), with at least ``min_labeled``
labels (or predictions, for the estimate). Tiers, routing, ``for_windows``/``clear_windows``
hysteresis and digests are the drift alerts' own.

>>> PerformanceAlertConfig().warning, PerformanceAlertConfig().metrics
(0.02, ['accuracy', 'roc_auc'])
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PerformanceAlertConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="alert on model-performance drops")
    metrics: list[Literal["accuracy", "roc_auc"]] = Field(
        default=["accuracy", "roc_auc"],
        description="metrics whose drop versus the baseline alerts")
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

    @model_validator(mode="after")
    def _check(self) -> PerformanceAlertConfig:
        if self.critical is not None and self.critical < self.warning:
            raise ValueError("performance.critical must be >= performance.warning")
        if self.clear > self.warning:
            raise ValueError("performance.clear must be <= performance.warning")
        return self
