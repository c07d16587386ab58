"""The freshness clock: how long since a topic, a feature or a cohort last had data.

Pure and clock-injected: it is *fed* observations (batches of record times with which features
were non-null and which cohorts they belong to, and Kafka's own newest record times) and
evaluated on a timer, every ``tick`` seconds whether traffic flows or not. Each evaluation turns
the configured freshness rules into ``Measurement(check="freshness", metric="staleness_seconds",
feature=<rule name>, value=<seconds>, details={"max_staleness": <SLA seconds>, ...})`` for the
alerts engine and the exporter.

Which time? Staleness is ``now - last_seen`` on the wall clock, where ``last_seen`` is the time
the data *arrived in Kafka*: the record timestamp (the producer's CreateTime, or the broker's
LogAppendTime), not the event-time field inside the payload. A freshness SLA asks "is data still
flowing?": event-time fields can legitimately lag (late or replayed events), be skewed or be
absent, and would turn a healthy backfill into a page; processing time (when the worker read
the record) would turn consumer lag into staleness and read zero right after a restart. Record
time is also what Kafka reports without consuming (ListOffsets ``MAX_TIMESTAMP``), so a freshly
(re)started worker is right at once: :meth:`FreshnessClock.seed_from_kafka`. Call it on every
tick to keep topic staleness independent of consumer lag. Future timestamps (clock skew) are
clamped to now.

Before a feature or cohort has been seen, its staleness counts from the earlier of the clock's
start and the newest record Kafka holds (nothing can be newer than that), with
``details["no_data"] = True``: a cohort that had traffic in the baseline but none since the
start shows up as "no data", not as fresh.

>>> from driftline.stream.config.alerts import FreshnessRule
>>> now = [1000.0]
>>> fc = FreshnessClock("fraud", [FreshnessRule(topic="tx", max_staleness="5m")],
...                     clock=lambda: now[0])
>>> fc.observe("tx", [990.0, 995.0])
>>> now[0] = 1400.0
>>> [(m.feature, m.value, m.details["max_staleness"]) for m in fc.evaluate()]
[('topic:tx', 405.0, 300.0)]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from driftline.alerts.model import Measurement
from driftline.stream.config.alerts import FreshnessRule

Kind = str  # "topic" | "feature" | "cohort"

log = logging.getLogger(__name__)


class FreshnessClock:
    """Last-seen times per topic, feature (last non-null value) and cohort, and staleness SLAs.

    ``rules``: the monitor's ``freshness`` rules. ``tick``: seconds between evaluations.
    ``clock``: returns Unix seconds (tests inject their own). ``baseline_cohorts``: cohorts
    (``"segment=value"``) the baseline had traffic for; with ``no_data_after`` set, each of them
    without a rule of its own is reported too, with that many seconds as its SLA.
    """

    def __init__(
        self,
        monitor: str,
        rules: Sequence[FreshnessRule],
        *,
        tick: float = 5.0,
        clock: Callable[[], float] = time.time,
        baseline_cohorts: Iterable[str] = (),
        no_data_after: float | Mapping[str, float] | None = None,
    ) -> None:
        if tick <= 0:
            raise ValueError("tick must be positive")
        self.monitor = monitor
        self.rules = list(rules)
        self.tick_interval = float(tick)
        self._clock = clock
        self.started_at = clock()
        self.baseline_cohorts = sorted(set(baseline_cohorts))
        self.no_data_after = no_data_after
        self._seen: dict[Kind, dict[str, float]] = {"topic": {}, "feature": {}, "cohort": {}}
        self._kafka_newest: float | None = None
        self._next_due = self.started_at

    # -- feeding --------------------------------------------------------------------------------
    def observe(
        self,
        topic: str,
        times: ArrayLike,
        *,
        present: Mapping[str, ArrayLike] | None = None,
        segments: Mapping[str, ArrayLike | tuple[ArrayLike, Sequence[Any]]] | None = None,
    ) -> None:
        """Record a batch of records from ``topic``.

        ``times``: record times (Unix seconds), one per record. ``present``: feature name ->
        boolean mask, True where the feature has a non-null value. ``segments``: segment name
        -> the cohort of each record, either as ``(codes, labels)`` (integer codes into a label
        table, negative codes index from the end as in numpy: the fastest form) or as an array
        of labels. One numpy reduction per feature and
        per segment, no Python loop per record.
        """
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        if t.size == 0:
            return
        valid = np.isfinite(t)
        if not valid.any():
            return
        now = self._clock()
        all_valid = bool(valid.all())
        newest_at = int(np.argmax(np.where(valid, t, -np.inf)))
        self._bump("topic", topic, float(t[newest_at]), now)
        for name, mask in (present or {}).items():
            m = np.asarray(mask, dtype=bool).reshape(-1)
            if m[newest_at]:  # usual case: present in the newest record, O(1)
                newest = float(t[newest_at])
            else:
                newest = float(np.max(t, where=m if all_valid else m & valid, initial=-np.inf))
            if newest > -np.inf:
                self._bump("feature", name, newest, now)
        for segment, values in (segments or {}).items():
            for value, ts in _newest_per_label(values, t, valid).items():
                self._bump("cohort", f"{segment}={value}", ts, now)

    def observe_topic(self, topic: str, at: float) -> None:
        """One record (or a heartbeat of data) on ``topic`` at ``at``."""
        self._bump("topic", topic, at, self._clock())

    def observe_feature(self, feature: str, at: float) -> None:
        """A non-null value of ``feature`` at ``at``."""
        self._bump("feature", feature, at, self._clock())

    def observe_cohort(self, segment: str, value: str, at: float) -> None:
        """A record of cohort ``segment=value`` at ``at``."""
        self._bump("cohort", f"{segment}={value}", at, self._clock())

    def seed_from_kafka(self, latest: Mapping[Any, float | None]) -> None:
        """Take Kafka's newest record times (per partition or per topic, Unix seconds or None).

        Keys are ``TopicPartition`` (anything with ``.topic``) or topic names, as returned by
        :func:`stream.kafka.probes.latest_timestamps` / ``latest_topic_timestamps``. Only moves
        last-seen times forward, so it is safe to call on every tick.
        """
        now = self._clock()
        for key, ts in latest.items():
            if ts is None or not math.isfinite(ts):
                continue
            topic = getattr(key, "topic", key)
            self._bump("topic", str(topic), float(ts), now)
            ts = min(float(ts), now)
            self._kafka_newest = ts if self._kafka_newest is None else max(self._kafka_newest, ts)

    def _bump(self, kind: Kind, name: str, at: float, now: float) -> None:
        if not math.isfinite(at):
            return
        at = min(at, now)
        seen = self._seen[kind]
        if at > seen.get(name, -math.inf):
            seen[name] = at

    # -- state (checkpoints) --------------------------------------------------------------------
    def last_seen(self, kind: Kind, name: str) -> float | None:
        """Last-seen time of ``kind`` ("topic"/"feature"/"cohort") ``name``, if ever seen."""
        return self._seen[kind].get(name)

    def state(self) -> dict[str, dict[str, float]]:
        """Last-seen times, JSON-serializable, to store with a checkpoint."""
        return {kind: dict(seen) for kind, seen in self._seen.items()}

    def restore(self, state: Mapping[str, Mapping[str, float]]) -> None:
        """Merge a :meth:`state` (e.g. one per restored partition): the newest time wins."""
        now = self._clock()
        for kind, seen in state.items():
            if kind in self._seen:
                for name, at in seen.items():
                    self._bump(kind, name, float(at), now)

    # -- evaluating -----------------------------------------------------------------------------
    def now(self) -> float:
        """The injected clock's current time."""
        return self._clock()

    @property
    def next_due(self) -> float:
        """When the next tick is due."""
        return self._next_due

    def due(self, now: float | None = None) -> bool:
        """Whether a tick is due (the first one is due at once)."""
        return (self._clock() if now is None else now) >= self._next_due

    def tick(self, now: float | None = None) -> list[Measurement]:
        """Evaluate if a tick is due, else return ``[]``; schedules the next tick."""
        now = self._clock() if now is None else now
        if now < self._next_due:
            return []
        self._next_due = now + self.tick_interval
        return self.evaluate(now)

    def _origin(self) -> float:
        if self._kafka_newest is None:
            return self.started_at
        return min(self.started_at, self._kafka_newest)

    def staleness(self, kind: Kind, name: str, now: float | None = None) -> tuple[float, bool]:
        """``(seconds, no_data)`` for ``kind`` ``name`` at ``now``."""
        now = self._clock() if now is None else now
        seen = self._seen[kind].get(name)
        origin = self._origin() if seen is None else seen
        return max(0.0, now - origin), seen is None

    def evaluate(self, now: float | None = None) -> list[Measurement]:
        """One measurement per rule (plus implicit baseline-cohort "no data" ones)."""
        now = self._clock() if now is None else now
        out = [self._measure(r.kind, _target(r), r.max_staleness, now, r) for r in self.rules]
        if self.no_data_after is not None:
            ruled = {r.cohort for r in self.rules if r.cohort}
            for cohort in self.baseline_cohorts:
                sla = (self.no_data_after.get(cohort) if isinstance(self.no_data_after, Mapping)
                       else self.no_data_after)
                if cohort not in ruled and sla is not None:
                    out.append(self._measure("cohort", cohort, sla, now, None))
        return out

    def _measure(
        self, kind: Kind, name: str, sla: float, now: float, rule: FreshnessRule | None
    ) -> Measurement:
        value, no_data = self.staleness(kind, name, now)
        segment, cohort = name.split("=", 1) if kind == "cohort" else ("all", "all")
        last = self._seen[kind].get(name)
        details: dict[str, Any] = {
            "max_staleness": float(sla),
            "kind": kind,
            "target": name,
            "last_seen": last,
            "no_data": no_data,
        }
        if rule is not None:
            details["warning_after"] = rule.warning_after
            details["on_stale"] = dict(rule.on_stale)
        else:
            details["implicit"] = True
            details["severity"] = "warning"  # an implicit rule never pages
        return Measurement(
            monitor=self.monitor,
            check="freshness",
            metric="staleness_seconds",
            feature=rule.name if rule is not None else f"cohort:{name}",
            segment=segment,
            cohort=cohort,
            window="",
            window_start=last if last is not None else self._origin(),
            window_end=now,
            value=value,
            details=details,
        )


