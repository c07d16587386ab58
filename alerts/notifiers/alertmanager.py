"""Alertmanager API v2: ``POST /api/v2/alerts`` with labels/annotations, ``startsAt`` and an
explicit ``endsAt``. Firing alerts are re-sent every ``resend_interval`` (≤ 60 s) with
``endsAt = now + 4 × resend_interval`` (as Prometheus does), so they expire by themselves if
driftline dies; a resolve re-posts the same labels with ``endsAt = now``.

>>> from driftline.alerts.store import Store
>>> am = AlertmanagerNotifier("http://127.0.0.1:9", Store(None), "am", 30.0, timeout=0.2)
>>> am.send(OutboxRow("am", "alerts", "k", {"alerts": []})).detail  # nothing was firing
'nothing to resolve'
>>> firing = [{"labels": {"severity": "warning"}}]
>>> am.send(OutboxRow("am", "alerts", "k", {"alerts": firing})).outcome
'retry'
"""

from __future__ import annotations

import time
from typing import Any

from driftline.alerts.notifiers.base import Result, http_client, post_json
from driftline.alerts.render import iso
from driftline.alerts.store import OutboxRow, Store


def _tier(alert: dict[str, Any]) -> str:
    return str(alert["labels"].get("severity"))


class AlertmanagerNotifier:
    def __init__(
        self, base_url: str, store: Store, channel: str, resend_interval: float,
        timeout: float = 10.0,
    ) -> None:
        self._url = base_url.rstrip("/") + "/api/v2/alerts"
        self._store = store
        self._channel = channel
        self.resend_interval = resend_interval
        self._client = http_client(timeout)

    def _stamp(self, alerts: list[dict[str, Any]], ends: float) -> list[dict[str, Any]]:
        return [{**a, "endsAt": iso(ends)} for a in alerts]

    def send(self, row: OutboxRow) -> Result:
        """Post the key's firing tiers, and resolve the tiers it had before but not now."""
        now = time.time()
        new: list[dict[str, Any]] = row.payload["alerts"]
        tiers = {_tier(a) for a in new}
        gone = [a for a in self._store.am_get(self._channel, row.key) if _tier(a) not in tiers]
        body = self._stamp(new, now + 4 * self.resend_interval) + self._stamp(gone, now)
        if not body:
            return Result("sent", detail="nothing to resolve")
        result = post_json(self._client, self._url, body, ok=(200,))
        if result.outcome == "sent":
            self._store.am_set(self._channel, row.key, new or None)
        return result

    def resend(self) -> Result:
        """Re-post every firing alert with a fresh ``endsAt``."""
        active = self._store.am_active(self._channel)
        if not active:
            return Result("sent", detail="nothing firing")
        body = self._stamp(active, time.time() + 4 * self.resend_interval)
        return post_json(self._client, self._url, body, ok=(200,))

    def close(self) -> None:
        self._client.close()
