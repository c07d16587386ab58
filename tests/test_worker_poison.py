"""Poison input (issue 3, must-show 4): 10k malformed records mixed into the stream.

Invalid JSON, wrong types, missing fields, 5 MB values, non-UTF-8 bytes, non-objects: the worker
stays up, every one lands in the DLQ with a reason and its origin, and the valid events are
counted exactly. (Wrong-typed *features* do not drop the event: it counts, the feature counts
it as invalid — those events are part of the exact counts here.)
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import orjson

from driftline.stream.config.model import load_config
from driftline.stream.demo.workloads import generate, to_json_lines
from driftline.stream.kafka.producer import (
    REASON,
    SOURCE_OFFSET,
    SOURCE_PARTITION,
    SOURCE_TOPIC,
    TRUNCATED,
)
from tests.fixtures.waiting import wait_until
from tests.helpers_kafka_worker import (
    Worker,
    exact_counts,
    free_port,
    metric_samples,
    observed_counts,
    produce_partitioned,
    read_topic,
    scrape,
    small_worker_config,
    wait_for_windows,
)

VALID = 30_000
POISON = 10_000
RATE = 1000.0
WINDOW = 10.0
START = 1_700_000_000.0
BIG = 5 * 1024 * 1024


def _poison(rng: np.random.Generator) -> tuple[list[bytes], list[str]]:
    """POISON malformed values and the dead-letter reason each must get."""
    kinds = [
        (b'{"ts": 1700000001, "x_normal": ', "invalid_json"),
        (b'{"ts": 1700000001, "x_normal": 1.0, "region": "r1"', "invalid_json"),
        (b"\xff\xfe{\"ts\": 1700000001}", "not_utf8"),
        (b'{"ts": "yesterday", "x_normal": 1.0}', "invalid_event_time"),
        (b'{"ts": {"s": 1}, "x_normal": 1.0}', "invalid_event_time"),
        (b'{"x_normal": 1.0, "region": "r1"}', "missing_event_time"),
        (b'{"ts": null, "x_normal": 2.0}', "missing_event_time"),
        (b"[1, 2, 3]", "not_object"),
        (b'"just a string"', "not_object"),
    ]
    pick = rng.integers(0, len(kinds), POISON - 3)
    values = [kinds[i][0] for i in pick.tolist()]
    reasons = [kinds[i][1] for i in pick.tolist()]
    for _ in range(3):  # 5 MB values: too large to be an event
        values.append(b'{"ts": 1700000001, "pad": "' + b"x" * BIG + b'"}')
        reasons.append("too_large")
    return values, reasons


def test_poison_goes_to_the_dlq_and_valid_events_count_exactly(kafka: Any,
                                                                  tmp_path: Any) -> None:
    rng = np.random.default_rng(4)
    w = generate(VALID, seed=9, events_per_second=RATE, start_ts=START)
    valid = to_json_lines(w)
    wrong_type = rng.choice(VALID, 500, replace=False)
    for i in wrong_type.tolist():  # a string where a number belongs: still a valid event
        rec = orjson.loads(valid[i])
        rec["x_normal"] = "not a number"
        valid[i] = orjson.dumps(rec)
    poison, reasons = _poison(rng)
    slots = np.sort(rng.choice(VALID + POISON, POISON, replace=False))
    stream: list[bytes] = []
    kind: list[str | None] = []
    vi = pi = 0
    slot_set = set(slots.tolist())
    for pos in range(VALID + POISON):
        if pos in slot_set:
            stream.append(poison[pi])
            kind.append(reasons[pi])
            pi += 1
        else:
            stream.append(valid[vi])
            kind.append(None)
            vi += 1
    topic = kafka.create_topic(kafka.unique_topic("poison"), partitions=2,
                               configs={"max.message.bytes": str(8 * 1024 * 1024)})
    produce_partitioned(kafka.bootstrap, topic, stream, 2, max_request_size=8 * 1024 * 1024)
    address = f"127.0.0.1:{free_port()}"
    cfg_path = small_worker_config(kafka, tmp_path, topic, kafka.unique_topic("poison"), address)
    cfg = load_config(cfg_path)
    expected = exact_counts(w.columns["ts"], WINDOW, {"region": w.columns["region"]})
    worker = Worker(cfg_path, tmp_path / "worker.log")
    try:
        worker.wait_ready()
        results = wait_for_windows(kafka.bootstrap, str(cfg.kafka.results_topic), set(expected),
                                   "10s")
        dlq = wait_until(lambda: (lambda r: r if len(r) >= POISON else None)(
            read_topic(kafka.bootstrap, str(cfg.kafka.dlq_topic))), 60, 0.5, "DLQ filled")
        metrics = scrape(address)
        assert worker.alive(), worker.tail()
    finally:
        assert worker.terminate() == 0, worker.tail()

    assert observed_counts(results, "10s") == expected  # valid events, exactly
    assert len(dlq) == POISON
    # every dead letter points back at its record, with the reason of its kind
    by_origin: dict[tuple[int, int], str] = {}
    for rec in dlq:
        h = {k: v.decode() for k, v in rec.headers}
        assert h[SOURCE_TOPIC] == topic
        origin = (int(h[SOURCE_PARTITION]), int(h[SOURCE_OFFSET]))
        assert origin not in by_origin, f"dead letter {origin} written twice"
        by_origin[origin] = h[REASON]
        if h[REASON] == "too_large":
            assert int(h[TRUNCATED]) > BIG  # the original size; the value was cut to fit
        else:
            pos = origin[1] * 2 + origin[0]  # round-robin: value i went to partition i % 2
            assert rec.value == stream[pos]
    produced = {(i % 2, i // 2): k for i, k in enumerate(kind) if k is not None}
    assert by_origin == produced
    assert Counter(by_origin.values()) == Counter(reasons)
    invalid = metric_samples(metrics, "driftline_events_invalid_total")
    assert {lab["reason"]: v for lab, v in invalid} == dict(Counter(reasons))
    total = metric_samples(metrics, "driftline_events_total")
    assert sum(v for _, v in total) == VALID + POISON
