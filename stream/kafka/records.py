"""Kafka records as they come: tombstones, keys, headers, timestamps out of range, skipped offsets.

What the worker does with each (docs/kafka.md, "Records as they come"):

* a **tombstone** (null value, a delete marker of a compacted topic) is not an event: it is
  skipped, neither counted as an event nor dead-lettered, and counted in
  ``driftline_records_tombstone_total``;
* **keys** and **headers** are not part of the event (the value is): they are counted
  (``driftline_records_keyed_total``, ``driftline_records_with_headers_total``) and a
  dead-lettered record keeps its key;
* an **event time out of range** (before 1970, e.g. Kafka's "no timestamp" -1, or more than
  ``max_clock_skew`` ahead of the worker's clock) is dead-lettered with the reason
  ``event_time_out_of_range``: one producer with a wrong clock would otherwise move the
  watermark far ahead and make every real event late. Old but valid times are windowed, or
  counted late if their window has closed;
* **offsets without a record** (transaction markers, aborted transactions under
  ``read_committed``, offsets removed by compaction) are counted in
  ``driftline_offsets_skipped_total``.

>>> from stream.kafka.consumer import PartitionRecords
>>> r = PartitionRecords("t", 0, [4, 5, 6], [1, 2, 3], [b"{}", b"", b"{}"], [None, b"k", b"k"],
...                      tombstones=[1])
>>> usable = without_tombstones(r)
>>> usable.offsets, usable.keys, usable.next_offset
([4, 6], [None, b'k'], 7)
"""

from __future__ import annotations

import numpy as np

from stream.batchops import take
from stream.decode import DeadLetter, DecodedBatch
from stream.kafka.consumer import PartitionRecords

OUT_OF_RANGE = "event_time_out_of_range"


def without_tombstones(records: PartitionRecords) -> PartitionRecords:
    """The records without their tombstones (the same object when there are none)."""
    if not records.tombstones:
        return records
    drop = set(records.tombstones)
    keep = [i for i in range(len(records.offsets)) if i not in drop]
    keys = records.keys
    headers = set(records.with_headers)
    out = PartitionRecords(
        records.topic, records.partition, [records.offsets[i] for i in keep],
        [records.timestamps_ms[i] for i in keep], [records.values[i] for i in keep],
        [keys[i] for i in keep] if keys else [], [],
        [j for j, i in enumerate(keep) if i in headers],
    )
    return out


def screen_event_times(d: DecodedBatch, now: float, max_clock_skew: float) -> DecodedBatch:
    """Move rows whose event time is before 1970 or more than ``max_clock_skew`` seconds ahead
    of ``now`` to the dead letters (vectorized; the same batch when every time is in range)."""
    t = d.event_time
    if d.n == 0:
        return d
    bad = (t < 0.0) | (t > now + max_clock_skew)
    if not bad.any():
        return d
    out = take(d, np.flatnonzero(~bad))
    for j in np.flatnonzero(bad).tolist():
        when = float(t[j])
        detail = (f"event time {when:.3f} is before 1970" if when < 0 else
                  f"event time {when:.3f} is {when - now:.0f} s ahead of the clock "
                  f"(max_clock_skew {max_clock_skew:.0f} s)")
        out.dead_letters.append(DeadLetter(int(d.rows[j]), OUT_OF_RANGE, detail))
    return out


class RecordCounters:
    """Per-topic counts of tombstones, keyed records, records with headers and skipped offsets
    (process-local and monotonic, like the other worker counters)."""

    def __init__(self) -> None:
        self.tombstones: dict[str, int] = {}
        self.keyed: dict[str, int] = {}
        self.with_headers: dict[str, int] = {}
        self.skipped_offsets: dict[str, int] = {}

    @staticmethod
    def _add(counts: dict[str, int], topic: str, n: int) -> None:
        if n:
            counts[topic] = counts.get(topic, 0) + n

    def add(self, records: PartitionRecords) -> None:
        t = records.topic
        self._add(self.tombstones, t, len(records.tombstones))
        if records.keys:
            self._add(self.keyed, t, len(records.keys) - records.keys.count(None))
        self._add(self.with_headers, t, len(records.with_headers))

    def skipped(self, topic: str, n: int) -> None:
        self._add(self.skipped_offsets, topic, n)

    def for_topic(self, topic: str) -> dict[str, int]:
        return {"tombstones": self.tombstones.get(topic, 0), "keyed": self.keyed.get(topic, 0),
                "with_headers": self.with_headers.get(topic, 0),
                "skipped_offsets": self.skipped_offsets.get(topic, 0)}

    def topics(self) -> set[str]:
        return (set(self.tombstones) | set(self.keyed) | set(self.with_headers)
                | set(self.skipped_offsets))