def _newest_per_label(
    values: ArrayLike | tuple[ArrayLike, Sequence[Any]], t: np.ndarray, valid: np.ndarray
) -> dict[str, float]:
    """Newest time per cohort label among the ``valid`` records."""
    if isinstance(values, tuple):
        codes = np.asarray(values[0]).reshape(-1)[valid].astype(np.int64)
        labels: Sequence[Any] = values[1]
    else:
        v = np.asarray(values).reshape(-1)[valid]
        if v.dtype == object:
            # labels repeat the same few objects: factorize by identity (one C-level call per
            # record), then the handful of distinct objects are compared by value below
            ids = np.frompyfunc(id, 1, 1)(v).astype(np.int64) if v.size else v
            _, first, codes = np.unique(ids, return_index=True, return_inverse=True)
            labels = v[first].tolist()
        else:
            uniq, codes = np.unique(v, return_inverse=True)
            labels = uniq.tolist()
    tv = t[valid]
    out: dict[str, float] = {}
    if codes.size == 0:
        return out
    newest = np.full(len(labels), -np.inf)
    np.maximum.at(newest, codes.reshape(-1), tv)
    for label, ts in zip(labels, newest.tolist(), strict=True):
        if ts > -np.inf:
            key = str(label)
            out[key] = max(ts, out.get(key, -np.inf))
    return out


