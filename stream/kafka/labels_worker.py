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
both topics to its offsets, so every prediction and label counts exactly once.
Live output: before each checkpoint the worker sends, per owned partition, the window x cohort
states that changed and its clocks (:func:`~stream.performance.merge.label_partial`) to the
one-partition topic ``<prefix>.labels-partials``. Every worker also joins the group
``<group_id>-labels.merger`` on that topic (:class:`~stream.kafka.partials.MergerSide`, the
feature worker's merger loop); its one member merges the partitions
(:class:`~stream.performance.merge.PerformanceMerger`) and publishes ``performance`` records,
alerts and retraining events (:mod:`stream.kafka.labels_output`).
:func:`~stream.kafka.labels_report.read_states` merges the latest checkpoint of every partition
(``driftline labels report``). The metrics it serves (``metrics.listen``) are listed in
docs/model-quality.md. Run: ``driftline labels run -c driftline.yaml``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from prometheus_client.registry import Collector

from driftline.sketches.baseline import Baseline
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.decode.decoder import DecodedBatch
from driftline.stream.engine.framing import pack, unpack
from driftline.stream.kafka.admin import TopicSpec, ensure_topics, partition_counts
from driftline.stream.kafka.checkpoint import (
    MAX_CHECKPOINT_BYTES,
    Checkpoint,
    CheckpointStore,
    checkpoint_topic_spec,
)
from driftline.stream.kafka.consumer import caught_up
from driftline.stream.kafka.labels_output import LabelOutputs
from driftline.stream.kafka.partials import MergerSide
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
from driftline.stream.performance.merge import PerformanceMerger, label_partial
from driftline.stream.performance.state import restore, snapshot
from driftline.stream.performance.tracker import PerformanceTracker, StateKey, time_runs

MAGIC = b"DLLW"
log = logging.getLogger(__name__)


def checkpoint_topic(config: DriftlineConfig) -> str:
    return f"{config.kafka.internal_topic_prefix}.labels-checkpoints"


def partials_topic(config: DriftlineConfig) -> str:
    return f"{config.kafka.internal_topic_prefix}.labels-partials"


def checkpoint_key(config: DriftlineConfig, partition: int) -> str:
    return f"{config.monitor}|labels|{partition}"


class LabelWorker:
    """One member of the label-join group; see the module doc."""

    def __init__(self, *, config: DriftlineConfig, baseline: Baseline | None = None,
                 checkpoint_interval: float = 2.0,
                 environ: Mapping[str, str] | None = None) -> None:
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
        # partition -> [newest prediction time, newest label time]
        self.clocks: dict[int, list[float]] = {}
        # partition -> (predictions, labeled, weight) of each state as last sent to the merger
        self.sent: dict[int, dict[StateKey, tuple[int, int, float]]] = {}
        self.outputs = LabelOutputs(config=config,
                                    environ=os.environ if environ is None else environ)
        self.merger: MergerSide | None = None
        self._partials: AIOKafkaProducer | None = None
        self.pred_decoder = prediction_decoder(config)
        self.lab_decoder = label_decoder(config)
        self.store = CheckpointStore(checkpoint_topic(config), self.client)
        self.consumer: AIOKafkaConsumer | None = None
        self.dlq_producer = Producer(k.client_kwargs(), acks="all")
        self.dlq = DeadLetterWriter(self.dlq_producer, str(k.dlq_topic))

    # -- state ------------------------------------------------------------------------------
    async def _assigned(self, tps: Iterable[TopicPartition]) -> None:
        parts = sorted({tp.partition for tp in tps} - set(self.trackers))
        found = await self.store.load([checkpoint_key(self.config, p) for p in parts])
        assert self.consumer is not None
        for p in parts:
            tracker = tracker_for(self.config, self.baseline)
            offsets = [0, 0]
            clocks = [-math.inf, -math.inf]
            ck = found.get(checkpoint_key(self.config, p))
            if ck is not None:
                _, meta, blobs = unpack(ck.state, MAGIC, {1})
                restore(tracker, blobs[0])
                offsets = [int(meta["predictions"]), int(meta["labels"])]
                clocks = [-math.inf if c is None else float(c)
                          for c in meta.get("clocks", [None, None])]
            self.trackers[p], self.offsets[p] = tracker, offsets
            self.clocks[p], self.sent[p] = clocks, {}
            self.consumer.seek(TopicPartition(self.pred_topic, p), offsets[0])
            self.consumer.seek(TopicPartition(self.label_topic, p), offsets[1])
            log.info("label worker %d: partition %d from offsets %s (%s)", os.getpid(), p,
                     offsets, "checkpoint" if ck is not None else "start")

    async def _revoked(self, tps: Iterable[TopicPartition]) -> None:
        parts = sorted({tp.partition for tp in tps} & set(self.trackers))
        await self.checkpoint(parts)
        for p in parts:
            for d in (self.trackers, self.offsets, self.clocks, self.sent):
                d.pop(p, None)  # type: ignore[attr-defined]
            log.info("label worker %d: partition %d revoked", os.getpid(), p)

    async def checkpoint(self, parts: Iterable[int] | None = None) -> None:
        todo = sorted(self.trackers if parts is None else parts)
        if not todo:
            return
        for p in todo:  # matured windows past their retention leave memory and checkpoints
            self.trackers[p].evict(self.config.label_source.retention)
        # dead letters sent before this checkpoint are acknowledged before it is written
        await asyncio.get_running_loop().run_in_executor(None, self.dlq_producer.flush, 30.0)
        await self._send_partials(todo)
        await self.store.save({
            checkpoint_key(self.config, p): Checkpoint(0, pack(
                MAGIC, 1, {"predictions": self.offsets[p][0], "labels": self.offsets[p][1],
                            "clocks": [c if math.isfinite(c) else None
                                       for c in self.clocks[p]]},
                [snapshot(self.trackers[p])]))
            for p in todo})

    def _caught_up(self, p: int, *which: int) -> bool:
        """Partition ``p`` read to the end (``which``: 0 predictions, 1 labels; default both)."""
        assert self.consumer is not None
        topics = (self.pred_topic, self.label_topic)
        return all(caught_up(self.consumer, TopicPartition(topics[i], p),
                             self.config.kafka.isolation_level) for i in which or (0, 1))

    async def _send_partials(self, parts: list[int]) -> None:
        """The changed states and clocks of ``parts`` to the merger (acknowledged)."""
        if self._partials is None:
            return
        futures, done = [], []
        for p in parts:
            t, sent = self.trackers[p], self.sent[p]
            fps = {k: (st.predictions, st.labeled, st.w_sum) for k, st in t.states.items()}
            changed = {k: t.states[k] for k, fp in fps.items() if sent.get(k) != fp}
            value = label_partial(p, t.join.clock, self.clocks[p][0], self._caught_up(p),
                                  changed)
            futures.append(await self._partials.send(partials_topic(self.config), value,
                                                     partition=0))
            done.append((p, fps))
        if futures:
            await asyncio.gather(*futures)
        for p, fps in done:
            self.sent[p] = fps

    # -- data -------------------------------------------------------------------------------
    def _feed(self, p: int, preds: list[Any], labels: list[Any]) -> None:
        """One fetch of partition ``p``: predictions and labels decoded, then fed on one
        event-time timeline (:func:`~stream.performance.tracker.time_runs`, a hundredth of
        ``max_delay`` apart at most), so a backlog of both does not expire predictions whose
        labels are in the same fetch."""
        tracker = self.trackers.get(p)
        if tracker is None or not (preds or labels):
            return
        none: tuple[np.ndarray, Any] = (np.empty(0), None)
        pt, pcols = self._predictions(p, tracker, preds) if preds else none
        lt, lcols = self._labels(p, tracker, labels) if labels else none
        width = self.config.label_source.max_delay / 100
        for kind, rows in time_runs(pt, lt, width):
            r = rows.tolist()
            if kind == 0:
                pid, score, predicted, segs = pcols
                tracker.add_predictions(pt[rows], [pid[i] for i in r], score[rows],
                                        None if predicted is None else predicted[rows],
                                        {n: v[rows] for n, v in segs.items()})
            else:
                key, y = lcols
                tracker.add_labels(lt[rows], [key[i] for i in r], y[rows])

    def _decoded(self, p: int, which: int, records: list[Any]) -> DecodedBatch:
        """``records`` (not empty) of partition ``p`` of topic ``which`` (0 predictions,
        1 labels) decoded; that topic's clock and next offset of ``p`` moved past them."""
        decoder = self.pred_decoder if which == 0 else self.lab_decoder
        d = decoder.decode([r.value for r in records],
                           np.array([r.timestamp for r in records], dtype=np.float64))
        t = d.event_time[np.isfinite(d.event_time)]
        if t.shape[0]:
            self.clocks[p][which] = max(self.clocks[p][which], float(t.max()))
        self.offsets[p][which] = records[-1].offset + 1
        return d

    def _predictions(self, p: int, tracker: PerformanceTracker, records: list[Any]
                     ) -> tuple[np.ndarray, Any]:
        d = self._decoded(p, 0, records)
        # undecodable predictions are the feature worker's dead letters; counted here
        tracker.join.counts["undecodable_prediction"] += len(d.dead_letters)
        return d.event_time, (ids(d.categorical[ID]), scores_of(d), predicted_of(d, self.config),
                              segment_values(d, self.config.segments))

    def _labels(self, p: int, tracker: PerformanceTracker, records: list[Any]
                ) -> tuple[np.ndarray, Any]:
        d = self._decoded(p, 1, records)
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
            self.dlq.write(DeadLetter(r.value, reason, self.label_topic, p, r.offset, r.key,
                                      r.timestamp))
        return d.event_time, (key, y)

    def _align(self) -> None:
        """Pause a topic more than ``max_delay / 4`` of event time ahead of the other while the
        other has a backlog (it bounds the memory a backlog takes: expiry follows each topic's
        own time); resume it otherwise."""
        assert self.consumer is not None
        slack = self.config.label_source.max_delay / 4
        for p in self.trackers:
            ahead = self.clocks[p][0] - self.clocks[p][1]
            for i, topic in enumerate((self.pred_topic, self.label_topic)):
                lead = ahead if i == 0 else -ahead
                tp = TopicPartition(topic, p)
                if lead > slack and not self._caught_up(p, 1 - i):
                    self.consumer.pause(tp)
                else:
                    self.consumer.resume(tp)

    async def run(self, stop: asyncio.Event) -> None:
        counts = partition_counts(self.client, [self.pred_topic, self.label_topic])
        if counts[self.pred_topic] != counts[self.label_topic]:
            raise ValueError(f"{self.pred_topic} has {counts[self.pred_topic]} partitions and "
                             f"{self.label_topic} {counts[self.label_topic]}: the label join "
                             "needs both keyed by id with the same partition count")
        k = self.config.kafka
        ensure_topics(self.client, [
            checkpoint_topic_spec(checkpoint_topic(self.config)),
            TopicSpec(str(k.dlq_topic), partitions=1),
            TopicSpec(str(k.results_topic), partitions=1),
            TopicSpec(partials_topic(self.config), partitions=1, configs={
                "max.message.bytes": str(MAX_CHECKPOINT_BYTES),
                "retention.ms": str(7 * 86400 * 1000)})])
        await self.store.start()
        self._partials = AIOKafkaProducer(**self.client, acks="all", enable_idempotence=True,
                                          linger_ms=5, max_request_size=MAX_CHECKPOINT_BYTES)
        await self._partials.start()
        await self.outputs.start(self.client, k.client_kwargs())
        config, baseline = self.config, self.baseline
        self.merger = MergerSide(
            config.monitor, partials_topic(config), f"{k.group_id}-labels.merger", self.client,
            None, lambda: PerformanceMerger(config=config, baseline=baseline),
            [(self.pred_topic, p) for p in range(counts[self.pred_topic])],
            self.outputs.publish, store=self.store,
            checkpoint_interval=max(self.interval, k.checkpoint_interval),
            checkpoint_on_publish=False, session_timeout_ms=6000,
            apply=lambda m, value, now: m.apply(value, now))
        await self.merger.start()
        server = self._serve_metrics()

        worker = self

        class Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Any) -> None:
                await worker._revoked(revoked)

            async def on_partitions_assigned(self, assigned: Any) -> None:
                await worker._assigned(assigned)

        self.consumer = AIOKafkaConsumer(
            **self.client, group_id=f"{k.group_id}-labels",
            enable_auto_commit=False, auto_offset_reset="earliest",
            isolation_level=k.isolation_level,
            partition_assignment_strategy=(RangePartitionAssignor,),
            session_timeout_ms=6000, heartbeat_interval_ms=1000)
        await self.consumer.start()
        self.consumer.subscribe([self.pred_topic, self.label_topic], listener=Listener())
        merging = asyncio.create_task(self._merge_loop(stop))
        last = time.monotonic()
        try:
            while not stop.is_set():
                batch = await self.consumer.getmany(timeout_ms=200, max_records=20_000)
                for p in sorted({tp.partition for tp in batch}):
                    self._feed(p, batch.get(TopicPartition(self.pred_topic, p), []),
                               batch.get(TopicPartition(self.label_topic, p), []))
                self._align()
                if time.monotonic() - last >= self.interval:
                    await self.checkpoint()
                    last = time.monotonic()
                if merging.done():
                    merging.result()  # a failed merger stops the worker (without its checkpoint)
        finally:
            stop.set()
            await asyncio.gather(merging, return_exceptions=True)
            await self.checkpoint()
            await self.consumer.stop()
            if not merging.cancelled() and merging.exception() is None:
                await self.merger.stop()
            await self._partials.stop()
            await self.outputs.stop()
            await self.store.stop()
            self.dlq_producer.close(timeout=10)
            if server is not None:
                server.close()

    async def _merge_loop(self, stop: asyncio.Event) -> None:
        assert self.merger is not None
        while not stop.is_set():
            await self.merger.step()
            if not self.merger.mergers and self.outputs.alerting is not None:
                await asyncio.to_thread(self.outputs.close_alerting)  # another owns it now

    def views(self) -> list[PerformanceTracker]:
        """The merged view(s) of the merger this worker owns (none when another owns it)."""
        return [m.view for m in (self.merger.mergers.values() if self.merger else ())]

    def _serve_metrics(self) -> Any:
        where = self.config.metrics.host_port
        if where is None:
            return None
        from driftline.stream.monitor.exporter import serve
        from driftline.stream.monitor.performance_metrics import join_families, model_families

        worker = self

        class LabelCollector(Collector):
            def collect(self) -> Iterator[Any]:
                mon = worker.config.monitor
                yield from model_families(mon, worker.views())
                yield from join_families(mon, list(worker.trackers.values()))

        server = serve(LabelCollector(), where)
        log.info("label worker %d: metrics on http://%s:%d/metrics", os.getpid(), *server)
        return server


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
