"""End-to-end throughput of the Kafka runtime on a local broker (a benchmark, not a test).

Produces the 25-field workload (stream/demo/workloads.py) to a 4-partition topic, then measures,
each from a fresh consumer group reading the whole topic:

1. ``raw``:    aiokafka ``getmany(max_records=50000)`` with no processing (the ceiling);
2. ``faust``:  a plain faust-streaming 0.15.3 agent iterating the events (the path faust offers);
3. ``worker``: the driftline runtime (one worker, in-process, the same code as ``driftline
   run``, faust's process wrapper aside): batched fetch -> decode -> cohorts -> windows ->
   sketches, with closed windows sent as partials, merged, evaluated and published to the
   results topic concurrently; timed from the first fetched record until every record is
   aggregated (the final checkpoint is timed separately); with the worker's default consumer
   (librdkafka) and, beside it in the same run, with ``source.kafka.consumer: aiokafka``
   (keys ``worker_<features>f_<consumer>_*``).

Run (starts its own broker with scripts/kafka.sh unless --bootstrap is given)::

    .venv/bin/python -m bench.bench_e2e --events 200000
    .venv/bin/python -m bench.bench_e2e --bootstrap 127.0.0.1:9092 --only worker
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid

from bench.broker import broker


def produce_workload(bootstrap: str, topic: str, n: int, partitions: int,
                     event_rate: float = 1000.0) -> tuple[int, float]:
    """Produce ``n`` workload events round-robin over ``partitions``; returns (bytes, seconds)."""
    from driftline.stream.demo.workloads import generate, to_json_lines
    from driftline.stream.kafka.admin import TopicSpec, ensure_topics
    from driftline.stream.kafka.producer import Producer

    client = {"bootstrap_servers": bootstrap}
    ensure_topics(client, [TopicSpec(topic, partitions=partitions)])
    values = to_json_lines(generate(n, seed=7, events_per_second=event_rate))
    t0 = time.perf_counter()
    with Producer(client, compression_type=None) as p:
        for part in range(partitions):
            for v in values[part::partitions]:
                p.send(topic, v, partition=part)
    return sum(map(len, values)), time.perf_counter() - t0


async def measure_raw(bootstrap: str, topic: str, n: int) -> float:
    """Events/s of aiokafka getmany with no processing."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    seen, t0 = 0, None
    try:
        while seen < n:
            data = await consumer.getmany(timeout_ms=500, max_records=50_000)
            if t0 is None and data:
                t0 = time.perf_counter()
            seen += sum(len(v) for v in data.values())
    finally:
        await consumer.stop()
    return n / (time.perf_counter() - (t0 or time.perf_counter()))


async def measure_faust(bootstrap: str, topic: str, n: int) -> float:
    """Events/s of a faust-streaming agent that only counts the events it iterates."""
    import faust

    with tempfile.TemporaryDirectory(prefix="bench-faust-") as d:
        app = faust.App(
            f"bench-faust-{uuid.uuid4().hex[:6]}", broker=f"kafka://{bootstrap}",
            web_enabled=False, store="memory://", datadir=d,
            consumer_auto_offset_reset="earliest", stream_buffer_maxsize=65536,
            broker_max_poll_records=50_000,
        )
        source = app.topic(topic, value_type=bytes, value_serializer="raw")
        state = {"seen": 0, "t0": 0.0, "t1": 0.0}
        done = asyncio.Event()

        @app.agent(source)
        async def count(stream):  # noqa: ANN001, ANN202 - faust's agent signature
            async for _value in stream:
                if state["seen"] == 0:
                    state["t0"] = time.perf_counter()
                state["seen"] += 1
                if state["seen"] >= n:
                    state["t1"] = time.perf_counter()
                    done.set()

        await app.start()
        try:
            await asyncio.wait_for(done.wait(), timeout=max(120.0, n / 2000))
        finally:
            await app.stop()
        return n / (state["t1"] - state["t0"])


def measure_worker(bootstrap: str, topic: str, n: int, partitions: int,
                   features: int = 25, consumer: str = "librdkafka") -> dict[str, float]:
    """The driftline runtime, one worker, in-process: see stream.kafka.runtime."""
    from driftline.stream.config.model import parse_config
    from driftline.stream.demo.workloads import FEATURES, monitor_config
    from driftline.stream.engine.heap import settle
    from driftline.stream.kafka.runtime import run_until

    with tempfile.TemporaryDirectory(prefix="bench-worker-") as d:
        raw = monitor_config(name=f"bench-{uuid.uuid4().hex[:6]}", window="1m",
                             features=FEATURES[-features:])
        raw["source"] = {
            **raw["source"],  # type: ignore[dict-item]
            "kafka": {"bootstrap_servers": bootstrap, "topics": [topic], "consumer": consumer},
        }
        raw["windows"] = {"size": "1m", "allowed_lateness": "0s", "idle_timeout": "1s"}
        raw["state_dir"] = d
        cfg = parse_config(raw)
        settle()  # as `driftline run` does after start-up
        stats = run_until(cfg, events=n, timeout_s=max(180.0, n / 1000))
    return stats


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--bootstrap", default=None)
    ap.add_argument("--only", choices=["raw", "faust", "worker"], action="append")
    ap.add_argument("--event-rate", type=float, default=1000.0,
                    help="events per second of event time (sets events per 1m window)")
    ap.add_argument("--features", type=int, action="append",
                    help="monitored features of the 25 (repeatable; default 25 and 5)")
    ap.add_argument("--consumer", choices=["aiokafka", "librdkafka"], action="append",
                    help="the worker's consumer (repeatable; default both, 25 features only "
                         "for aiokafka)")
    args = ap.parse_args(argv)
    modes = args.only or ["raw", "faust", "worker"]
    with broker(args.bootstrap) as bootstrap:
        topic = f"bench-e2e-{uuid.uuid4().hex[:8]}"
        nbytes, secs = produce_workload(bootstrap, topic, args.events, args.partitions,
                                        args.event_rate)
        out: dict[str, object] = {
            "events": args.events, "partitions": args.partitions,
            "events_per_1m_window": round(args.event_rate * 60),
            "mean_value_bytes": round(nbytes / args.events, 1),
            "produce_events_per_s": round(args.events / secs),
        }
        print(json.dumps(out), flush=True)
        if "raw" in modes:
            out["raw_aiokafka_getmany_events_per_s"] = round(
                asyncio.run(measure_raw(bootstrap, topic, args.events)))
            print(json.dumps(out), flush=True)
        if "faust" in modes:
            out["faust_agent_events_per_s"] = round(
                asyncio.run(measure_faust(bootstrap, topic, args.events)))
            print(json.dumps(out), flush=True)
        if "worker" in modes:
            consumers = args.consumer or ["librdkafka", "aiokafka"]
            for nf in args.features or [25, 5]:
                for consumer in consumers:
                    if consumer != "librdkafka" and not args.consumer and nf != 25:
                        continue
                    stats = measure_worker(bootstrap, topic, args.events, args.partitions, nf,
                                           consumer)
                    tag = f"{nf}f_{consumer}"
                    out.update({f"worker_{tag}_{k}": v for k, v in stats.items()})
                    print(json.dumps(out), flush=True)
        print(json.dumps(out, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
