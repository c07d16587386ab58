"""Records as they come, without a broker: tombstones, keys, headers, event times out of range."""

from __future__ import annotations

import orjson

from driftline.stream.kafka.consumer import PartitionRecords
from driftline.stream.kafka.records import (
    RecordCounters,
    without_tombstones,
)

NOW = 1_800_000_000.0


def _records() -> PartitionRecords:
    values = [orjson.dumps({"ts": NOW - 10 + i, "x": float(i)}) for i in range(6)]
    values[2] = b""  # a tombstone, as BatchConsumer.getmany delivers it
    return PartitionRecords("t", 1, [10, 11, 12, 14, 15, 16], [0] * 6, values,
                            [b"a", None, b"a", b"b", None, b"c"], tombstones=[2],
                            with_headers=[0, 2, 5])


def test_tombstones_are_removed_and_the_rest_keeps_keys_headers_and_offsets() -> None:
    r = _records()
    usable = without_tombstones(r)
    assert usable.offsets == [10, 11, 14, 15, 16]
    assert usable.keys == [b"a", None, b"b", None, b"c"]
    assert usable.with_headers == [0, 4]
    assert usable.next_offset == r.next_offset == 17
    assert without_tombstones(usable) is usable


def test_coalesced_and_replayed_batches_keep_their_indices() -> None:
    a, b = _records(), _records()
    b.offsets = [o + 10 for o in b.offsets]
    a.extend(b)
    assert a.tombstones == [2, 8] and a.with_headers == [0, 2, 5, 6, 8, 11]
    tail = a.after(24)  # what a restored state does not cover yet
    assert tail.offsets == [24, 25, 26] and tail.tombstones == [] and tail.with_headers == [2]


def test_counters_per_topic() -> None:
    counters = RecordCounters()
    counters.add(_records())
    counters.skipped("t", 1)
    assert counters.for_topic("t") == {"tombstones": 1, "keyed": 4, "with_headers": 3,
                                       "skipped_offsets": 1}


def test_isolation_level_is_validated_with_the_field_and_the_choices() -> None:
    import pytest

    from driftline.stream.config.model import ConfigError, parse_config

    def cfg(**kafka: object) -> dict[str, object]:
        return {"monitor": "m", "source": {"kafka": {"topics": ["t"], **kafka}},
                "features": [{"name": "x", "type": "numeric"}]}

    parsed = parse_config(cfg())
    assert parsed.kafka.isolation_level == "read_committed"
    assert parse_config(cfg(isolation_level="read_uncommitted")
                        ).kafka.isolation_level == "read_uncommitted"
    with pytest.raises(ConfigError) as err:
        parse_config(cfg(isolation_level="serializable"))
    text = str(err.value)
    assert "source.kafka.isolation_level" in text and "read_committed" in text
