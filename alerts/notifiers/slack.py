"""Slack incoming webhook: ``200 ok`` is success; 429 carries Retry-After; 5xx is retried;
400/403/404/410 are fatal (bad payload, revoked or archived webhook).

>>> notifier = SlackNotifier("http://127.0.0.1:9/services/T0/B0/x", timeout=0.2)
>>> notifier.send(OutboxRow("slack", "digest", "w", {"text": "hi"})).outcome
'retry'
"""

from __future__ import annotations

import httpx

from driftline.alerts.notifiers.base import Result, classify, http_client, network_error
from driftline.alerts.store import OutboxRow


class SlackNotifier:
    def __init__(self, webhook_url: str, timeout: float = 10.0) -> None:
        self._url = webhook_url
        self._client = http_client(timeout)

    def send(self, row: OutboxRow) -> Result:
        try:
            response = self._client.post(self._url, json=row.payload)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return network_error(exc)
        result = classify(response, ok=(200,))
        if result.outcome == "sent" and response.text.strip() != "ok":
            return Result("fatal", None, f"unexpected answer {response.text[:100]!r}")
        return result

    def close(self) -> None:
        self._client.close()
