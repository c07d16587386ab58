"""Swapping the baseline of a running worker: check the location on a timer, hand a new baseline
to the mergers between two rounds, count and log what was rejected.

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
        """Every ``interval`` seconds until ``stopping``: poll, then swap or count."""
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), interval)
            if stopping.is_set():
                return
            try:
                new = await asyncio.to_thread(poller.poll)
            except ValueError as exc:
                self.rejected(str(getattr(exc, "reason", "unreadable")), str(exc))
                continue
            if new is not None:
                await swap(new)
                self.swapped(new)
