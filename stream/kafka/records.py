"""Kafka records as they come: tombstones, keys, headers, skipped offsets.

What the worker does with each (docs/kafka.md, "Records as they come"):

* a **tombstone** (null value, a delete marker of a compacted topic) is not an event: it is
  skipped, neither counted as an event nor dead-lettered, and counted in
  ``driftline_records_tombstone_total``;
* **keys** and **headers** are not part of the event (the value is): they are counted
  (``driftline_records_keyed_total``, ``driftline_records_with_headers_total``) and a
  dead-lettered record keeps its key;
* an **implausible event time** (a producer with a wrong clock, Kafka's "no timestamp" -1 after
  real events) is the engine's business, as for any source: a dead letter
  ``implausible_event_time`` that never moves the watermark (``source.event_time.max_future_skew``
  and ``max_past_age``, :mod:`stream.engine.plausible`);
* **offsets without a record** (transaction markers, aborted transactions under
  ``read_committed``, offsets removed by compaction) are counted in
  ``driftline_offsets_skipped_total``.

>>> from driftline.stream.kafka.consumer import PartitionRecords
>>> r = PartitionRecords("t", 0, [4, 5, 6], [1, 2, 3], [b"{}", b"", b"{}"], [None, b"k", b"k"],
...                      tombstones=[1])
>>> usable = without_tombstones(r)
>>> usable.offsets, usable.keys, usable.next_offset
([4, 6], [None, b'k'], 7)
"""

from __future__ import annotations

from driftline.stream.kafka.consumer import PartitionRecords


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
