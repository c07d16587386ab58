"""A worker's merger side takes the partials its own source side sent without decoding them
again; anything else (another worker's partials, re-reads, forgotten ones) is decoded."""

from __future__ import annotations

import numpy as np

from driftline.sketches.profile import CohortProfile
from driftline.sketches.schema import NumericSpec, ProfileSchema
from driftline.stream.engine.partial import PartialWindow
from driftline.stream.kafka.partials import SentPartials

SCHEMA = ProfileSchema((NumericSpec("x"),))


def _partial(start: float, values: np.ndarray) -> PartialWindow:
    profile = CohortProfile(SCHEMA)
    profile.features["x"].update(values)
    return PartialWindow("events", 0, start, start + 60.0, {("all", "all"): profile},
                         start + 60.0)


def test_a_partial_read_back_is_the_one_sent_and_equals_its_decoding() -> None:
    sent = SentPartials()
    p = _partial(0.0, np.arange(1000.0))
    value = p.to_bytes()
    sent.keep(value, p)
    received = bytes(bytearray(value))  # the consumer's copy of the record
    taken = sent.take(received)
    assert taken is p
    decoded = PartialWindow.from_bytes(received, SCHEMA)
    assert taken.to_bytes() == decoded.to_bytes() == value
    assert sent.take(received) is None  # read twice (a re-read after a restart): decoded
    assert len(sent) == 0


def test_partials_nobody_reads_back_are_forgotten_by_age_and_by_size() -> None:
    now = [0.0]
    sent = SentPartials(max_age=30.0, clock=lambda: now[0])
    first, second = _partial(0.0, np.ones(10)), _partial(60.0, np.ones(10))
    sent.keep(first.to_bytes(), first)
    now[0] = 31.0
    sent.keep(second.to_bytes(), second)  # the first one is 31 s old: forgotten
    assert len(sent) == 1
    assert sent.take(first.to_bytes()) is None
    assert sent.take(second.to_bytes()) is second

    small = SentPartials(max_bytes=len(first.to_bytes()) + len(second.to_bytes()) - 1)
    small.keep(first.to_bytes(), first)
    small.keep(second.to_bytes(), second)
    assert len(small) == 1 and small.take(second.to_bytes()) is second
