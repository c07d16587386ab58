"""Producing to a local broker, and the cost of the freshness/lag probes (a benchmark, not a test).

Measures, on the 25-field workload (stream/demo/workloads.py) and a 4-partition topic:

1. ``kafka-python``: :class:`stream.kafka.producer.Producer` ``send_many`` (the DLQ/results path);
2. ``bulk``: :class:`stream.kafka.bulk.BulkProducer` (whole batches), unkeyed and keyed;
3. ``cli-jsonl`` / ``cli-parquet``: ``driftline produce`` as a subprocess, as printed by it
   (reading and converting the file included, interpreter start-up excluded);
4. ``probe``: milliseconds per ``latest_timestamps`` / ``end_offsets`` / ``group_lag`` call.

Run (starts its own broker with scripts/kafka.sh unless --bootstrap is given)::

    .venv/bin/python -m bench.bench_kafka_produce --events 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from bench.broker import broker


def _topic(client: dict[str, str], partitions: int = 4) -> str:
    from driftline.stream.kafka.admin import TopicSpec, ensure_topics

    name = f"bench-produce-{uuid.uuid4().hex[:8]}"
    ensure_topics(client, [TopicSpec(name, partitions=partitions)])
    return name


def bench_kafka_python(client: dict[str, str], values: list[bytes]) -> float:
    from driftline.stream.kafka.producer import Producer

    topic = _topic(client)
    t0 = time.perf_counter()
    with Producer(client) as p:
        p.send_many(topic, values)
    assert p.delivered == len(values), (p.delivered, p.failed)
    return len(values) / (time.perf_counter() - t0)


def bench_bulk(client: dict[str, str], values: list[bytes], keys: list[bytes] | None) -> float:
    from driftline.stream.kafka.bulk import BulkProducer

    topic = _topic(client)

    async def run() -> float:
        t0 = time.perf_counter()
        async with BulkProducer(client) as bulk:
            for i in range(0, len(values), 50_000):
                await bulk.send_many(topic, values[i : i + 50_000],
                                     keys[i : i + 50_000] if keys else None)
        assert bulk.delivered == len(values), (bulk.delivered, bulk.failed)
        return len(values) / (time.perf_counter() - t0)

    return asyncio.run(run())


def bench_cli(bootstrap: str, path: Path, workdir: Path) -> float:
    cfg = workdir / "driftline.yaml"
    topic = _topic({"bootstrap_servers": bootstrap})
    cfg.write_text(yaml.safe_dump({
        "monitor": "bench",
        "source": {"kafka": {"bootstrap_servers": bootstrap, "topics": [topic]}},
        "features": [{"name": "amount", "type": "numeric"}],
    }))
    out = subprocess.run(
        [sys.executable, "-m", "driftline.stream", "produce", "-c", str(cfg), "--file", str(path),
         "-q"],
        check=True, capture_output=True, text=True,
    ).stdout
    match = re.search(r"\(([\d,]+) events/s\)", out)
    assert match, out
    return float(match.group(1).replace(",", ""))


def bench_probes(client: dict[str, str], values: list[bytes], repeat: int = 20) -> dict[str, float]:
    from driftline.stream.kafka.probes import end_offsets, group_lag, latest_timestamps
    from driftline.stream.kafka.producer import Producer

    topic = _topic(client)
    with Producer(client) as p:
        p.send_many(topic, values[:10_000])
    out: dict[str, float] = {}
    for name, call in (
        ("latest_timestamps_ms", lambda: latest_timestamps(client, [topic])),
        ("end_offsets_ms", lambda: end_offsets(client, [topic])),
        ("group_lag_ms", lambda: group_lag(client, "bench-group", [topic])),
    ):
        call()  # warm-up (coordinator lookup, metadata)
        t0 = time.perf_counter()
        for _ in range(repeat):
            call()
        out[name] = round((time.perf_counter() - t0) / repeat * 1000, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--bootstrap", default=None)
    args = parser.parse_args()

    from driftline.stream.demo.workloads import generate, to_json_lines, write_jsonl, write_parquet

    workload = generate(args.events, seed=7, events_per_second=200.0)
    values = to_json_lines(workload)
    keys = [f"user-{i % 5000}".encode() for i in range(len(values))]
    results: dict[str, object] = {
        "events": len(values),
        "mean_value_bytes": round(sum(map(len, values)) / len(values)),
        "cores": os.cpu_count(),
    }
    with broker(args.bootstrap) as bootstrap, tempfile.TemporaryDirectory() as tmp:
        client = {"bootstrap_servers": bootstrap}
        results["kafka_python_events_per_s"] = round(bench_kafka_python(client, values))
        results["bulk_events_per_s"] = round(bench_bulk(client, values, None))
        results["bulk_keyed_events_per_s"] = round(bench_bulk(client, values, keys))
        work = Path(tmp)
        results["cli_jsonl_events_per_s"] = round(
            bench_cli(bootstrap, write_jsonl(workload, work / "e.jsonl"), work))
        results["cli_parquet_events_per_s"] = round(
            bench_cli(bootstrap, write_parquet(workload, work / "e.parquet"), work))
        results.update(bench_probes(client, values))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
