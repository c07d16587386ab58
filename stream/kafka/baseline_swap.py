"""Swapping the baseline of a running worker: check the location on a timer and on SIGHUP, hand
a new baseline to the mergers between two rounds, count and log what was rejected.

The poller (:class:`stream.sources.baseline_watch.BaselineWatcher`, wired by ``driftline run``)
returns a new, checked baseline or None, and raises a ``ValueError`` with a ``reason`` for one
it rejected. :class:`BaselineSwaps` keeps the running version and the counts the exporter shows
(``driftline_baseline_info``, ``driftline_baseline_swaps_total``,
``driftline_baseline_rejected_total``).

>>> s = BaselineSwaps(None)
>>> s.rejected("unreadable", "not a baseline"); s.status()
{'version': None, 'swaps': 0, 'rejected': {'unreadable': 1}}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from driftline.sketches.baseline import Baseline

log = logging.getLogger(__name__)


class BaselinePoller(Protocol):
    def poll(self) -> Baseline | None:
        """A new baseline to use, or None; a ValueError with ``reason`` when one is rejected."""


class BaselineSwaps:
    """The running baseline's version and the swap/rejection counts of this process."""

    def __init__(self, current: Baseline | None) -> None:
        self.version = current.version if current is not None else None
        self.swaps = 0
        self.rejections: dict[str, int] = {}

    def rejected(self, reason: str, message: str) -> None:
        self.rejections[reason] = self.rejections.get(reason, 0) + 1
        log.warning("baseline rejected (%s): %s; keeping version %s", reason, message,
                    self.version or "none")

    def swapped(self, new: Baseline) -> None:
        log.info("baseline swapped: version %s -> %s (%s, built %s); windows closing from now "
                 "on are evaluated against it", self.version or "none", new.version,
                 new.location, new.created_at.isoformat())
        self.version = new.version
        self.swaps += 1

    def status(self) -> dict[str, Any]:
        return {"version": self.version, "swaps": self.swaps, "rejected": dict(self.rejections)}

    async def run(self, poller: BaselinePoller, interval: float, stopping: asyncio.Event,
                  swap: Callable[[Baseline], Awaitable[None]]) -> None:
        """Every ``interval`` seconds (0: never) and on SIGHUP, until ``stopping``: poll, then
        swap or count."""
        wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, wake.set)
        try:
            while not stopping.is_set():
                waits = [asyncio.ensure_future(e.wait()) for e in (stopping, wake)]
                await asyncio.wait(waits, timeout=interval or None,
                                   return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    w.cancel()
                if stopping.is_set():
                    return
                wake.clear()
                await self.check(poller, swap)
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)

    async def check(self, poller: BaselinePoller,
                    swap: Callable[[Baseline], Awaitable[None]]) -> None:
        """One poll: swap in a new baseline or count a rejected one."""
        try:
            new = await asyncio.to_thread(poller.poll)
            if new is not None:
                await swap(new)
                self.swapped(new)
        except ValueError as exc:
            self.rejected(str(getattr(exc, "reason", "unreadable")), str(exc))
        except Exception:  # the running baseline stays; the next check tries again
            log.exception("checking the baseline location failed; keeping version %s",
                          self.version or "none")
