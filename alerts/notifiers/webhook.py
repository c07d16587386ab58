"""Generic webhook: POST the alert facts as JSON; 2xx is success, 429/5xx retried, 4xx fatal.
Optional headers (e.g. an Authorization token) come from environment variables.

>>> WebhookNotifier("http://127.0.0.1:9/hook", {}, timeout=0.2).send(
...     OutboxRow("hook", "event", "k", {"state": "firing"})).outcome
'retry'
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from driftline.alerts.notifiers.base import Result, classify, http_client, network_error
from driftline.alerts.store import OutboxRow


class WebhookNotifier:
    def __init__(self, url: str, headers: Mapping[str, str], timeout: float = 10.0) -> None:
        self._url = url
        self._headers = dict(headers)
        self._client = http_client(timeout)

    def send(self, row: OutboxRow) -> Result:
        try:
            response = self._client.post(self._url, json=row.payload, headers=self._headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return network_error(exc)
        return classify(response, ok=tuple(range(200, 300)))

    def close(self) -> None:
        self._client.close()
