"""The join of delayed labels with the predictions they belong to, keyed by the prediction id.

A stream-table join in Kafka Streams' vocabulary: predictions wait in a table keyed by id
until their label arrives or ``max_delay`` passes (then they are "never labelled"); labels look
their prediction up. Time is event time, one clock per stream: a pending prediction
(and the memory of a labelled id) expires when the *labels* have passed its time plus
``max_delay`` (``clock``), a held label when the *predictions* have passed its time plus
``max_delay`` (``pred_clock``). So reading one topic ahead of the other (a backlog after a
restart) never expires a prediction whose label is still to be read: a replay and the live
stream give the same answers. A replay, which has read every label up to its "now", moves
``clock`` to that time with :meth:`LabelJoin.advance`. Every input
has exactly one outcome (a label held for its prediction has none until it is resolved;
``held_labels`` counts them):

=========================  ===========================================================
outcome                    when
=========================  ===========================================================
``joined``                 a label found its pending prediction
``joined_early``           a label that came before its prediction (held until max_delay)
                           met it when it arrived
``duplicate``              a second label for an id already labelled (first label wins)
                           or already held
``unknown_id``             a held label whose prediction never came within max_delay (an
                           unknown id, or one whose prediction expired before the label)
``malformed``              a label without an id, time, or a valid label value
``never_labeled``          a prediction still unlabelled max_delay after its time
``duplicate_prediction``   a second prediction with an id already pending (ignored)
``unsampled``              a prediction (or its label) outside the join sample
=========================  ===========================================================

The join sample keeps a prediction when a hash of its id falls under ``sample_rate`` (so the
label side makes the same decision without the prediction) or its score is at least
``keep_above``; kept-above ones weigh 1 (always kept), the others ``1 / sample_rate`` (their
inclusion probability's inverse, Horvitz-Thompson), so weighted sums stay unbiased. A label
that comes before a kept-above prediction whose id hash is outside the sample is counted
``unsampled``.

>>> j = LabelJoin(max_delay=100.0)
>>> j.add_prediction("a", Pending(time=0.0, window=0.0, score=0.9, predicted=True, weight=1.0,
...                               keys=()))
[]
>>> [(p.score, y) for p, y in j.add_label("a", 5.0, 1.0)], j.add_label("a", 6.0, 0.0)
([(0.9, 1.0)], [])
>>> dict(j.counts)
{'joined': 1, 'duplicate': 1}
"""

from __future__ import annotations

import bisect
import heapq
import zlib
from collections import Counter
from dataclasses import dataclass

# label lag (label time - prediction time) histogram buckets, seconds (le)
LAG_BUCKETS = (1.0, 60.0, 600.0, 3600.0, 21600.0, 86400.0, 604800.0, 2592000.0)
OUTCOMES = ("joined", "joined_early", "duplicate", "unknown_id", "malformed",
            "never_labeled", "duplicate_prediction", "unsampled")


@dataclass(slots=True, kw_only=True)
class Pending:
    """A prediction waiting for its label: event time, its window's start, score, predicted
    class, weight (1 / sample rate) and its raw segment values (in the config's order)."""

    time: float
    window: float
    score: float
    predicted: bool
    weight: float
    keys: tuple[str, ...]


Joined = tuple[Pending, float]


def in_sample(key: str, rate: float) -> bool:
    """Deterministic sample membership of an id (CRC-32 of its UTF-8 bytes)."""
    return rate >= 1.0 or zlib.crc32(key.encode()) < rate * 4294967296.0


