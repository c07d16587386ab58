"""The ``retraining:`` section: triggers that tell a training pipeline to retrain, and where
their events go (evaluated by :mod:`stream.performance.retraining`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from driftline.stream.config.types import Duration, StrictModel


class TriggerConfig(StrictModel):
    """One retraining trigger."""

    metric: Literal["accuracy", "feature_drift_psi", "prediction_distribution_shift"]
    """accuracy: realized accuracy drop over `window`; feature_drift_psi: PSI of a listed
    feature; prediction_distribution_shift: PSI of the score distribution."""
    threshold: float = Field(gt=0)
    """Absolute accuracy drop, or the PSI above which the trigger fires."""
    window: Duration = 7 * 86400.0
    """accuracy: the span of matured windows whose labels are pooled."""
    features: list[str] = []
    """feature_drift_psi: the features it watches (required there)."""
    alpha: float = Field(0.01, gt=0, lt=1)
    """accuracy: one-sided significance level of the drop."""

    @model_validator(mode="after")
    def _check(self) -> TriggerConfig:
        if self.metric == "feature_drift_psi" and not self.features:
            raise ValueError("a feature_drift_psi trigger needs `features: [...]`")
        return self


class RetrainingConfig(StrictModel):
    """Retraining triggers and where their events go."""

    triggers: list[TriggerConfig] = []
    """The triggers; any one firing emits an event."""
    webhook_url_env: str | None = None
    """Environment variable holding the webhook URL the event is POSTed to."""
    kafka_topic: str | None = None
    """Kafka topic the event is produced to (JSON value, key = monitor)."""
    cooldown: Duration = 7 * 86400.0
    """A trigger that fired stays quiet this long (event time)."""
