"""``driftline run``: the always-on worker, as a faust-streaming (mode) service.

:class:`Runtime` composes the source side (event partitions -> partial windows, checkpointed),
the merger side (partials -> evaluated windows -> results topic, exporter, alerting,
checkpointed), the freshness clock on a timer, baseline swaps, consumer lag and the Prometheus
endpoint. It runs inside the faust worker (signals, lifecycle, logging): :func:`run_worker` is
what the CLI calls; :func:`run_until` runs it in-process for benchmarks.

Stopping (SIGTERM/SIGINT, or :meth:`Runtime.stop`): the loops finish their current round, every
owned partition is checkpointed, offsets committed, the groups left, producers flushed.

>>> internal_topics("driftline.fraud")
('driftline.fraud.partials', 'driftline.fraud.checkpoints')
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import mode

from driftline.sketches.baseline import Baseline
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.decode.factory import decoder_for
from driftline.stream.engine.cohorts import AdmittedView, Cohorts
from driftline.stream.engine.core import build_merger, schema_for
from driftline.stream.engine.framing import pack, unpack
from driftline.stream.engine.merger import Merger
from driftline.stream.engine.results import WindowResult
from driftline.stream.kafka.admin import (
    TopicSpec,
    ensure_topics,
    max_message_bytes,
    partition_counts,
)
from driftline.stream.kafka.baseline_swap import BaselinePoller, BaselineSwaps
from driftline.stream.kafka.checkpoint import Checkpoint, CheckpointStore, checkpoint_topic_spec
from driftline.stream.kafka.live_schema import pinned_schema
from driftline.stream.kafka.partials import MergerSide, PartialSender, SentPartials
from driftline.stream.kafka.producer import DeadLetterWriter, Producer
from driftline.stream.kafka.retraining_sink import RetrainingSender
from driftline.stream.kafka.sinks import Sinks
from driftline.stream.kafka.source_settings import Aggregation, EventConsumer
from driftline.stream.kafka.worker import SourceSide
from driftline.stream.performance.retraining import RetrainingTriggers

log = logging.getLogger(__name__)

READY_LINE = "driftline ready"
_RETRAIN = b"DLRT"


def internal_topics(prefix: str) -> tuple[str, str]:
    """(partials topic, checkpoint topic) of a monitor."""
    return f"{prefix}.partials", f"{prefix}.checkpoints"


class Runtime(mode.Service):
    """The worker: see the module doc. ``instance_id`` enables static group membership (a
    restarted worker with the same id takes its partitions back without a rebalance).
    ``baseline_poller`` (a :class:`stream.sources.baseline_watch.BaselineWatcher`) is checked
    every ``baseline_reload.interval`` and on SIGHUP; a new baseline is swapped in between two
    merger rounds (:meth:`swap_baseline`, docs/baselines.md).

    Example (needs a broker; ``driftline run`` does this under a faust worker)::

        rt = Runtime(load_config("driftline.yaml"), load_baseline("baseline.dlb"))
        await rt.start()          # prints "driftline ready ..." and serves /metrics
        ...
        await rt.stop()           # checkpoint, commit, leave the groups, flush
    """

    def __init__(
        self,
        cfg: DriftlineConfig,
        baseline: Baseline | None = None,
        *,
        instance_id: str | None = None,
        session_timeout_s: float = 10.0,
        environ: Mapping[str, str] | None = None,
        announce: Callable[[str], None] | None = None,
        exit_on_failure: bool = False,
        baseline_poller: BaselinePoller | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.cfg = cfg
        self.k = cfg.kafka
        self.baseline = baseline
        self.instance_id = instance_id
        self.session_timeout_ms = int(session_timeout_s * 1000)
        self.environ = os.environ if environ is None else environ
        self.announce = announce or _print_line
        self.schema = schema_for(cfg, baseline)
        self.decoder = decoder_for(cfg)
        self.partials_topic, self.checkpoint_topic = internal_topics(
            str(self.k.internal_topic_prefix))
        self.sinks = Sinks(cfg, baseline, self.environ)
        self.stopping = asyncio.Event()
        self.ready = asyncio.Event()
        self.started_at = time.time()
        self._loops: list[asyncio.Task[None]] = []
        self.failure: BaseException | None = None
        self.exit_on_failure = exit_on_failure
        self.source: SourceSide | None = None
        self.merger: MergerSide | None = None
        self.baseline_poller = baseline_poller
        self.swaps = BaselineSwaps(baseline)
        # feature_drift_psi retraining triggers (the label worker evaluates the others)
        self.retraining: RetrainingTriggers | None = None
        if any(t.metric == "feature_drift_psi" for t in cfg.retraining.triggers):
            self.retraining = RetrainingTriggers(monitor=cfg.monitor, config=cfg.retraining,
                                                 min_samples=cfg.drift.min_samples)

    # -- construction -----------------------------------------------------------------------
    def _make_merger(self) -> Merger:
        w = self.cfg.windows
        # No short bounded wait here: a lagging partition is not an idle one. Idle partitions
        # advance their own watermark (source side, only when caught up) and a dead worker's
        # partitions move to another after the session timeout; the hour-long wait only
        # protects against a partition nobody consumes at all.
        wait = max(w.allowed_lateness + 2 * w.idle_timeout, 3600.0)
        return build_merger(self.cfg, self.schema, self.baseline, wait)

    def _topics(self, kclient: dict[str, Any]) -> list[tuple[str, int]]:
        counts = partition_counts(kclient, self.k.topics)
        missing = [t for t in self.k.topics if t not in counts]
        if missing:
            raise RuntimeError(f"source topics do not exist: {missing}")
        sources = [(t, p) for t in self.k.topics for p in range(counts[t])]
        n_partials = 1  # one merger at a time: coherent alert lifecycles (docs/runtime.md)
        ensure_topics(kclient, [
            checkpoint_topic_spec(self.checkpoint_topic),
            TopicSpec(self.partials_topic, partitions=n_partials,
                      configs={"max.message.bytes": str(64 * 1024 * 1024),
                               "retention.ms": str(7 * 86400 * 1000)}),
            TopicSpec(str(self.k.results_topic), partitions=1),
            TopicSpec(str(self.k.dlq_topic), partitions=1),
        ])
        return sources

    async def on_start(self) -> None:
        kclient = self.k.client_kwargs(self.environ)
        aclient = self.k.aiokafka_kwargs(self.environ)
        sources = await asyncio.to_thread(self._topics, kclient)
        dlq_limit = await asyncio.to_thread(max_message_bytes, kclient, str(self.k.dlq_topic))
        self.store = CheckpointStore(self.checkpoint_topic, aclient)
        await self.store.start()
        self.schema = await pinned_schema(self.store, self.cfg.monitor, self.schema)
        if self.retraining is not None:
            self.retrain_sender = RetrainingSender(config=self.cfg.retraining,
                                                   environ=self.environ, client=kclient)
            found = await self.store.load([self._retraining_key])
            if found:  # cooldowns survive a restart
                _, meta, blobs = unpack(found[self._retraining_key].state, _RETRAIN, {1})
                self.retraining.load(meta, blobs)
        longest = max([self.cfg.windows.size, *self.cfg.windows.rollups])
        sent = SentPartials()  # partials this worker's own merger side reads back
        self.sender = PartialSender(self.partials_topic, aclient, longest, sent=sent)
        await self.sender.start()
        self.dlq_producer = Producer(kclient, linger_ms=20, max_request_size=dlq_limit)
        dlq = DeadLetterWriter(self.dlq_producer, str(self.k.dlq_topic), dlq_limit)
        await self.sinks.start(aclient, kclient, self._lag, self._counters, self._cohorts,
                               self.swaps.status)
        self.source = SourceSide(
            consumer=EventConsumer.from_config(
                self.cfg, client=aclient, session_timeout_ms=self.session_timeout_ms,
                instance_id=f"{self.instance_id}.source" if self.instance_id else None),
            aggregation=Aggregation.from_config(self.cfg, schema=self.schema,
                                                decoder=self.decoder),
            store=self.store, sender=self.sender, dlq=dlq,
            admitted=AdmittedView(self._merger_cohorts, self.cfg.max_cohorts_per_segment),
            observer=self.sinks.observe_batch, checkpoint_interval=self.k.checkpoint_interval,
        )
        self.merger = MergerSide(
            self.cfg.monitor, self.partials_topic, f"{self.k.group_id}.merger", aclient,
            self.schema, self._make_merger, sources, self._publish, store=self.store, sent=sent,
            checkpoint_interval=self.k.checkpoint_interval,
            session_timeout_ms=self.session_timeout_ms,
            instance_id=f"{self.instance_id}.merger" if self.instance_id else None,
        )
        await self.source.start()
        await self.merger.start()
        self._loops = [
            asyncio.create_task(self._run_loop("source", self.source.step)),
            asyncio.create_task(self._run_loop("merger", self.merger.step)),
            asyncio.create_task(self.sinks.run_freshness(self.stopping)),
        ]
        if self.baseline_poller is not None:
            self._loops.append(asyncio.create_task(self.swaps.run(
                self.baseline_poller, self.cfg.baseline_reload.interval, self.stopping,
                self.swap_baseline)))
        self.ready.set()
        where = self.sinks.metrics_address or "disabled"
        self.announce(f"{READY_LINE} monitor={self.cfg.monitor} metrics={where}")

    async def _run_loop(self, name: str, step: Callable[[], Awaitable[int]]) -> None:
        while not self.stopping.is_set():
            try:
                await step()
            except Exception as exc:
                log.exception("%s loop failed; the worker stops without checkpointing", name)
                self.failure = exc
                self.stopping.set()
                if self.exit_on_failure:  # state may be inconsistent: never checkpoint it
                    os._exit(3)
                return

    async def swap_baseline(self, new: Baseline) -> None:
        """Evaluate every window that closes from now on against ``new`` (the mergers take it
        between two rounds; partitions assigned later start with it)."""

        def change() -> None:
            self.baseline = new
            for merger in (self.merger.mergers.values() if self.merger else ()):
                merger.evaluator.use(new)

        if self.merger is not None:
            await self.merger.between_rounds(change)
        else:
            change()
    @property
    def _retraining_key(self) -> str:
        return f"{self.cfg.monitor}|retraining|features"

    async def _publish(self, results: list[WindowResult]) -> None:
        await self.sinks.publish(results)
        if self.retraining is not None:
            await self._retrain(results)

    async def _retrain(self, results: list[WindowResult]) -> None:
        """feature_drift_psi triggers on the closed base windows: events sent, then the
        cooldowns saved (a crash in between sends an event again, with the same ``id``)."""
        assert self.retraining is not None
        for r in results:
            if r.tier == self.cfg.windows.tiers[0]:
                self.retraining.observe_closed(r.to_report(), None)
        events, self.retraining.events = self.retraining.events, []
        for event in events:
            await asyncio.to_thread(self.retrain_sender.send, event)
        if events:
            meta, blobs = self.retraining.state()
            await self.store.save({self._retraining_key: Checkpoint(
                0, pack(_RETRAIN, 1, meta, blobs))})

    def _lag(self) -> dict[tuple[str, int], int]:
        return self.source.lag() if self.source is not None else {}

    def _counters(self) -> dict[str, dict[str, Any]]:
        if self.source is None:
            return {}
        c = self.source.counters
        out: dict[str, dict[str, Any]] = {
            t: {"records": n, "events": c.events.get(t, 0), "late": c.late.get(t, 0),
                "invalid": {}} for t, n in c.records.items()}
        for (topic, reason), n in c.invalid.items():
            out.setdefault(topic, {"records": 0, "events": 0, "late": 0, "invalid": {}})
            out[topic]["invalid"][reason] = n
        kinds = self.source.record_counters
        for topic in kinds.topics():
            out.setdefault(topic, {"records": 0, "events": 0, "late": 0, "invalid": {}})
            out[topic].update(kinds.for_topic(topic))
        return out

    def _merger_cohorts(self) -> list[Cohorts]:
        return [m.cohorts for m in (self.merger.mergers.values() if self.merger else ())]

    def _cohorts(self) -> dict[str, int]:
        live: dict[str, int] = {}
        for cohorts in self._merger_cohorts():
            for seg, n in cohorts.live().items():
                live[seg] = max(live.get(seg, 0), n)
        return live

    async def on_stop(self) -> None:
        self.stopping.set()
        if self._loops:
            await asyncio.gather(*self._loops, return_exceptions=True)
        if self.failure is not None:  # never checkpoint state a failed round left behind
            return
        if self.source is not None:
            await self.source.stop()
        if self.merger is not None:
            await self.merger.stop()
        with contextlib.suppress(AttributeError):
            await self.sender.stop()
            await self.store.stop()
            await asyncio.to_thread(self.dlq_producer.close, 30.0)
        await self.sinks.stop()
        log.info("driftline worker stopped cleanly")


def _print_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_worker(
    cfg: DriftlineConfig,
    baseline: Baseline | None = None,
    *,
    instance_id: str | None = None,
    session_timeout_s: float = 10.0,
    loglevel: str = "info",
    baseline_poller: BaselinePoller | None = None,
) -> None:
    """Run the worker under faust until SIGTERM/SIGINT (blocking); ``baseline_poller`` checks
    the baseline location for a new baseline every ``baseline_reload.interval``."""
    from driftline.stream.kafka.app import build_app, run_app

    app = build_app(cfg)
    runtime_kwargs: dict[str, Any] = {
        "instance_id": instance_id, "session_timeout_s": session_timeout_s,
        "exit_on_failure": True, "baseline_poller": baseline_poller,
    }

    class _Service(Runtime):
        def __init__(self, **kw: Any) -> None:
            super().__init__(cfg, baseline, **runtime_kwargs, **kw)

    app.service(_Service)
    run_app(app, loglevel)


def run_until(
    cfg: DriftlineConfig, *, events: int, timeout_s: float = 300.0, baseline: Baseline | None = None
) -> dict[str, float]:
    """Run the runtime in-process (no faust worker) until ``events`` were counted and every
    window was published; returns throughput numbers (the end-to-end benchmark uses this)."""

    async def main() -> dict[str, float]:
        rt = Runtime(cfg, baseline, session_timeout_s=6.0, announce=lambda _line: None)
        await rt.start()
        t_start = time.perf_counter()
        counted = 0
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                assert rt.source is not None
                counted = sum(rt.source.counters.records.values())
                if counted >= events:
                    break
                await asyncio.sleep(0.01)
            t_counted = time.perf_counter()
            assert rt.source is not None
            # timed from the first fetched record (not the first counted one: records wait in
            # the coalescing buffers first)
            t0, cpu_first = rt.source.first_fetch or (t_start, time.process_time())
            cpu = time.process_time() - cpu_first
            await rt.source.checkpoint_now()
            t_ckpt = time.perf_counter()
        finally:
            await rt.stop()
        return {
            "records": float(counted),
            "startup_s": round(t0 - t_start, 3),
            "events_per_s": round(counted / max(1e-9, t_counted - t0)),
            "events_per_cpu_s": round(counted / max(1e-9, cpu)),
            "checkpoint_s": round(t_ckpt - t_counted, 3),
            "windows_published": float(rt.merger.windows_published if rt.merger else 0),
        }

    return asyncio.run(main())