class LabelJoin:
    """Pending predictions and held labels keyed by id; see the module doc."""

    def __init__(self, *, max_delay: float, sample_rate: float = 1.0,
                 keep_above: float | None = None) -> None:
        self.max_delay = float(max_delay)
        self.sample_rate = float(sample_rate)
        self.keep_above = keep_above
        self.pending: dict[str, Pending] = {}
        self.early: dict[str, tuple[float, float]] = {}  # id -> (label time, label)
        self.done: dict[str, float] = {}  # labelled id -> when to forget it
        self._expiry: list[tuple[float, int, str, str]] = []  # (deadline, seq, kind, id)
        self._early_expiry: list[tuple[float, int, str, str]] = []  # the held labels'
        self._seq = 0
        self.counts: Counter[str] = Counter()
        self.clock = float("-inf")  # the labels' event time (or later, see the module doc)
        self.pred_clock = float("-inf")  # the predictions' event time
        # label lag of joined pairs: counts per LAG_BUCKETS bucket (last = +Inf) and their sum
        self.lag_counts = [0] * (len(LAG_BUCKETS) + 1)
        self.lag_sum = 0.0

    def _schedule(self, deadline: float, kind: str, key: str) -> None:
        self._seq += 1
        heap = self._early_expiry if kind == "early" else self._expiry
        heapq.heappush(heap, (deadline, self._seq, kind, key))

    def _lag(self, lag: float) -> None:
        self.lag_counts[bisect.bisect_left(LAG_BUCKETS, lag)] += 1
        self.lag_sum += lag

    def weight_for(self, key: str, score: float) -> float | None:
        """The join weight of a prediction (1 / its inclusion probability: 1 when its score is
        at least ``keep_above``, else ``1 / sample_rate``), or None when the sample leaves it
        out."""
        if self.keep_above is not None and score >= self.keep_above:
            return 1.0
        if in_sample(key, self.sample_rate):
            return 1.0 / self.sample_rate
        return None

    def add_prediction(self, key: str, p: Pending) -> list[Joined]:
        """Add a prediction; returns the pair when its label was already held."""
        if key in self.pending or key in self.done:
            self.counts["duplicate_prediction"] += 1
            return []
        held = self.early.pop(key, None)
        if held is not None:
            self.counts["joined_early"] += 1
            self._lag(held[0] - p.time)
            self.done[key] = p.time + self.max_delay
            self._schedule(p.time + self.max_delay, "done", key)
            return [(p, held[1])]
        self.pending[key] = p
        self._schedule(p.time + self.max_delay, "pending", key)
        return []

    def add_label(self, key: str, time: float, label: float) -> list[Joined]:
        """Add a valid label; returns the joined pair when its prediction is pending."""
        p = self.pending.pop(key, None)
        if p is not None:
            self.counts["joined"] += 1
            self._lag(time - p.time)
            self.done[key] = p.time + self.max_delay
            self._schedule(p.time + self.max_delay, "done", key)
            return [(p, label)]
        if key in self.done or key in self.early:
            self.counts["duplicate"] += 1
        elif not in_sample(key, self.sample_rate):
            self.counts["unsampled"] += 1
        else:
            self.early[key] = (time, label)
            self._schedule(time + self.max_delay, "early", key)
        return []

    def advance(self, now: float) -> list[Pending]:
        """Move the labels' clock; returns the predictions that just became never labelled
        (and forgets labelled ids past their ``max_delay``)."""
        if now > self.clock:
            self.clock = now
        expired: list[Pending] = []
        q = self._expiry
        while q and q[0][0] < self.clock:
            _, _, kind, key = heapq.heappop(q)
            if kind == "pending":
                p = self.pending.pop(key, None)
                if p is not None:
                    self.counts["never_labeled"] += 1
                    expired.append(p)
            else:
                self.done.pop(key, None)
        return expired

    def advance_predictions(self, now: float) -> None:
        """Move the predictions' clock: held labels past ``max_delay`` become ``unknown_id``."""
        if now > self.pred_clock:
            self.pred_clock = now
        q = self._early_expiry
        while q and q[0][0] < self.pred_clock:
            _, _, _, key = heapq.heappop(q)
            if self.early.pop(key, None) is not None:
                self.counts["unknown_id"] += 1

    def finish(self) -> None:
        """End of a replay: held labels whose prediction never came are unknown ids."""
        self.counts["unknown_id"] += len(self.early)
        self.early.clear()
