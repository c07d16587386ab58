"""Token bucket: about ``rate`` messages per second with bursts of ``burst`` (Slack allows about
one message per second per webhook).

>>> now = [0.0]
>>> bucket = TokenBucket(rate=1.0, burst=2, clock=lambda: now[0])
>>> bucket.take(), bucket.take(), bucket.take()
(0.0, 0.0, 1.0)
>>> now[0] = 1.0
>>> bucket.take()
0.0
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def take(self) -> float:
        """Take one token: 0.0 if granted, else the seconds to wait before asking again."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate

    def drain(self) -> None:
        """The service said 429: assume the budget is spent."""
        with self._lock:
            self._refill()
            self._tokens = 0.0
