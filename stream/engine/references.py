"""Trailing and seasonal references: closed-window profiles kept per tier x cohort.

:class:`ReferenceHistory` keeps, per tier, the cohort profiles of the tier's last closed windows
(the merged profiles the merger already built: nothing is read again) for as long as a
reference needs them: ``(gap + windows) * size`` for the trailing reference, ``period`` for the
seasonal one, and drops older ones. For the window starting at ``start``:

* trailing = the merge of the cohort's profiles of the windows starting in
  ``[start - (gap + windows) * size, start - gap * size)``, used once at least ``min_windows``
  of them hold the cohort;
* seasonal = the cohort's profile of the window starting at ``start - period``.

Memory: one emitted profile per feature x cohort x kept window (~3.2 KB serialized for a
numeric feature at k = 200, docs/engine.md), e.g. 12 trailing 5m windows of 14 cohorts x 25
features: 4,200 profiles, ~13 MB. ``state()``/``load()`` put the kept profiles into the
merger's snapshot, so a restart keeps them.

>>> from driftline.sketches.schema import NumericSpec, ProfileSchema
>>> from driftline.sketches.profile import CohortProfile
>>> schema = ProfileSchema((NumericSpec("x"),))
>>> h = ReferenceHistory(schema, {"1m": ReferenceSpec(size=60.0, trailing=2)})
>>> for start in (0.0, 60.0):
...     p = CohortProfile(schema); p.events = 10
...     h.record("1m", start, {("all", "all"): p})
>>> {k: v.events for k, v in h.lookup("1m", 120.0)["trailing"].items()}
{('all', 'all'): 20}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from driftline.sketches.profile import CohortProfile
from driftline.sketches.schema import ProfileSchema
from driftline.stream.config.references import (
    SEASONAL,
    TRAILING,
    seasonal_tiers,
    trailing_windows,
)
from driftline.stream.engine.partial import CohortKey

Profiles = dict[CohortKey, CohortProfile]


@dataclass(frozen=True, slots=True)
class ReferenceSpec:
    """What one tier keeps: ``trailing`` windows (0: none) after ``gap``; ``period`` (0: no
    seasonal reference)."""

    size: float
    trailing: int = 0
    gap: int = 0
    min_windows: int = 0
    period: float = 0.0

    @property
    def horizon(self) -> float:
        """How far back (seconds before a window's start) profiles are needed."""
        return max((self.gap + self.trailing) * self.size, self.period)


def reference_specs(config: Any) -> dict[str, ReferenceSpec]:
    """Per tier label, what the config's ``references`` need (tiers needing nothing left out)."""
    refs = config.references
    sizes = [float(config.windows.size), *map(float, config.windows.rollups)]
    seasonal = seasonal_tiers(refs.seasonal, sizes) if refs.seasonal is not None else []
    out: dict[str, ReferenceSpec] = {}
    for label, size in zip(config.windows.tiers, sizes, strict=True):
        n = gap = need = 0
        if refs.trailing is not None:
            n = trailing_windows(refs.trailing, size)
            gap = refs.trailing.gap if n else 0
            need = min(refs.trailing.min_windows or n, n)
        period = float(refs.seasonal.period) if size in seasonal else 0.0
        if n or period:
            out[label] = ReferenceSpec(size, n, gap, need, period)
    return out


class ReferenceHistory:
    """Closed-window profiles per tier for the trailing and seasonal references."""

    def __init__(self, schema: ProfileSchema, specs: Mapping[str, ReferenceSpec]) -> None:
        self.schema = schema
        self.specs = dict(specs)
        self.windows: dict[str, dict[float, Profiles]] = {t: {} for t in self.specs}

    def lookup(self, tier: str, start: float) -> dict[str, Profiles]:
        """``{"trailing": {cohort: profile}, "seasonal": {...}}`` for the window at ``start``
        (a reference without history for a cohort leaves the cohort out)."""
        spec = self.specs.get(tier)
        if spec is None:
            return {}
        kept = self.windows[tier]
        out: dict[str, Profiles] = {}
        if spec.trailing:
            lo = start - (spec.gap + spec.trailing) * spec.size
            hi = start - spec.gap * spec.size
            parts: dict[CohortKey, list[CohortProfile]] = {}
            for s in sorted(kept):
                if lo <= s < hi:
                    for key, prof in kept[s].items():
                        parts.setdefault(key, []).append(prof)
            merged: Profiles = {}
            for key, profs in parts.items():
                if len(profs) >= spec.min_windows:
                    acc = CohortProfile(self.schema)
                    for p in profs:
                        acc.merge(p)
                    merged[key] = acc
            out[TRAILING] = merged
        if spec.period:
            out[SEASONAL] = dict(kept.get(start - spec.period, {}))
        return out

    def record(self, tier: str, start: float, profiles: Profiles) -> None:
        """Keep a closed window's profiles; forget what no later window will need."""
        spec = self.specs.get(tier)
        if spec is None:
            return
        kept = self.windows[tier]
        kept[start] = dict(profiles)
        oldest = start + spec.size - spec.horizon
        for s in [s for s in kept if s < oldest]:
            del kept[s]

    # -- state ------------------------------------------------------------------------------
    def state(self, blobs: list[bytes]) -> list[list[Any]]:
        """``[tier, start, segment, cohort, blob index]`` rows; the profiles go to ``blobs``."""
        rows: list[list[Any]] = []
        for tier, kept in self.windows.items():
            for start in sorted(kept):
                for key, prof in kept[start].items():
                    rows.append([tier, start, key[0], key[1], len(blobs)])
                    blobs.append(prof.to_bytes(include_schema=False))
        return rows

    def load(self, rows: list[list[Any]], blobs: list[bytes]) -> None:
        self.windows = {t: {} for t in self.specs}
        for tier, start, segment, cohort, i in rows:
            if tier in self.windows and math.isfinite(start):
                prof = CohortProfile.from_bytes(blobs[i], self.schema)
                self.windows[tier].setdefault(float(start), {})[(segment, cohort)] = prof
