"""One fetch in flight while the last one is processed.

librdkafka fetches, decompresses and parses in its own threads, and ``consume()`` builds its
messages in a worker thread (:mod:`stream.kafka.consumer_rdkafka`): if the next fetch only
started once a batch was aggregated, that work and the aggregation would take turns on one core.
:class:`FetchAhead` starts the next fetch as soon as a batch is handed over, so they overlap.

What makes it exact:

* a fetch remembers the rebalance generation it started in: when a rebalance ran meanwhile, its
  records may predate the seeks to restored checkpoints, and the owner drops them and seeks back;
* the consumer's positions move as soon as a fetch returns, before its records are aggregated,
  so each fetch carries the positions *as of its own records* (:attr:`Fetched.positions`): an
  owner that moves its offsets to the consumer's position (past transaction markers and aborted
  records) never moves past records that are still in flight;
* the next fetch is started by the owner (:meth:`FetchAhead.start`) after any seek it makes, and
  :meth:`FetchAhead.drain` waits for the fetch in flight before the consumer is closed (a fetch
  is never cancelled half-way: its thread would go on using the consumer).

>>> import asyncio
>>> class Two:
...     def __init__(self): self.n = 0
...     async def getmany(self, timeout_ms): self.n += 1; return [self.n]
...     def assignment(self): return set()
...     def fetch_position(self, tp): return None
>>> async def demo():
...     ahead = FetchAhead(Two())
...     first = await ahead.take(generation=0, timeout_ms=10)
...     ahead.start(generation=0, timeout_ms=10)   # runs while `first` is processed
...     second = await ahead.take(generation=0, timeout_ms=10)
...     return first.records, second.records
>>> asyncio.run(demo())
([1], [2])
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Protocol

from aiokafka import TopicPartition

from driftline.stream.kafka.consumer import PartitionRecords


class Fetching(Protocol):
    """What :class:`FetchAhead` needs of a consumer (both event-topic consumers have it)."""

    async def getmany(self, timeout_ms: int = 200) -> list[PartitionRecords]: ...

    def assignment(self) -> set[TopicPartition]: ...

    def fetch_position(self, tp: TopicPartition) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Fetched:
    """One fetch: its records, the generation it started in and the consumer's positions right
    after it returned (None: no position yet)."""

    generation: int
    records: list[PartitionRecords]
    positions: dict[TopicPartition, int | None]


class FetchAhead:
    """Keeps at most one fetch of ``consumer`` in flight; see the module doc."""

    def __init__(self, consumer: Fetching) -> None:
        self._consumer = consumer
        self._task: asyncio.Task[Fetched] | None = None

    async def _fetch(self, generation: int, timeout_ms: int) -> Fetched:
        records = await self._consumer.getmany(timeout_ms=timeout_ms)
        # no await between the fetch returning and this snapshot: the positions are its own
        c = self._consumer
        return Fetched(generation, records, {tp: c.fetch_position(tp) for tp in c.assignment()})

    def start(self, *, generation: int, timeout_ms: int) -> None:
        """Start the next fetch (no-op while one is in flight)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._fetch(generation, timeout_ms))

    async def take(self, *, generation: int, timeout_ms: int) -> Fetched:
        """The fetch in flight (or a new one started in ``generation``), once it returned."""
        self.start(generation=generation, timeout_ms=timeout_ms)
        task = self._task
        assert task is not None
        # shielded: a cancelled caller leaves the fetch to finish (drain() collects it)
        out = await asyncio.shield(task)
        self._task = None
        return out

    async def drain(self) -> None:
        """Wait for the fetch in flight, if any, and drop it (its records are re-read from the
        checkpoints; the consumer can be closed afterwards)."""
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(Exception):
                await task