def _target(rule: FreshnessRule) -> str:
    return str(rule.topic or rule.feature or rule.cohort)


async def run_clock(
    clock: FreshnessClock,
    emit: Callable[[list[Measurement]], Awaitable[None] | None],
    *,
    probe: Callable[[], Mapping[Any, float | None]] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Tick ``clock`` forever (until ``stop`` is set): probe Kafka, evaluate, ``emit``.

    ``probe`` is blocking (e.g. ``lambda: latest_timestamps(client, topics)``) and runs in a
    thread; a failing probe is skipped for that tick (the clock keeps its last knowledge).
    """
    stop = stop or asyncio.Event()
    while not stop.is_set():
        if probe is not None:
            try:
                clock.seed_from_kafka(await asyncio.to_thread(probe))
            except Exception as exc:  # Kafka briefly unreachable: evaluate with what we know
                log.warning("freshness probe failed: %s", type(exc).__name__)
        measurements = clock.tick()
        if measurements:
            result = emit(measurements)
            if isinstance(result, Awaitable):
                await result
        delay = max(0.0, clock.next_due - clock.now())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)


def no_data_slas(segment_rows: Mapping[str, Mapping[str, int]], span_seconds: float,
                 window_size: float, silence_odds: float = 1e-6) -> dict[str, float]:
    """Per baseline cohort, how long a silence means "no data" rather than chance.

    A cohort that had ``n`` training events over ``span_seconds`` has a rate ``r = n / span``;
    under that rate a gap of ``t`` seconds happens with probability ``exp(-r t)``, so silence
    longer than ``ln(1 / silence_odds) / r`` (≈ 14 / r for one in a million) is reported, and
    never sooner than three base windows.

    >>> slas = no_data_slas({"region": {"eu": 36_000, "mea": 36}}, 3600.0, 60.0)
    >>> slas["region=eu"], round(slas["region=mea"])
    (180.0, 1382)
    """
    if span_seconds <= 0:
        return {}
    factor = math.log(1.0 / silence_odds)
    out: dict[str, float] = {}
    for segment, values in segment_rows.items():
        for value, rows in values.items():
            if rows > 0:
                out[f"{segment}={value}"] = max(3.0 * window_size, factor * span_seconds / rows)
    return out
