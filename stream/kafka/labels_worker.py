"""The label join on Kafka: predictions and delayed labels, co-partitioned by id.

The predictions topic (``source.kafka.topics[0]``) and the labels topic (``labels.topic``) must
be keyed (partitioned) by the prediction id with the same number of partitions, so that
partition *p* of both holds the same ids. Workers of one consumer group
(``<group_id>-labels``) split the partition numbers with the range assignor (partition *p* of
both topics to the same worker) and keep one :class:`~stream.performance.PerformanceTracker`
per partition number: the join table of its ids and its per-window × cohort states.

Malformed label records go to the dead-letter topic (``source.kafka.dlq_topic``) with their
reason (the decoder's, or ``missing_label_id`` / ``invalid_label``) and are counted
``malformed``; the worker goes on.

Exactness under kill -9 and rebalances: every ``checkpoint_interval`` seconds, and when a
partition is revoked, the tracker's snapshot (:mod:`stream.performance.state`) and the next
offset of BOTH topic-partitions are written as ONE record to the compacted checkpoint topic
``<prefix>.labels-checkpoints``. A worker that gets partition *p* restores that record and seeks
both topics to its offsets, so every prediction and label counts exactly once. The
checkpoints are also the output: :func:`read_states` merges the latest one of every partition.
With ``metrics.listen`` set the worker serves the join's metrics (``driftline_labels_total``
by outcome, ``driftline_label_pending``, ``driftline_label_lag_seconds``) of its partitions.

Run: ``python -m stream.kafka.labels_worker -c driftline.yaml``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from prometheus_client.registry import Collector

from driftline.sketches.baseline import Baseline
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.engine.framing import pack, unpack
from driftline.stream.kafka.admin import TopicSpec, ensure_topics, partition_counts
from driftline.stream.kafka.checkpoint import Checkpoint, CheckpointStore, checkpoint_topic_spec
from driftline.stream.kafka.producer import DeadLetter, DeadLetterWriter, Producer
from driftline.stream.performance.columns import (
    ID,
    ids,
    label_column,
    label_decoder,
    predicted_of,
    prediction_decoder,
    scores_of,
    segment_values,
    tracker_for,
)
from driftline.stream.performance.state import restore, snapshot
from driftline.stream.performance.tracker import PerformanceTracker

_MAGIC = b"DLLW"
log = logging.getLogger(__name__)


def checkpoint_topic(config: DriftlineConfig) -> str:
    return f"{config.kafka.internal_topic_prefix}.labels-checkpoints"


def _key(config: DriftlineConfig, partition: int) -> str:
    return f"{config.monitor}|labels|{partition}"


class LabelWorker:
    """One member of the label-join group; see the module doc."""

    def __init__(self, *, config: DriftlineConfig, baseline: Baseline | None = None,
                 checkpoint_interval: float = 2.0) -> None:
        if config.model is None or config.labels is None or not config.label_source.topic:
            raise ValueError("the label worker needs model: (prediction, id), labels: (id, "
                             "label) and labels.topic (the Kafka topic of the label events) "
                             "in the config")
        self.config = config
        self.baseline = baseline
        self.interval = checkpoint_interval
        k = config.kafka
        self.client = k.aiokafka_kwargs()
        self.pred_topic, self.label_topic = k.topics[0], config.label_source.topic
        self.trackers: dict[int, PerformanceTracker] = {}
        self.offsets: dict[int, list[int]] = {}  # partition -> [predictions, labels] next offsets
        self.pred_decoder = prediction_decoder(config)
        self.lab_decoder = label_decoder(config)
        self.store = CheckpointStore(checkpoint_topic(config), self.client)
        self.consumer: AIOKafkaConsumer | None = None
        self.dlq_producer = Producer(k.client_kwargs(), acks="all")
        self.dlq = DeadLetterWriter(self.dlq_producer, str(k.dlq_topic))

    # -- state ------------------------------------------------------------------------------
    async def _assigned(self, tps: Iterable[TopicPartition]) -> None:
        parts = sorted({tp.partition for tp in tps} - set(self.trackers))
        found = await self.store.load([_key(self.config, p) for p in parts])
        assert self.consumer is not None
        for p in parts:
            tracker = tracker_for(self.config, self.baseline)
            offsets = [0, 0]
            ck = found.get(_key(self.config, p))
            if ck is not None:
                _, meta, blobs = unpack(ck.state, _MAGIC, {1})
                restore(tracker, blobs[0])
                offsets = [int(meta["predictions"]), int(meta["labels"])]
            self.trackers[p], self.offsets[p] = tracker, offsets
            self.consumer.seek(TopicPartition(self.pred_topic, p), offsets[0])
            self.consumer.seek(TopicPartition(self.label_topic, p), offsets[1])
            log.info("label worker %d: partition %d from offsets %s (%s)", os.getpid(), p,
                     offsets, "checkpoint" if ck is not None else "start")

    async def _revoked(self, tps: Iterable[TopicPartition]) -> None:
        parts = sorted({tp.partition for tp in tps} & set(self.trackers))
        await self.checkpoint(parts)
        for p in parts:
            self.trackers.pop(p, None)
            self.offsets.pop(p, None)
            log.info("label worker %d: partition %d revoked", os.getpid(), p)

    async def checkpoint(self, parts: Iterable[int] | None = None) -> None:
        todo = sorted(self.trackers if parts is None else parts)
        if not todo:
            return
        for p in todo:  # matured windows past their retention leave memory and checkpoints
            self.trackers[p].evict(self.config.label_source.retention)
        # dead letters sent before this checkpoint are acknowledged before it is written
        await asyncio.get_running_loop().run_in_executor(None, self.dlq_producer.flush, 30.0)
        await self.store.save({
            _key(self.config, p): Checkpoint(0, pack(
                _MAGIC, 1, {"predictions": self.offsets[p][0], "labels": self.offsets[p][1]},
                [snapshot(self.trackers[p])]))
            for p in todo})

    # -- data -------------------------------------------------------------------------------
    def _feed(self, tp: TopicPartition, records: list[Any]) -> None:
        p = tp.partition
        tracker = self.trackers.get(p)
        if tracker is None or not records:
            return
        values = [r.value for r in records]
        stamps = np.array([r.timestamp for r in records], dtype=np.float64)
        if tp.topic == self.pred_topic:
            d = self.pred_decoder.decode(values, stamps)
            # undecodable predictions are the feature worker's dead letters; counted here
            tracker.join.counts["undecodable_prediction"] += len(d.dead_letters)
            tracker.add_predictions(d.event_time, ids(d.categorical[ID]), scores_of(d),
                                    predicted_of(d, self.config),
                                    segment_values(d, self.config.segments))
            self.offsets[p][0] = records[-1].offset + 1
        else:
            d = self.lab_decoder.decode(values, stamps)
            tracker.count_malformed(len(d.dead_letters))
            key, y = ids(d.categorical[ID]), label_column(d, self.config.prediction_model.task)
            bad = [(dl.index, dl.reason) for dl in d.dead_letters]
            rows = d.rows.tolist()
            ok_y = np.isfinite(y)
            if self.config.prediction_model.task != "regression":
                ok_y &= (y == 0.0) | (y == 1.0)
            no_id = np.fromiter((k is None for k in key), dtype=bool, count=len(key))
            bad += [(rows[i], "missing_label_id" if key[i] is None else "invalid_label")
                    for i in np.flatnonzero(~ok_y | no_id).tolist()]
            for i, reason in bad:
                r = records[i]
                self.dlq.write(DeadLetter(r.value, reason, tp.topic, p, r.offset, r.key,
                                          r.timestamp))
            tracker.add_labels(d.event_time, key, y)
            self.offsets[p][1] = records[-1].offset + 1

    async def run(self, stop: asyncio.Event) -> None:
        counts = partition_counts(self.client, [self.pred_topic, self.label_topic])
        if counts[self.pred_topic] != counts[self.label_topic]:
            raise ValueError(f"{self.pred_topic} has {counts[self.pred_topic]} partitions and "
                             f"{self.label_topic} {counts[self.label_topic]}: the label join "
                             "needs both keyed by id with the same partition count")
        ensure_topics(self.client, [checkpoint_topic_spec(checkpoint_topic(self.config)),
                                    TopicSpec(str(self.config.kafka.dlq_topic), partitions=1)])
        await self.store.start()
        worker = self
        server = None
        where = self.config.metrics.host_port
        if where is not None:
            from driftline.stream.monitor.exporter import serve
            from driftline.stream.monitor.performance_metrics import join_families

            class JoinCollector(Collector):
                def collect(self) -> Iterator[Any]:
                    return join_families(worker.config.monitor, list(worker.trackers.values()))

            server = serve(JoinCollector(), where)
            log.info("label worker %d: metrics on http://%s:%d/metrics", os.getpid(), *server)

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Any) -> None:
                await worker._revoked(revoked)

            async def on_partitions_assigned(self, assigned: Any) -> None:
                await worker._assigned(assigned)

        self.consumer = AIOKafkaConsumer(
            **self.client, group_id=f"{self.config.kafka.group_id}-labels",
            enable_auto_commit=False, auto_offset_reset="earliest",
            partition_assignment_strategy=(RangePartitionAssignor,),
            session_timeout_ms=6000, heartbeat_interval_ms=1000)
        await self.consumer.start()
        self.consumer.subscribe([self.pred_topic, self.label_topic], listener=Listener())
        last = time.monotonic()
        try:
            while not stop.is_set():
                batch = await self.consumer.getmany(timeout_ms=200, max_records=20_000)
                # predictions before labels of the same fetch: a label rarely waits for nothing
                for tp in sorted(batch, key=lambda t: (t.topic != self.pred_topic, t.partition)):
                    self._feed(tp, batch[tp])
                if time.monotonic() - last >= self.interval:
                    await self.checkpoint()
                    last = time.monotonic()
        finally:
            await self.checkpoint()
            await self.consumer.stop()
            await self.store.stop()
            self.dlq_producer.close(timeout=10)
            if server is not None:
                server.close()


async def read_states(config: DriftlineConfig, baseline: Baseline | None = None
                      ) -> dict[int, tuple[dict[str, int], PerformanceTracker]]:
    """The latest checkpoint of every partition: its offsets and its restored tracker."""
    k = config.kafka
    store = CheckpointStore(checkpoint_topic(config), k.aiokafka_kwargs())
    await store.start()
    try:
        n = partition_counts(k.aiokafka_kwargs(), [k.topics[0]])[k.topics[0]]
        found = await store.load([_key(config, p) for p in range(n)])
    finally:
        await store.stop()
    out = {}
    for p in range(n):
        ck = found.get(_key(config, p))
        if ck is None:
            continue
        _, meta, blobs = unpack(ck.state, _MAGIC, {1})
        tracker = tracker_for(config, baseline)
        restore(tracker, blobs[0])
        out[p] = ({"predictions": int(meta["predictions"]), "labels": int(meta["labels"])},
                  tracker)
    return out


def merged_report(config: DriftlineConfig, baseline: Baseline | None,
                  states: dict[int, tuple[dict[str, int], PerformanceTracker]]
                  ) -> dict[str, Any]:
    """One report of the merged partition states: per base window, a ``performance`` record
    for the whole population and every raw segment value, plus the join counters."""
    merged = tracker_for(config, baseline)
    counters: dict[str, int] = {}
    for _, t in states.values():
        for key, st in t.states.items():
            if key in merged.states:
                merged.states[key].merge(st)
            else:
                merged.states[key] = st.copy()
        merged.join.clock = max(merged.join.clock, t.join.clock)
        for k, v in t.counters().items():
            counters[k] = counters.get(k, 0) + v
    merged.reindex()
    size = config.windows.size
    windows = []
    for w in sorted({k[0] for k in merged.states}):
        cohorts = sorted({(k[1], k[2]) for k in merged.states if k[0] == w})
        windows.append({"start_ts": w, "end_ts": w + size, "cohorts": [
            {"segment": seg, "cohort": c, "performance": merged.record(w, w + size, seg, c)}
            for seg, c in cohorts]})
    return {"monitor": config.monitor, "labels": counters,
            "offsets": {p: o for p, (o, _) in sorted(states.items())}, "windows": windows}


def run_label_worker(worker: LabelWorker) -> None:
    """Run ``worker`` until SIGTERM or SIGINT (a graceful stop checkpoints)."""

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        log.info("label worker %d started", os.getpid())
        await worker.run(stop)

    asyncio.run(go())
