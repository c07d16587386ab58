"""Cohorts: which segment values get their own profile, with a hard cap per segment.

Every event belongs to the global cohort ``("all", "all")`` and, for each segment field (e.g.
``region``), to the cohort of its value — if that value was *admitted* — else to ``__other__``.
A missing segment value is the value ``__missing__``.

Admission policy (deterministic, bounded memory, stable for the run):

* At most ``max_cohorts`` values per segment are ever admitted; once admitted a value keeps its
  cohort for the whole run (dashboards and alert keys stay stable).
* Traffic per value is tracked with a Misra-Gries summary of ``10 * max_cohorts`` counters
  (mergeable, underestimates a count by at most ``total / (capacity + 1)``), fed with the
  per-value event counts of each closed window. 1M distinct values cost ``capacity`` counters.
* When a window closes and slots are free, the window's values not yet admitted compete: the
  highest tracked counts win (ties by label), provided the tracked count reaches
  ``1 / (10 * max_cohorts)`` of the segment's traffic so far. Values that are a vanishing share
  of traffic (IDs, adversarial cardinality) never take a slot.
* Decisions are made where the windows of all partitions are merged, from merged counts, so
  the cohorts do not depend on how the stream is partitioned.

>>> reg = CohortRegistry(max_cohorts=2)
>>> reg.observe_window({"eu": 50, "us": 30, "ap": 20})
['eu', 'us']
>>> reg.cohort_of("eu"), reg.cohort_of("ap"), reg.full
('eu', '__other__', True)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

OTHER = "__other__"
MISSING = "__missing__"
GLOBAL = ("all", "all")


class MisraGries:
    """Mergeable frequent-items summary over (label, count) batches (vectorized batch merge)."""

    __slots__ = ("capacity", "counts", "total")

    def __init__(self, capacity: int) -> None:
        self.capacity = int(capacity)
        self.counts: dict[str, int] = {}
        self.total = 0

    def update(self, counts: Mapping[str, int]) -> None:
        merged = dict(self.counts)
        for label, c in counts.items():  # one step per DISTINCT label of a window
            merged[label] = merged.get(label, 0) + int(c)
            self.total += int(c)
        if len(merged) > self.capacity:
            labels = list(merged)
            values = np.fromiter(merged.values(), dtype=np.int64, count=len(labels))
            cut = np.partition(values, len(values) - self.capacity - 1)[-self.capacity - 1]
            values = values - cut
            keep = np.flatnonzero(values > 0)
            merged = {labels[i]: int(values[i]) for i in keep.tolist()}
        self.counts = merged

    def estimate(self, label: str) -> int:
        return self.counts.get(label, 0)


class CohortRegistry:
    """Admitted cohort values of one segment (see the module doc for the policy)."""

    __slots__ = ("max_cohorts", "admitted", "traffic", "min_share")

    def __init__(self, max_cohorts: int, min_share: float | None = None) -> None:
        self.max_cohorts = int(max_cohorts)
        self.admitted: dict[str, int] = {}
        self.traffic = MisraGries(10 * self.max_cohorts)
        self.min_share = 1.0 / (10 * self.max_cohorts) if min_share is None else min_share

    @property
    def full(self) -> bool:
        return len(self.admitted) >= self.max_cohorts

    def cohort_of(self, value: str) -> str:
        return value if value in self.admitted else OTHER

    def observe_window(self, counts: Mapping[str, int]) -> list[str]:
        """Feed one closed window's per-value counts; return the values admitted now."""
        counts = {k: v for k, v in counts.items() if k != OTHER and v > 0}
        self.traffic.update(counts)
        if self.full:
            return []
        floor = self.min_share * self.traffic.total
        candidates = [
            (-self.traffic.estimate(v), v) for v in counts
            if v not in self.admitted and self.traffic.estimate(v) >= max(floor, 1)
        ]
        candidates.sort()
        new: list[str] = []
        for _, value in candidates[: self.max_cohorts - len(self.admitted)]:
            self.admitted[value] = len(self.admitted)
            new.append(value)
        return new

    def state(self) -> dict[str, Any]:
        return {"max_cohorts": self.max_cohorts, "admitted": list(self.admitted),
                "traffic": self.traffic.counts, "total": self.traffic.total,
                "min_share": self.min_share}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CohortRegistry:
        reg = cls(int(state["max_cohorts"]), float(state["min_share"]))
        reg.admitted = {v: i for i, v in enumerate(state["admitted"])}
        reg.traffic.counts = {str(k): int(v) for k, v in dict(state["traffic"]).items()}
        reg.traffic.total = int(state["total"])
        return reg


class Cohorts:
    """The registries of all segments of a monitor."""

    def __init__(self, segments: list[str], max_cohorts: int) -> None:
        self.segments = list(segments)
        self.max_cohorts = max_cohorts
        self.registries = {s: CohortRegistry(max_cohorts) for s in self.segments}

    def __getitem__(self, segment: str) -> CohortRegistry:
        return self.registries[segment]

    def live(self) -> dict[str, int]:
        """Own cohorts per segment (the ``driftline_cohorts`` gauge)."""
        return {s: len(r.admitted) for s, r in self.registries.items()}

    def state(self) -> dict[str, Any]:
        return {s: r.state() for s, r in self.registries.items()}

    def load(self, state: Mapping[str, Any]) -> None:
        for s, st in state.items():
            if s in self.registries:
                self.registries[s] = CohortRegistry.from_state(st)


class Admitted:
    """One segment's admitted values as a worker's aggregators see them: never ``full``."""

    __slots__ = ("admitted",)
    full = False

    def __init__(self, admitted: set[str]) -> None:
        self.admitted = admitted


class AdmittedView:
    """The cohorts admitted by the mergers of this process, for the aggregators of its source
    partitions (the merger may run in another worker; then the view is empty).

    An admitted value always gets its own profile in a window, however many other values the
    partition saw first; every other value is held up to the aggregator's local cap (the view
    is never ``full``: the merger decides). Refreshed at most once a second.

    >>> reg = Cohorts(["region"], 2)
    >>> _ = reg["region"].observe_window({"eu": 9, "us": 1})
    >>> view = AdmittedView(lambda: [reg])
    >>> sorted(view["region"].admitted), view["region"].full
    (['eu', 'us'], False)
    """

    def __init__(self, mergers: Callable[[], Iterable[Cohorts]], max_cohorts: int = 50,
                 every: float = 1.0) -> None:
        self.mergers = mergers
        self.max_cohorts = max_cohorts
        self.every = every
        self._at = -math.inf
        self._view: dict[str, Admitted] = {}

    def __getitem__(self, segment: str) -> Admitted:
        now = time.monotonic()
        if now - self._at >= self.every:
            view: dict[str, set[str]] = {}
            for cohorts in self.mergers():
                for seg, reg in cohorts.registries.items():
                    view.setdefault(seg, set()).update(reg.admitted)
            self._view = {seg: Admitted(vals) for seg, vals in view.items()}
            self._at = now
        return self._view.get(segment) or Admitted(set())
