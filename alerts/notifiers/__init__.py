"""Senders, one per channel type. Each turns one outbox row into one request and classifies the
answer: sent, retry (network error, 429, 5xx; with the service's Retry-After) or fatal (a 4xx
that will never succeed). The same code talks to the real services and to test receivers: only
the URL, from the environment, differs."""

from driftline.alerts.notifiers.alertmanager import AlertmanagerNotifier
from driftline.alerts.notifiers.base import Notifier, Result
from driftline.alerts.notifiers.console import ConsoleNotifier
from driftline.alerts.notifiers.pagerduty import PagerDutyNotifier
from driftline.alerts.notifiers.slack import SlackNotifier
from driftline.alerts.notifiers.webhook import WebhookNotifier

__all__ = [
    "AlertmanagerNotifier",
    "ConsoleNotifier",
    "Notifier",
    "PagerDutyNotifier",
    "Result",
    "SlackNotifier",
    "WebhookNotifier",
]
