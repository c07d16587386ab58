"""driftline alerts: findings of each window -> alerts with a lifecycle -> routed, durable,
rate-limited notifications (PagerDuty, Slack, Alertmanager, webhook, console).

Knows nothing of Kafka: the stream engine hands it :class:`Measurement` objects and uses
:class:`Alerting` only.
"""

from driftline.alerts.alerting import Alerting
from driftline.alerts.model import AlertEvent, AlertKey, Measurement
from driftline.alerts.secrets import MissingSecretError
from driftline.stream.config.alerts import (
    AlertsConfig,
    DriftConfig,
    FreshnessRule,
    QualityConfig,
    VolumeConfig,
    parse_duration,
)

__all__ = [
    "AlertEvent",
    "AlertKey",
    "Alerting",
    "AlertsConfig",
    "DriftConfig",
    "FreshnessRule",
    "Measurement",
    "MissingSecretError",
    "QualityConfig",
    "VolumeConfig",
    "parse_duration",
]
