"""A time range of a running monitor's results topic, read back into the backtest report shape
so the same page shows it.

The results topic holds one record per window x cohort (``stream.kafka.sinks``), keyed
``tier|start|segment|cohort``; a re-evaluation after a crash repeats a key and the last record
wins. Reading seeks each partition to the first record produced at or after ``start`` (Kafka's
time index; records are produced when their window closes, so nothing of the range is earlier)
and reads up to the end offsets taken when reading began; records of windows starting outside
``[start, end)`` are skipped. Alerts are not in the results topic: the page shows the statuses
of the windows and says so. The label workers' ``performance`` records of a window x cohort
(``type: performance``, :mod:`stream.performance.merge`) join its drift record as its
``performance`` entry: the most advanced status wins (``matured`` over ``maturing`` over
``pending``), the newest record among equals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from driftline.stream.config.model import DriftlineConfig
from driftline.stream.sources.backtest import drift_rules

POLL_MS = 500
IDLE_LIMIT_MS = 30_000


def read_results(config: DriftlineConfig, start: float, end: float,
                 environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The backtest-shaped report of the windows of ``[start, end)`` in the results topic."""
    from kafka import KafkaConsumer, TopicPartition

    topic = str(config.kafka.results_topic)
    consumer = KafkaConsumer(enable_auto_commit=False, group_id=None,
                             **config.kafka.client_kwargs(environ))
    latest: dict[str, dict[str, Any]] = {}
    perf: dict[str, dict[str, Any]] = {}
    bad = 0
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic)
                                                          or ())]
        if not parts:
            raise ValueError(f"the results topic {topic!r} does not exist")
        consumer.assign(parts)
        ends = consumer.end_offsets(parts)
        found = consumer.offsets_for_times({tp: int(start * 1000) for tp in parts})
        todo = {}
        for tp in parts:
            at = found.get(tp)
            if at is None:
                continue  # nothing produced since start on this partition
            consumer.seek(tp, at.offset)
            if at.offset < ends[tp]:
                todo[tp] = ends[tp]
        idle = 0
        while todo:
            batch = consumer.poll(timeout_ms=POLL_MS)
            idle = 0 if batch else idle + 1
            if idle * POLL_MS >= IDLE_LIMIT_MS:  # e.g. records deleted by retention meanwhile
                short = ", ".join(f"{tp.partition}" for tp in todo)
                raise TimeoutError(f"{topic}: no records for {IDLE_LIMIT_MS / 1000:.0f} s before "
                                   f"the end offsets of partitions {short}")
            for tp, records in batch.items():
                for r in records:
                    try:
                        rec = orjson.loads(r.value)
                        s = float(rec["start_ts"])
                    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                        bad += 1
                        continue
                    if start <= s < end:
                        key = f"{rec.get('tier')}|{s:.0f}|{rec.get('segment')}|{rec.get('cohort')}"
                        if rec.get("type") != "performance":
                            latest[key] = rec
                        elif _rank(rec) >= _rank(perf.get(key)):
                            perf[key] = rec
                if records and records[-1].offset + 1 >= todo.get(tp, 0):
                    todo.pop(tp, None)
    finally:
        consumer.close()
    for key, rec in perf.items():
        latest[key] = {**latest.get(key, rec), "performance": rec["performance"]}
    return records_to_report(config, latest.values(), bad)


_STATUS_RANK = {"matured": 2, "unlabeled": 2, "maturing": 1}


def _rank(rec: dict[str, Any] | None) -> int:
    if rec is None:
        return -1
    return _STATUS_RANK.get(str((rec.get("performance") or {}).get("status")), 0)


def records_to_report(config: DriftlineConfig, records: Any, bad: int = 0) -> dict[str, Any]:
    """Results-topic records (one per window x cohort) grouped back into windows."""
    windows: dict[tuple[str, float], dict[str, Any]] = {}
    for rec in records:
        key = (rec["tier"], float(rec["start_ts"]))
        w = windows.setdefault(key, {k: rec.get(k) for k in (
            "monitor", "start", "end", "start_ts", "end_ts", "tier", "complete", "baseline")}
            | {"cohorts": []})
        w["cohorts"].append({k: v for k, v in rec.items() if k in (
            "segment", "cohort", "n", "own_baseline", "expected_events", "features",
            "performance", "references")})
    notes = ["Read from the results topic: alerts are not stored there, so the windows' statuses "
             "are shown without alert markers."]
    if bad:
        notes.append(f"{bad} results-topic records could not be read and were skipped.")
    return {"monitor": config.monitor, "drift": drift_rules(config),
            "windows": [windows[k] for k in sorted(windows, key=lambda k: (k[1], k[0]))],
            "alerts": [], "notes": notes}
