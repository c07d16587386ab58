"""Cohorts: which segment values get their own profile, with a hard cap per segment.

Every event belongs to the global cohort ``("all", "all")`` and, for each segment field (e.g.
``region``), to the cohort of its value — if that value was *admitted* — else to ``__other__``.
A missing segment value is the value ``__missing__``.

Admission policy (deterministic, bounded memory):

* At most ``max_cohorts`` values per segment hold a cohort at a time.
* Admission needs sustained traffic: when a window closes, a value not yet admitted competes
  only if it has at least ``min_events`` events in that window AND at least ``min_share`` of
  the segment's events of that window (all of them: ``__other__`` and ``__missing__``
  included; default share ``1 / (10 * max_cohorts)``). The biggest win the free slots (ties by
  label). A burst of unique values (IDs, adversarial cardinality: n=1 each) never qualifies,
  however many there are.
* Cohorts age out: an admitted value with no events in ``expire_after`` consecutive closed
  windows of its segment gives its slot back (windows without any traffic do not count, so a
  quiet night keeps the cohorts). Until then it keeps its cohort, so dashboards and alert keys
  stay stable.
* Decisions are made where the windows of all partitions are merged, from merged counts, so
  the cohorts do not depend on how the stream is partitioned. Counting stays exact either
  way: a value without a cohort counts in ``all`` and in ``__other__``.

>>> reg = CohortRegistry(max_cohorts=2, min_events=10)
>>> reg.observe_window({"eu": 50, "us": 30, "ap": 20})
['eu', 'us']
>>> reg.cohort_of("eu"), reg.cohort_of("ap"), reg.full
('eu', '__other__', True)
>>> reg.observe_window({"id-1": 1, "id-2": 1, "__other__": 90_000})  # a burst: no slot
[]
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from driftline.stream.config.model import DriftlineConfig

OTHER = "__other__"
MISSING = "__missing__"
GLOBAL = ("all", "all")


class CohortRegistry:
    """Admitted cohort values of one segment (see the module doc for the policy)."""

    __slots__ = ("max_cohorts", "admitted", "min_share", "min_events", "expire_after",
                 "windows", "active")

    def __init__(self, max_cohorts: int, min_share: float | None = None, *,
                 min_events: int = 20, expire_after: int = 12) -> None:
        self.max_cohorts = int(max_cohorts)
        self.admitted: dict[str, int] = {}
        self.min_share = 1.0 / (10 * self.max_cohorts) if min_share is None else min_share
        self.min_events = int(min_events)
        self.expire_after = int(expire_after)
        self.windows = 0  # closed windows observed
        self.active: dict[str, int] = {}  # admitted value -> the last window it had events

    @property
    def full(self) -> bool:
        return len(self.admitted) >= self.max_cohorts

    def cohort_of(self, value: str) -> str:
        return value if value in self.admitted else OTHER

    def observe_window(self, counts: Mapping[str, int]) -> list[str]:
        """Feed one closed window's per-value event counts (``__other__`` included: it counts
        in the total); return the values admitted now. Expired cohorts are retired first."""
        self.windows += 1
        total = sum(int(c) for c in counts.values())
        for value, c in counts.items():
            if value in self.admitted and c > 0:
                self.active[value] = self.windows
        expired = [v for v in self.admitted
                   if self.windows - self.active.get(v, self.windows) >= self.expire_after]
        if expired:
            keep = [v for v in self.admitted if v not in set(expired)]
            self.admitted = {v: i for i, v in enumerate(keep)}
            for v in expired:
                self.active.pop(v, None)
        if self.full:
            return []
        floor = max(self.min_events, self.min_share * total)
        candidates = sorted((-int(c), v) for v, c in counts.items()
                            if v != OTHER and v not in self.admitted and c >= floor)
        new: list[str] = []
        for _, value in candidates[: self.max_cohorts - len(self.admitted)]:
            self.admitted[value] = len(self.admitted)
            self.active[value] = self.windows
            new.append(value)
        return new

    def state(self) -> dict[str, Any]:
        return {"max_cohorts": self.max_cohorts, "admitted": list(self.admitted),
                "min_share": self.min_share, "min_events": self.min_events,
                "expire_after": self.expire_after, "windows": self.windows,
                "active": self.active}

    @classmethod
    def from_state(cls, state: Mapping[str, Any], **policy: Any) -> CohortRegistry:
        """A registry from :meth:`state` (also of older versions, which kept a frequency
        summary instead of ``active``); ``policy`` (the configured ``min_events``...) wins
        over the stored one."""
        kw = {k: state[k] for k in ("min_events", "expire_after") if k in state}
        kw.update({k: v for k, v in policy.items() if k != "min_share"})
        share = policy.get("min_share", state.get("min_share"))
        reg = cls(int(state["max_cohorts"]), None if share is None else float(share), **kw)
        reg.admitted = {str(v): i for i, v in enumerate(state["admitted"])}
        reg.windows = int(state.get("windows", 0))
        active = dict(state.get("active") or {})
        reg.active = {v: int(active.get(v, reg.windows)) for v in reg.admitted}
        return reg


class Cohorts:
    """The registries of all segments of a monitor."""

    def __init__(self, segments: list[str], max_cohorts: int, *, min_events: int = 20,
                 min_share: float | None = None, expire_after: int = 12) -> None:
        self.segments = list(segments)
        self.max_cohorts = max_cohorts
        self.policy: dict[str, Any] = {"min_events": min_events, "expire_after": expire_after}
        if min_share is not None:
            self.policy["min_share"] = min_share
        self.registries = {s: CohortRegistry(max_cohorts, min_share, min_events=min_events,
                                             expire_after=expire_after)
                           for s in self.segments}

    @classmethod
    def from_config(cls, config: DriftlineConfig) -> Cohorts:
        """The registries of a ``DriftlineConfig`` (its ``cohorts`` admission policy)."""
        c = config.cohorts
        return cls(list(config.segments), config.max_cohorts_per_segment,
                   min_events=c.min_events, min_share=c.min_share,
                   expire_after=c.expire_after)

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
                self.registries[s] = CohortRegistry.from_state(st, **self.policy)


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
    >>> _ = reg["region"].observe_window({"eu": 90, "us": 30})
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
