"""Background delivery: one thread per channel drains that channel's outbox in order.

Each row is tried until the service accepts it (retry with exponential backoff, or the
service's Retry-After; a 429 also empties the channel's token bucket), is refused for good (4xx:
marked ``failed``), or is older than ``max_age`` (``expired``). Rows of one channel go strictly
in order, so notifications of one alert key never overtake each other. Ingestion never waits:
the evaluating thread only commits rows to SQLite and wakes the workers.

Delivery is at-least-once: a row is marked sent after the service answered. If the process dies
between the answer and the commit (a few milliseconds), the row is sent again after restart.
PagerDuty (same dedup_key) and Alertmanager (same labels) absorb that; for Slack it would be one
duplicate digest — chosen over losing a digest.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

from driftline.alerts.notifiers.alertmanager import AlertmanagerNotifier
from driftline.alerts.notifiers.base import Notifier
from driftline.alerts.ratelimit import TokenBucket
from driftline.alerts.secrets import Secrets
from driftline.alerts.store import Store
from driftline.stream.config.alerts import DeliveryConfig

log = logging.getLogger("driftline.alerts")


class DeliveryStats:
    """Thread-safe counts of delivery attempts by (channel, outcome): sent, retried,
    rate_limited, failed, expired."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, channel: str, outcome: str) -> None:
        with self._lock:
            self._counts[(channel, outcome)] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)


class ChannelWorker(threading.Thread):
    """Delivers one channel's outbox rows, oldest first."""

    def __init__(
        self,
        channel: str,
        store: Store,
        make_notifier: Callable[[], Notifier],
        policy: DeliveryConfig,
        stats: DeliveryStats,
        secrets: Secrets,
        bucket: TokenBucket | None = None,
    ) -> None:
        super().__init__(name=f"driftline-alerts-{channel}", daemon=True)
        self.channel = channel
        self.store = store
        self.make_notifier = make_notifier
        self.policy = policy
        self.stats = stats
        self.secrets = secrets
        self.bucket = bucket
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.progress = threading.Event()
        self._failures = 0
        self._since_checkpoint = 0

    def _backoff(self) -> float:
        p = self.policy
        delay = p.backoff_initial * p.backoff_multiplier ** max(0, self._failures - 1)
        return min(p.backoff_max, delay) * random.uniform(0.8, 1.0)

    def run(self) -> None:
        notifier = self.make_notifier()
        next_resend = 0.0
        try:
            while not self.stop.is_set():
                try:
                    if isinstance(notifier, AlertmanagerNotifier) and (
                        time.monotonic() >= next_resend
                    ):
                        resent = notifier.resend().outcome == "sent"
                        self.stats.add(self.channel, "resent" if resent else "retried")
                        next_resend = time.monotonic() + notifier.resend_interval
                    if self._step(notifier):
                        self._since_checkpoint += 1
                    else:
                        if self._since_checkpoint:
                            self.store.checkpoint()
                            self._since_checkpoint = 0
                        self.wake.wait(timeout=0.5)
                        self.wake.clear()
                    if self._since_checkpoint >= 500:
                        self.store.checkpoint()
                        self._since_checkpoint = 0
                except Exception as exc:  # keep delivering; a traceback could carry a secret
                    self._failures += 1
                    self.stats.add(self.channel, "error")
                    log.error("alert delivery on %s: unexpected %s", self.channel,
                              type(exc).__name__)
                    self.stop.wait(self._backoff())
        finally:
            notifier.close()
            self.store.close()

    def _step(self, notifier: Notifier) -> bool:
        """Try the oldest pending row; False when there is none."""
        rows = self.store.pending_rows(self.channel, limit=1)
        if not rows:
            return False
        row = rows[0]
        if time.time() - row.created > self.policy.max_age:
            self.store.mark(row.id, "expired", "older than max_age")
            self.stats.add(self.channel, "expired")
            log.error("alert notification %d on %s expired undelivered", row.id, self.channel)
            return True
        if self.bucket is not None:
            wait = self.bucket.take()
            if wait > 0:
                self.stop.wait(wait)
                return True
        result = notifier.send(row)
        detail = self.secrets.redact(result.detail)
        if result.outcome == "sent":
            self.store.mark(row.id, "sent")
            self.stats.add(self.channel, "sent")
            if self._failures:
                log.info("alert delivery on %s recovered after %d failed attempts",
                         self.channel, self._failures)
            self._failures = 0
        elif result.outcome == "fatal":
            self.store.mark(row.id, "failed", detail)
            self.stats.add(self.channel, "failed")
            log.error("alert notification %d on %s refused: %s", row.id, self.channel, detail)
        else:
            self._failures += 1
            self.store.mark(row.id, "pending", detail)
            self.stats.add(self.channel, "rate_limited" if result.rate_limited else "retried")
            if result.rate_limited and self.bucket is not None:
                self.bucket.drain()
            delay = result.retry_after if result.retry_after is not None else self._backoff()
            # Warn once per outage, not once per retry.
            log.log(
                logging.WARNING if self._failures == 1 else logging.DEBUG,
                "alert notification %d on %s: %s; retrying in %.1fs (attempt %d)",
                row.id, self.channel, detail, delay, row.attempts + 1,
            )
            self.stop.wait(delay)
        self.progress.set()
        return True
