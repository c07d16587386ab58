"""Records as they come, without a broker: tombstones, keys, headers, event times out of range."""

from __future__ import annotations

import orjson

from stream.decode import Decoder, FieldSpec
from stream.kafka.consumer import PartitionRecords
from stream.kafka.records import (
    OUT_OF_RANGE,
    RecordCounters,
    screen_event_times,
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


def test_event_times_before_1970_or_ahead_of_the_clock_are_dead_letters() -> None:
    times = [NOW - 86400 * 365 * 20, -1.0, NOW + 7200, NOW + 60, NOW]
    values = [orjson.dumps({"ts": t, "x": 1.0}) for t in times] + [b"{bad"]
    d = Decoder([FieldSpec("x", "numeric")], [], "ts", "s").decode(values)
    out = screen_event_times(d, NOW, 3600.0)
    assert out.rows.tolist() == [0, 3, 4]  # old but valid, 60 s ahead, now
    assert out.numeric["x"].values.tolist() == [1.0, 1.0, 1.0]
    reasons = {dl.index: dl.reason for dl in out.dead_letters}
    assert reasons == {5: "invalid_json", 1: OUT_OF_RANGE, 2: OUT_OF_RANGE}
    assert screen_event_times(out, NOW, 3600.0) is out


def test_isolation_level_and_clock_skew_are_validated_with_the_field_and_the_choices() -> None:
    import pytest

    from stream.config import ConfigError, parse_config

    def cfg(**kafka: object) -> dict[str, object]:
        return {"monitor": "m", "source": {"kafka": {"topics": ["t"], **kafka}},
                "features": [{"name": "x", "type": "numeric"}]}

    parsed = parse_config(cfg())
    assert parsed.kafka.isolation_level == "read_committed"
    assert parsed.kafka.max_clock_skew == 3600.0
    assert parse_config(cfg(isolation_level="read_uncommitted", max_clock_skew="5m")
                        ).kafka.max_clock_skew == 300.0
    with pytest.raises(ConfigError) as err:
        parse_config(cfg(isolation_level="serializable"))
    text = str(err.value)
    assert "source.kafka.isolation_level" in text and "read_committed" in text
