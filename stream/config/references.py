"""References besides the training baseline: the ``references:`` and ``compare:`` blocks.

* ``references.trailing``: the merged profile of the last ``windows`` closed windows (or
  ``duration``) of the same tier and cohort, ``gap`` windows before the current one left out.
* ``references.seasonal``: the same tier's window one ``period`` ago (e.g. ``1d``, ``1w``).
* ``compare: {segment, reference}``: every other cohort of ``segment`` against the cohort
  ``reference`` in the same window (a canary or shadow model against the current one).

Each block takes any field of a ``drift.overrides`` entry (metric(s), warning, critical,
clear, thresholds, min_samples, for_windows, clear_windows): the reference's own rules, applied
on top of ``drift`` and the feature's override. The evaluation and alert of each carries
``reference``: ``training``, ``trailing``, ``seasonal`` or ``cohort:<value>``.

>>> from driftline.stream.config.alerts import DriftConfig
>>> t = TrailingReference(windows=12, gap=1, warning=0.2)
>>> reference_drift(DriftConfig(), t, "x").tiers("psi")
Tiers(warning=0.2, critical=0.2, clear=0.1)
>>> trailing_windows(t, 300.0), seasonal_tiers(SeasonalReference(period="1d"), [300.0, 3600.0])
(12, [300.0, 3600.0])
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from driftline.stream.config.alerts import DriftConfig, DriftOverride
from driftline.stream.config.types import Duration, StrictModel, did_you_mean, format_duration

TRAINING = "training"
TRAILING = "trailing"
SEASONAL = "seasonal"
COHORT_PREFIX = "cohort:"
MAX_SEASONAL_WINDOWS = 288
"""A tier keeps at most this many closed windows for the seasonal reference unless the tier is
listed in ``seasonal.tiers`` explicitly (1d of 5m windows, 1w of 1h windows: 168)."""
MAX_TRAILING_WINDOWS = 1000


class TrailingReference(DriftOverride):
    """The last ``windows`` closed windows of the same tier and cohort, merged."""

    windows: int | None = Field(default=None, ge=1, le=MAX_TRAILING_WINDOWS)
    """Closed windows merged into the reference (default 12 when `duration` is unset)."""
    duration: Duration | None = None
    """Instead of `windows`: the span merged, e.g. 1h (windows = duration / tier size)."""
    gap: int = Field(default=0, ge=0, le=MAX_TRAILING_WINDOWS)
    """Windows right before the current one left out of the reference (a change is then
    compared with the history before it for this many more windows)."""
    min_windows: int | None = Field(default=None, ge=1)
    """Closed windows the reference needs before it is used; default all of them."""

    @model_validator(mode="after")
    def _check(self) -> TrailingReference:
        if self.windows is not None and self.duration is not None:
            raise ValueError("set one of windows or duration, not both")
        return self


class SeasonalReference(DriftOverride):
    """The same tier's window one ``period`` ago."""

    period: Duration
    """The cycle, e.g. 1d or 1w; a multiple of every tier it applies to."""
    tiers: list[Duration] | None = None
    """Tiers compared with one period ago; default every tier that needs at most 288 windows
    of history for it (1d: 5m and longer; 1w: 1h and longer)."""


class CompareConfig(DriftOverride):
    """Live reference cohort: every other cohort of ``segment`` against ``reference``."""

    segment: str
    """The segment whose cohorts are compared, e.g. model_version."""
    reference: str
    """The segment value every other cohort is compared with, e.g. stable."""


class ReferencesConfig(StrictModel):
    """Trailing and seasonal references (the training baseline is always one)."""

    trailing: TrailingReference | None = None
    """The merged last N closed windows (or a duration) of the same cohort, excluding a gap."""
    seasonal: SeasonalReference | None = None
    """The same window one period ago (daily or weekly cycles)."""


def other_references(references: ReferencesConfig, compare: CompareConfig | None
                     ) -> dict[str, DriftOverride]:
    """The rules of every configured reference besides training, by the name results and
    alerts give it: ``trailing``, ``seasonal``, ``cohort:<compare.reference>``."""
    out: dict[str, DriftOverride] = {}
    if references.trailing is not None:
        out[TRAILING] = references.trailing
    if references.seasonal is not None:
        out[SEASONAL] = references.seasonal
    if compare is not None:
        out[COHORT_PREFIX + compare.reference] = compare
    return out


def reference_drift(drift: DriftConfig, ref: DriftOverride | None, feature: str | None = None
                    ) -> DriftConfig:
    """``drift`` (with ``feature``'s override) and then the reference's own fields."""
    return (drift.for_feature(feature) if feature is not None else drift).with_override(ref)


def trailing_windows(ref: TrailingReference, size: float) -> int:
    """Windows merged at a tier of ``size`` seconds (0: the duration is shorter than a window)."""
    if ref.duration is not None:
        return int(ref.duration // size)
    return ref.windows or 12


def seasonal_tiers(ref: SeasonalReference, sizes: list[float]) -> list[float]:
    """The tier sizes the seasonal reference applies to."""
    if ref.tiers is not None:
        return [s for s in sizes if s in ref.tiers]
    return [s for s in sizes if ref.period % s == 0 and ref.period / s <= MAX_SEASONAL_WINDOWS]


def reference_problems(cfg: Any) -> list[tuple[str, str]]:
    """(field, message) of the ``references``/``compare`` blocks against the rest of the file."""
    out: list[tuple[str, str]] = []
    sizes = [cfg.windows.size, *cfg.windows.rollups]
    refs = cfg.references
    trailing = refs.trailing
    if trailing is not None and not any(trailing_windows(trailing, s) for s in sizes):
        out.append(("references.trailing.duration", "shorter than every window tier "
                    f"({format_duration(sizes[0])}): merge at least one window"))
    if refs.seasonal is not None:
        s = refs.seasonal
        for t in s.tiers or ():
            if t not in sizes:
                out.append(("references.seasonal.tiers", f"{format_duration(t)} is not a window "
                            f"tier {cfg.windows.tiers}; use one of them"))
            elif s.period % t:
                out.append(("references.seasonal.period", f"{format_duration(s.period)} is not "
                            f"a multiple of the tier {format_duration(t)}"))
        if s.tiers is None and not seasonal_tiers(s, sizes):
            out.append(("references.seasonal.period", f"{format_duration(s.period)} needs more "
                        f"than {MAX_SEASONAL_WINDOWS} windows of history at every tier "
                        f"{cfg.windows.tiers} (or is not a multiple of them): add a rollup "
                        "(e.g. windows.rollups: [1h]) or list the tiers in seasonal.tiers"))
    cmp = cfg.compare
    if cmp is not None and cmp.segment not in cfg.segments:
        out.append(("compare.segment", f"{cmp.segment!r} is not one of the segments "
                    f"{list(cfg.segments)}{did_you_mean(cmp.segment, list(cfg.segments))}; "
                    "add it to segments"))
    return out
