"""Senders, one per channel type. Each turns one outbox row into one request and classifies the
answer: sent, retry (network error, 429, 5xx; with the service's Retry-After) or fatal (a 4xx
that will never succeed). The same code talks to the real services and to test receivers: only
the URL, from the environment, differs."""

from alerts.notifiers.alertmanager import AlertmanagerNotifier
from alerts.notifiers.base import Notifier, Result
from alerts.notifiers.console import ConsoleNotifier
from alerts.notifiers.pagerduty import PagerDutyNotifier
from alerts.notifiers.slack import SlackNotifier
from alerts.notifiers.webhook import WebhookNotifier

__all__ = [
    "AlertmanagerNotifier",
    "ConsoleNotifier",
    "Notifier",
    "PagerDutyNotifier",
    "Result",
    "SlackNotifier",
    "WebhookNotifier",
]
