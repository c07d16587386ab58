"""``model:`` and ``labels:`` of driftline.yaml: what the model predicts and where its ground
truth comes from (model quality: realized and estimated performance).

The key names ``model.{task, prediction, predicted_class, threshold, id}`` and
``labels.{topic, id, label, time, max_delay}`` are a contract other tools rely on.

>>> m = ModelConfig.model_validate({"prediction": "model.score", "id": "request_id"})
>>> m.task, m.threshold
('binary_classification', 0.5)
>>> LabelsConfig.model_validate({"id": "request_id", "label": "repaid", "max_delay": "30d"}
...     ).max_delay
2592000.0
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from driftline.stream.config.types import Duration, StrictModel


class ModelConfig(StrictModel):
    """The model's output in each monitored event."""

    task: Literal["binary_classification", "regression"] = "binary_classification"
    """binary_classification: the prediction is a probability in [0, 1]; regression: a
    number (multiclass may follow later)."""
    prediction: str
    """Dotted path of the score (probability of the positive class) or predicted value in the
    event, e.g. `model.score`."""
    predicted_class: str | None = None
    """Dotted path of the model's own predicted class (0/1, true/false); default: score >=
    threshold."""
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    """Decision threshold of binary classification (when `predicted_class` is unset)."""
    id: str
    """Dotted path of the join key (prediction id) in the event."""
    score_bins: int = Field(2048, ge=16, le=65536)
    """Bins of the score grid (uniform in log-odds over [-10, 10]) behind ROC AUC, the
    calibration map and the estimated performance; 2048 keeps AUC within 0.005 of exact."""
    estimate: bool = True
    """Estimate performance before labels arrive (binary: confidence-based, from the score
    distribution and the baseline's calibration; regression: the baseline's expected error
    per prediction bin over the window's predictions)."""
    error_bins: int = Field(64, ge=1, le=4096)
    """Regression: bins of the baseline's error map (quantiles of the baseline's
    predictions, at least 50 baseline rows per bin on average) behind the estimated MAE/RMSE."""


class LabelsConfig(StrictModel):
    """Where the ground truth comes from and how it joins the predictions."""

    topic: str | None = None
    """Kafka topic of the label events (not needed for backtest)."""
    id: str
    """Dotted path of the join key in the label event."""
    label: str
    """Dotted path of the ground truth: 0/1 or true/false (binary), a number (regression)."""
    time: str | None = None
    """Dotted path of the label's event time; default: the record timestamp (a backtest
    needs it)."""
    time_unit: Literal["auto", "s", "ms", "iso8601"] = "auto"
    """Unit of `time`, as source.event_time.unit."""
    max_delay: Duration = 30 * 86400.0
    """A prediction still unlabelled this long after its event time is never labelled; a label
    waiting this long for its prediction is dropped as unknown."""
    unlabeled_as: Literal["missing", "negative"] = "missing"
    """What a prediction never labelled within max_delay counts as: missing (only counted),
    or negative (silence means the negative class, e.g. no chargeback within 90 days)."""
    retention: Duration = 7 * 86400.0
    """The label worker keeps a window's performance state this long after it matured (its end
    plus max_delay), then drops it from memory and checkpoints."""
    sample_rate: float = Field(1.0, gt=0.0, le=1.0)
    """Join sample: the fraction of predictions kept for the join (weighted 1/rate); 1 keeps
    every prediction."""
    keep_above: float | None = Field(None, ge=0.0, le=1.0)
    """With sampling, predictions whose score is at or above this are always kept (weight 1):
    the rare positives stay exact."""

    @model_validator(mode="after")
    def _check(self) -> LabelsConfig:
        if self.max_delay <= 0:
            raise ValueError("labels.max_delay must be positive, e.g. 30d")
        return self
