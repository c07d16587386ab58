"""The ``cohorts`` section of driftline.yaml: which segment values get a cohort of their own.

The policy itself is :mod:`stream.engine.cohorts`; ``max_cohorts_per_segment`` (top level) caps it.

>>> CohortsConfig().min_events, CohortsConfig(min_share=0.01).min_share
(20, 0.01)
"""

from __future__ import annotations

from pydantic import Field

from driftline.stream.config.types import StrictModel


class CohortsConfig(StrictModel):
    """Cohort admission: sustained traffic in, idle cohorts out."""

    min_events: int = Field(default=20, ge=1)
    """A segment value gets its own cohort only with at least this many events in one closed
    window (so a burst of unique values, n=1 each, never takes a slot).
    """
    min_share: float | None = Field(default=None, gt=0, le=1)
    """...and at least this share of its segment's events in that window; default
    1 / (10 x max_cohorts_per_segment).
    """
    expire_after: int = Field(default=12, ge=1)
    """An own cohort with no events in this many consecutive closed windows (of windows with
    traffic) gives its slot back to other values.
    """
