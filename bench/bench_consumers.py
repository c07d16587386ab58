"""The worker's consumer against librdkafka's batch consume (a benchmark, not a test).

Both read the same 4-partition topic of the 25-field workload from the beginning and hand the
worker what it needs per partition: offsets, timestamps, values (plus keys, tombstones and
header flags on the worker's path). Reported per path: events/s wall and events per CPU-second
of this process (librdkafka's own fetch threads included, since they are threads of it).

1. ``aiokafka``: :class:`stream.kafka.consumer.BatchConsumer` ``getmany`` (the worker's path);
2. ``librdkafka``: confluent-kafka ``Consumer.consume(num_messages=50000)``, the same lists
   built from its ``Message`` objects.

Run (starts its own broker unless --bootstrap is given)::

    .venv/bin/python -m bench.bench_consumers --events 300000
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

from bench.bench_e2e import produce_workload
from bench.broker import broker


async def _aiokafka(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    from stream.kafka.consumer import BatchConsumer

    async def noop(_: Any) -> None:
        return None

    consumer = BatchConsumer([topic], f"bench-aio-{uuid.uuid4().hex[:6]}",
                             {"bootstrap_servers": bootstrap}, on_assigned=noop,
                             on_revoked=noop)
    await consumer.start()
    seen, t0, c0 = 0, 0.0, 0.0
    try:
        while seen < n:
            batch = await consumer.getmany(timeout_ms=500)
            if batch and not seen:
                t0, c0 = time.perf_counter(), time.process_time()
            seen += sum(len(b.offsets) for b in batch)
    finally:
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        await consumer.stop()
    return n / wall, n / cpu


def _librdkafka(bootstrap: str, topic: str, n: int) -> tuple[float, float]:
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-rdk-{uuid.uuid4().hex[:6]}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": "read_committed", "fetch.max.bytes": 64 * 1024 * 1024,
                  "max.partition.fetch.bytes": 8 * 1024 * 1024})
    c.subscribe([topic])
    seen, t0, c0 = 0, 0.0, 0.0
    try:
        while seen < n:
            msgs = c.consume(num_messages=50_000, timeout=0.5)
            if msgs and not seen:
                t0, c0 = time.perf_counter(), time.process_time()
            per: dict[int, list[Any]] = {}
            for m in msgs:
                per.setdefault(m.partition(), []).append(m)
            for records in per.values():  # what PartitionRecords holds, as in getmany
                _ = ([m.offset() for m in records], [m.timestamp()[1] for m in records],
                     [m.value() for m in records], [m.key() for m in records])
            seen += len(msgs)
    finally:
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        c.close()
    return n / wall, n / cpu


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--bootstrap", default=None)
    args = ap.parse_args(argv)
    with broker(args.bootstrap) as bootstrap:
        topic = f"bench-consumers-{uuid.uuid4().hex[:6]}"
        size, _ = produce_workload(bootstrap, topic, args.events, args.partitions)
        print(f"{args.events:,} events, {size / args.events:.0f} bytes each, "
              f"{args.partitions} partitions")
        rows = [("aiokafka BatchConsumer.getmany (worker path)",
                 asyncio.run(_aiokafka(bootstrap, topic, args.events))),
                ("librdkafka Consumer.consume(50000) + lists",
                 _librdkafka(bootstrap, topic, args.events))]
        print("| consumer | events/s wall | events per CPU-second |")
        print("|---|---|---|")
        for name, (wall, cpu) in rows:
            print(f"| {name} | {wall:,.0f} | {cpu:,.0f} |")


if __name__ == "__main__":
    main()
