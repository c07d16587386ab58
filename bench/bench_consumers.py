"""The worker's consumer against librdkafka's batch consume (a benchmark, not a test).

Both read the same 4-partition topic of the 25-field workload from the beginning and hand the
worker what it needs per partition: offsets, timestamps, values (plus keys, tombstones and
header flags on the worker's path). Reported per path: events/s wall and events per CPU-second
of this process (librdkafka's own fetch threads included, since they are threads of it), for
the fetch alone, for the worker's source side (fetch, then decode and aggregate into the
partition's window profiles with the 25-feature monitor, as ``SourceSide`` does) and for the
whole worker end to end (``bench.bench_e2e``'s worker: the runtime of ``driftline run`` with
1-minute windows closed, merged, evaluated and published), each client in the same run.

1. ``librdkafka``: :class:`stream.kafka.consumer_rdkafka.RdkafkaBatchConsumer` ``getmany``
   (the native fetch ``_rdfetch``: the per-partition lists built in one pass, in a worker
   thread; the worker's default);
2. the same consumer on confluent-kafka's ``Consumer`` (its batch ``consume()`` and a
   ``Message`` object per record: what an install without the Rust extension uses);
3. ``aiokafka``: :class:`stream.kafka.consumer.BatchConsumer` ``getmany``.

Run (starts its own broker unless --bootstrap is given)::

    .venv/bin/python -m bench.bench_consumers --events 300000
    .venv/bin/python -m bench.bench_consumers --bootstrap 127.0.0.1:9092 --topic t --events N
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

from bench.bench_e2e import measure_worker, produce_workload
from bench.broker import broker
from driftline.stream.engine.heap import settle
from driftline.stream.kafka.source_settings import COALESCE_RECORDS

RDKAFKA = "librdkafka `RdkafkaBatchConsumer.getmany`, native fetch (the worker's default)"
CONFLUENT = "librdkafka `RdkafkaBatchConsumer.getmany` on confluent-kafka's `Consumer`"
AIOKAFKA = "aiokafka `BatchConsumer.getmany` (`consumer: aiokafka`)"


class _Sink:
    """Decode + aggregate per partition (the source side's work), or nothing."""

    def __init__(self, aggregate: bool) -> None:
        self.aggs: dict[int, Any] = {}
        self.held: dict[int, tuple[list[int], list[bytes]]] = {}
        self.batches = 0
        self.cfg: Any = None
        if aggregate:
            from driftline.stream.config.model import parse_config
            from driftline.stream.decode.decoder import Decoder
            from driftline.stream.demo.workloads import monitor_config
            from driftline.stream.engine.core import schema_for

            raw = monitor_config(name="bench", window="1m")
            raw["source"] = {**raw["source"],  # type: ignore[dict-item]
                             "kafka": {"bootstrap_servers": "x", "topics": ["x"]}}
            self.cfg = parse_config(raw)
            self.schema = schema_for(self.cfg, None)
            self.decoder = Decoder.from_config(self.cfg)

    def __call__(self, partition: int, timestamps_ms: list[int], values: list[bytes]) -> None:
        """Buffer a partition's records up to the worker's coalescing, then ingest."""
        if self.cfg is None:
            return
        held = self.held.setdefault(partition, ([], []))
        held[0].extend(timestamps_ms)
        held[1].extend(values)
        if len(held[1]) >= COALESCE_RECORDS:
            self._ingest(partition, *self.held.pop(partition))

    def finish(self) -> None:
        for partition, (ts, values) in list(self.held.items()):
            self._ingest(partition, ts, values)
        self.held.clear()

    def _ingest(self, partition: int, timestamps_ms: list[int], values: list[bytes]) -> None:
        import numpy as np

        from driftline.stream.engine.aggregator import PartitionAggregator

        agg = self.aggs.get(partition)
        if agg is None:
            w = self.cfg.windows
            agg = self.aggs[partition] = PartitionAggregator(
                "x", partition, self.schema, self.decoder, w.size, w.allowed_lateness,
                w.idle_timeout, None, 100)
        self.batches += 1
        d = self.decoder.decode(values, np.asarray(timestamps_ms, dtype=np.float64))
        agg.ingest_decoded(d, records=len(values), now=time.time())


async def _noop(_: Any) -> None:
    return None


async def _aiokafka(bootstrap: str, topic: str, n: int, sink: _Sink) -> tuple[float, float]:
    from driftline.stream.kafka.consumer import BatchConsumer

    return await _drain(BatchConsumer([topic], f"bench-aio-{uuid.uuid4().hex[:6]}",
                                      {"bootstrap_servers": bootstrap}, on_assigned=_noop,
                                      on_revoked=_noop), n, sink)


async def _librdkafka(bootstrap: str, topic: str, n: int, sink: _Sink) -> tuple[float, float]:
    from driftline.stream.kafka.consumer_rdkafka import RdkafkaBatchConsumer

    return await _drain(RdkafkaBatchConsumer([topic], f"bench-rdk-{uuid.uuid4().hex[:6]}",
                                             {"bootstrap.servers": bootstrap},
                                             on_assigned=_noop, on_revoked=_noop), n, sink)


@contextlib.contextmanager
def _client(name: str) -> Iterator[None]:
    """The librdkafka consumer on confluent-kafka's ``Consumer`` inside (for ``CONFLUENT``)."""
    from driftline.stream.kafka import consumer_rdkafka

    kept = consumer_rdkafka.native_client
    if name == CONFLUENT:
        consumer_rdkafka.native_client = lambda conf: None  # type: ignore[assignment]
    try:
        yield
    finally:
        consumer_rdkafka.native_client = kept  # type: ignore[assignment]


async def _drain(consumer: Any, n: int, sink: _Sink) -> tuple[float, float]:
    """Read ``n`` records with the worker's consumer interface into ``sink``: events per
    second wall and per CPU-second of the records after the first batch (the first one waits
    for the group join and is neither timed nor counted)."""
    await consumer.start()
    seen, first, t0, c0 = 0, 0, 0.0, 0.0
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=500)
            for b in batch:
                sink(b.partition, b.timestamps_ms, b.values)
            seen += sum(len(b.offsets) for b in batch)
            if batch and not first:
                first = seen
                t0, c0 = time.perf_counter(), time.process_time()
        sink.finish()
    finally:
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        await consumer.stop()
    if seen <= first:
        raise SystemExit("all records came in the first batch: measure with more --events")
    return (seen - first) / wall, (seen - first) / cpu


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--bootstrap", default=None)
    ap.add_argument("--topic", default=None,
                    help="read this topic (already holding --events workload events) instead "
                         "of producing one")
    args = ap.parse_args(argv)
    with broker(args.bootstrap) as bootstrap:
        topic = args.topic or f"bench-consumers-{uuid.uuid4().hex[:6]}"
        if args.topic is None:
            size, _ = produce_workload(bootstrap, topic, args.events, args.partitions)
            print(f"{args.events:,} events, {size / args.events:.0f} bytes each, "
                  f"{args.partitions} partitions")
        settle()  # as `driftline run` does after start-up
        rows = []
        for work in ("fetch only", "fetch + decode + aggregate (25 features)"):
            aggregate = work != "fetch only"
            for name in (RDKAFKA, CONFLUENT):
                with _client(name):
                    rows.append((name, work, asyncio.run(
                        _librdkafka(bootstrap, topic, args.events, _Sink(aggregate)))))
            rows.append((AIOKAFKA, work,
                         asyncio.run(_aiokafka(bootstrap, topic, args.events, _Sink(aggregate)))))
        for name, consumer in ((RDKAFKA, "librdkafka"), (CONFLUENT, "librdkafka"),
                               (AIOKAFKA, "aiokafka")):
            with _client(name):
                stats = measure_worker(bootstrap, topic, args.events, args.partitions, 25,
                                       consumer)
            rows.append((name, "whole worker, end to end (`bench.bench_e2e`, 25 features)",
                         (stats["events_per_s"], stats["events_per_cpu_s"])))
        print("| consumer | work | events/s wall | events per CPU-second | µs CPU per event |")
        print("|---|---|---|---|---|")
        for name, work, (wall, cpu) in rows:
            print(f"| {name} | {work} | {wall:,.0f} | {cpu:,.0f} | {1e6 / cpu:.2f} |")


if __name__ == "__main__":
    main()
