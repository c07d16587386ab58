"""Merging the partial windows of all source partitions, evaluating them, rolling them up.

* Partials are keyed by (window start, source): a partial re-sent after a crash REPLACES the
  earlier one, never adds to it. A partial for a window that is already closed is dropped and
  counted (``late_partials``).
* A window closes when the watermark of every expected source has passed its end (each
  aggregator emits its partial before reporting that watermark). Bounded wait: a source whose
  watermark has not moved for ``max_wait`` seconds of wall-clock time (a dead worker, a
  partition nobody consumes) stops holding windows back; a source that is merely behind but
  progressing (catching up a backlog) is always waited for, and idle partitions keep moving by
  their idle advance. A partial that arrives for a window closed without it is dropped and
  counted (``late_partials``). Windows close in start order.
* At close, segment values are mapped to cohorts by :class:`stream.engine.cohorts.Cohorts` from the
  merged counts (so cohorts do not depend on partitioning), profiles are merged per cohort and
  evaluated (:class:`stream.engine.evaluation.WindowEvaluator`).
* Rollups (``1h``, ``1d``): closed base windows are merged into each longer tier; a rollup
  closes once the merged watermark passed its end and is evaluated the same way.
* References (:mod:`stream.engine.references`): every closed window of a tier is evaluated
  against the trailing and seasonal references built from the tier's earlier closed windows,
  then kept for the windows after it (in the snapshot too).

>>> from driftline.sketches.schema import NumericSpec, ProfileSchema
>>> from driftline.sketches.profile import CohortProfile
>>> from driftline.stream.engine.evaluation import WindowEvaluator
>>> schema = ProfileSchema((NumericSpec("x"),))
>>> m = Merger(WindowEvaluator("m", schema, None), Cohorts([], 5), 60.0, tiers=["1m"])
>>> m.expect([("t", 0)])
>>> m.add(PartialWindow("t", 0, 0.0, 60.0, {("all", "all"): CohortProfile(schema)}, 60.0))
True
>>> [r.tier for r in m.ready()]
['1m']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from driftline.sketches.profile import CohortProfile
from driftline.sketches.schema import ProfileSchema
from driftline.stream.engine.cohorts import GLOBAL, OTHER, Cohorts
from driftline.stream.engine.evaluation import WindowEvaluator
from driftline.stream.engine.framing import pack, unpack
from driftline.stream.engine.partial import CohortKey, PartialWindow
from driftline.stream.engine.references import ReferenceHistory
from driftline.stream.engine.results import WindowResult

Source = tuple[str, int]
_MAGIC = b"DLMG"
_VERSION = 1


class Merger:
    """Collects partial windows, closes, merges, evaluates; see the module doc."""

    def __init__(
        self,
        evaluator: WindowEvaluator,
        cohorts: Cohorts,
        window_size: float,
        rollups: Sequence[float] = (),
        tiers: Sequence[str] | None = None,
        max_wait: float | None = None,
        references: ReferenceHistory | None = None,
    ) -> None:
        self.evaluator = evaluator
        self.references = (references if references is not None
                           else ReferenceHistory(evaluator.schema, {}))
        self.schema: ProfileSchema = evaluator.schema
        self.cohorts = cohorts
        self.size = float(window_size)
        self.rollups = [float(r) for r in rollups]
        labels = list(tiers) if tiers is not None else [f"{int(s)}s" for s in
                                                        (self.size, *self.rollups)]
        self.tier = labels[0]
        self.rollup_tiers = dict(zip(self.rollups, labels[1:], strict=True))
        self.max_wait = max_wait
        self.pending: dict[float, dict[Source, PartialWindow]] = {}
        self.progress_at: dict[Source, float] = {}  # wall clock of the last watermark move
        self._moved: set[Source] = set()
        self.watermarks: dict[Source, float] = {}
        self.expected: set[Source] = set()
        self.frontier = -math.inf
        self.acc: dict[float, dict[float, dict[CohortKey, CohortProfile]]] = {
            r: {} for r in self.rollups}
        self.replaced = 0
        self.late_partials = 0
        self.closed = 0
        self.plausible: Any = None  # a stream.engine.plausible.PlausibleTimes: repairs on restore

    # -- input ------------------------------------------------------------------------------
    def expect(self, sources: Iterable[Source]) -> None:
        """Sources whose watermarks a window waits for (the assigned partitions)."""
        self.expected.update((str(t), int(p)) for t, p in sources)

    def forget(self, sources: Iterable[Source]) -> None:
        for s in sources:
            self.expected.discard(s)
            self.watermarks.pop(s, None)

    def add(self, partial: PartialWindow, now: float | None = None) -> bool:
        """Accept a partial (False when dropped because its window already closed)."""
        src = partial.source
        self.expected.add(src)
        if partial.end <= self.frontier:
            self.late_partials += 1
            return False
        slot = self.pending.setdefault(partial.start, {})
        if src in slot:
            self.replaced += 1
        slot[src] = partial
        self.advance(src, partial.watermark)
        return True

    def advance(self, source: Source, watermark: float) -> None:
        """A source's watermark (after it emitted every partial up to it)."""
        source = (str(source[0]), int(source[1]))
        self.expected.add(source)
        if watermark > self.watermarks.get(source, -math.inf):
            self.watermarks[source] = watermark
            self._moved.add(source)

    @property
    def watermark(self) -> float:
        """The minimum watermark over the expected sources."""
        if not self.expected:
            return -math.inf
        return min(self.watermarks.get(s, -math.inf) for s in self.expected)

    def stalled(self, now: float) -> set[Source]:
        """Sources whose watermark has not moved for ``max_wait`` seconds."""
        if self.max_wait is None:
            return set()
        return {s for s in self.expected if now - self.progress_at.get(s, now) >= self.max_wait}

    def _limit(self, now: float | None) -> float:
        if now is None:
            return self.watermark
        for s in self._moved:
            self.progress_at[s] = now
        self._moved.clear()
        for s in self.expected:
            self.progress_at.setdefault(s, now)
        stalled = self.stalled(now)
        active = [self.watermarks.get(s, -math.inf) for s in self.expected if s not in stalled]
        if active:
            return min(active)
        return max((self.watermarks.get(s, -math.inf) for s in self.expected), default=-math.inf)

    # -- output -----------------------------------------------------------------------------
    def ready(self, now: float | None = None) -> list[WindowResult]:
        """Close every window the merged watermark (or the bounded wait) allows."""
        limit = self._limit(now)
        results: list[WindowResult] = []
        for start in sorted(s for s in self.pending if s + self.size <= limit):
            results.append(self._close(start))
        self.frontier = max(self.frontier, limit)
        results.extend(self._close_rollups(self.frontier))
        return results

    def flush(self) -> list[WindowResult]:
        """End of input: close everything, including unfinished rollups (``complete=False``)."""
        results = [self._close(s) for s in sorted(self.pending)]
        results.extend(self._close_rollups(self.frontier))
        results.extend(self._close_rollups(math.inf, complete=False))
        return results

    def _close(self, start: float) -> WindowResult:
        partials = self.pending.pop(start)
        merged: dict[CohortKey, CohortProfile] = {}
        per_segment: dict[str, dict[str, list[CohortProfile]]] = {}
        for src in sorted(partials):
            for key, prof in partials[src].profiles.items():
                if key == GLOBAL:
                    _merge_into(merged, GLOBAL, prof)
                else:
                    per_segment.setdefault(key[0], {}).setdefault(key[1], []).append(prof)
        for segment in sorted(per_segment):
            values = per_segment[segment]
            counts = {v: sum(p.events for p in ps) for v, ps in values.items()}
            if segment in self.cohorts.registries:
                self.cohorts[segment].observe_window(counts)
                admitted = self.cohorts[segment].admitted
            else:
                admitted = {}
            for value in sorted(values):
                cohort = value if value in admitted else OTHER
                for prof in values[value]:
                    _merge_into(merged, (segment, cohort), prof)
        self.closed += 1
        self.frontier = max(self.frontier, start + self.size)
        for r, acc in self.acc.items():
            slot = acc.setdefault(math.floor(start / r) * r, {})
            for key, prof in merged.items():
                if key in slot:
                    slot[key].merge(prof)
                else:
                    slot[key] = prof.copy()
        return self._evaluate(start, start + self.size, self.tier, merged, True, len(partials))

    def _evaluate(self, start: float, end: float, tier: str,
                  profiles: dict[CohortKey, CohortProfile], complete: bool,
                  sources: int = 0) -> WindowResult:
        live = self.references.lookup(tier, start)
        result = self.evaluator.evaluate(start, end, tier, profiles, complete=complete,
                                         sources=sources, live=live)
        if complete:
            self.references.record(tier, start, profiles)
        return result

    def _close_rollups(self, frontier: float, complete: bool = True) -> list[WindowResult]:
        out: list[WindowResult] = []
        for r, acc in self.acc.items():
            for rstart in sorted(acc):
                if rstart + r <= frontier or not complete:
                    profiles = acc.pop(rstart)
                    out.append(self._evaluate(rstart, rstart + r, self.rollup_tiers[r],
                                              profiles, complete))
        out.sort(key=lambda w: (w.end, w.end - w.start))
        return out

    # -- state ------------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """Pending partials, watermarks, rollup accumulators and cohort registries."""
        blobs: list[bytes] = []
        pend = []
        for _start, slot in sorted(self.pending.items()):
            for src in sorted(slot):
                pend.append(len(blobs))
                blobs.append(slot[src].to_bytes())
        rolls = []
        for r, acc in self.acc.items():
            for rstart, profiles in sorted(acc.items()):
                for key, prof in profiles.items():
                    rolls.append([r, rstart, list(key), len(blobs)])
                    blobs.append(prof.to_bytes(include_schema=False))
        meta: dict[str, Any] = {
            "schema": self.schema.fingerprint, "size": self.size, "pending": pend,
            "rollups": rolls, "frontier": None if not math.isfinite(self.frontier)
            else self.frontier,
            "watermarks": [[s[0], s[1], w] for s, w in self.watermarks.items()
                           if math.isfinite(w)],
            "expected": [list(s) for s in sorted(self.expected)],
            "cohorts": self.cohorts.state(),
            "counters": [self.replaced, self.late_partials, self.closed],
            "references": self.references.state(blobs),
        }
        return pack(_MAGIC, _VERSION, meta, blobs)

    def restore(self, data: bytes) -> None:
        _, meta, blobs = unpack(data, _MAGIC, {_VERSION})
        self.pending = {}
        for i in meta["pending"]:
            p = PartialWindow.from_bytes(blobs[i], self.schema)
            self.pending.setdefault(p.start, {})[p.source] = p
        self.acc = {r: {} for r in self.rollups}
        for r, rstart, key, i in meta["rollups"]:
            prof = CohortProfile.from_bytes(blobs[i], self.schema)
            self.acc.setdefault(float(r), {}).setdefault(float(rstart), {})[(key[0], key[1])] = prof
        f = meta["frontier"]
        self.frontier = -math.inf if f is None else float(f)
        self.watermarks = {(t, int(p)): float(w) for t, p, w in meta["watermarks"]}
        self.expected = {(t, int(p)) for t, p in meta["expected"]}
        self.cohorts.load(meta["cohorts"])
        self.replaced, self.late_partials, self.closed = meta["counters"]
        self.references.load(meta.get("references", []), blobs)
        if self.plausible is not None:
            from driftline.stream.engine.plausible import repair_merger
            repair_merger(self, self.plausible)


def _merge_into(merged: dict[CohortKey, CohortProfile], key: CohortKey,
                prof: CohortProfile) -> None:
    if key in merged:
        merged[key].merge(prof)
    else:
        merged[key] = prof
