"""PagerDuty Events API v2: one incident per alert key (stable ``dedup_key``), ``resolve`` when
it clears. 202 is success; 429/5xx/network errors are retried (a re-sent trigger with the same
dedup_key joins the same open incident, so retries never page twice); 400 is never retried.

>>> notifier = PagerDutyNotifier("http://127.0.0.1:9/v2/enqueue", "key", timeout=0.2)
>>> notifier.send(OutboxRow("pagerduty", "resolve", "k", {"event_action": "resolve",
...                                                       "dedup_key": "d"})).outcome
'retry'
"""

from __future__ import annotations

from driftline.alerts.notifiers.base import Result, http_client, post_json
from driftline.alerts.store import OutboxRow


class PagerDutyNotifier:
    def __init__(self, url: str, routing_key: str, timeout: float = 10.0) -> None:
        self._url = url
        self._routing_key = routing_key
        self._client = http_client(timeout)

    def send(self, row: OutboxRow) -> Result:
        body = {"routing_key": self._routing_key, **row.payload}
        return post_json(self._client, self._url, body, ok=(200, 202))

    def close(self) -> None:
        self._client.close()
