"""Decoding record batches: every poison kind is a dead letter with its reason, schema
violations are counted per feature, valid events are counted exactly."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from driftline.stream.decode.decoder import Decoder, FieldSpec
from driftline.stream.engine.core import Engine, RecordBatch
from tests.test_engine_support import T0, columns, small_config, to_records


def _decoder() -> Decoder:
    return Decoder.from_config(small_config())


def _good(i: int, **extra: object) -> bytes:
    rec = {"ts": T0 + i, "amount": 10.0 + i, "x": 0.5, "model": {"score": 0.25},
           "merchant": "m1", "channel": "app", "region": "eu", "device": "ios"}
    rec.update(extra)
    return orjson.dumps(rec)


POISON: list[tuple[bytes, str]] = [
    (b'{"ts": 1700000000, "amount": 3', "invalid_json"),
    (b"\xff\xfe\x00garbage", "not_utf8"),
    (b'{"ts": 1700000000, "merchant": "caf\xe9"}', "not_utf8"),
    (b"[1, 2, 3]", "not_object"),
    (b'"just a string"', "not_object"),
    (b"42", "not_object"),
    (b"null", "not_object"),
    (b'{"amount": 3.0}', "missing_event_time"),
    (b'{"ts": null, "amount": 3.0}', "missing_event_time"),
    (b'{"ts": "yesterday", "amount": 3.0}', "invalid_event_time"),
    (b'{"ts": true, "amount": 3.0}', "invalid_event_time"),
    (b'{"ts": {"s": 1}, "amount": 3.0}', "invalid_event_time"),
    (b'{"ts": 1700000000, "pad": "' + b"x" * 5_000_000 + b'"}', "too_large"),
]


def test_every_poison_kind_is_a_dead_letter_with_its_reason_and_valid_events_are_exact() -> None:
    values: list[bytes] = []
    expected: dict[int, str] = {}
    for i, (raw, reason) in enumerate(POISON):
        values.append(_good(2 * i))
        expected[len(values)] = reason
        values.append(raw)
    values.append(_good(999))
    d = _decoder().decode(values)
    assert {dl.index: dl.reason for dl in d.dead_letters} == expected
    assert all(dl.detail for dl in d.dead_letters)
    assert d.n == len(values) - len(POISON)
    assert sorted(d.rows.tolist()) == sorted(set(range(len(values))) - set(expected))
    assert np.allclose(d.numeric["amount"].values, [10.0 + 2 * i for i in range(len(POISON))]
                       + [1009.0])
    assert not d.numeric["amount"].null.any() and not d.numeric["amount"].invalid.any()


def test_schema_violations_are_counted_per_feature_and_the_event_still_counts() -> None:
    values = [
        _good(0),
        _good(1, amount="12.5"),               # string in a numeric field -> invalid
        _good(2, x=[1.5]),                     # list in a numeric field -> invalid
        _good(3, merchant={"id": 7}),          # object in a categorical -> invalid
        _good(4, channel=[1, 2]),              # list in a categorical -> invalid
        _good(5, model=None),                  # nested parent null -> score is null
        _good(6, model={"other": 1}),          # nested leaf missing -> null
        orjson.dumps({"ts": T0 + 7}),          # every feature missing -> nulls
        _good(8, region=None, device=7),       # segments: missing / integer value
    ]
    d = _decoder().decode(values)
    assert d.n == len(values) and d.dead_letters == []
    amount, x, score = d.numeric["amount"], d.numeric["x"], d.numeric["score"]
    assert amount.invalid.tolist() == [False, True] + [False] * 7
    assert amount.null.tolist() == [False] * 7 + [True, False]
    assert x.invalid.tolist() == [False, False, True] + [False] * 6
    assert score.null.tolist() == [False] * 5 + [True, True, True, False]
    assert d.numeric["amount"].values[0] == 10.0
    merchant, channel = d.categorical["merchant"], d.categorical["channel"]
    assert merchant.invalid.tolist() == [False] * 3 + [True] + [False] * 5
    assert channel.invalid.tolist() == [False] * 4 + [True] + [False] * 4
    assert merchant.null.tolist() == [False] * 7 + [True, False]
    region, device = d.segments["region"], d.segments["device"]
    assert region.codes[8] == -1 and device.labels[device.codes[8]] == "7"

    eng = Engine(small_config())
    report = eng.ingest(RecordBatch("tx", 0, list(range(len(values))), None, values))
    assert (report.events, report.invalid) == (len(values), 0)
    (result,) = eng.flush()
    glob = result.cohort("all", "all")
    assert glob is not None and glob.n == len(values)
    sk = glob.profile["amount"]
    assert (sk.count, sk.invalid, sk.nulls) == (9, 1, 1)
    assert glob.profile["merchant"].invalid == 1


def test_booleans_in_numeric_features_are_numbers_as_everywhere_else() -> None:
    # sketches.canonical.canonical_numbers (baseline files) reads true as 1.0: so does the stream
    d = Decoder([FieldSpec("x", "numeric")], [], "ts").decode(
        [b'{"ts": 1, "x": true}', b'{"ts": 2, "x": false}', b'{"ts": 3, "x": 2}'])
    assert d.numeric["x"].values.tolist() == [1.0, 0.0, 2.0]
    assert not d.numeric["x"].invalid.any()


def test_nan_and_infinity_literals_are_values_counted_as_nan_not_nulls() -> None:
    values = [b'{"ts": 1700000000, "x": NaN}', b'{"ts": 1700000001, "x": Infinity}',
              b'{"ts": 1700000002, "x": 1.5}', b'{"ts": 1700000003}']
    d = Decoder([FieldSpec("x", "numeric")], [], "ts").decode(values)
    x = d.numeric["x"]
    assert d.n == 4
    assert x.null.tolist() == [False, False, False, True]
    assert np.isnan(x.values[0]) and np.isinf(x.values[1])


def test_event_time_units_iso8601_and_kafka_timestamps() -> None:
    dec = Decoder([FieldSpec("x", "numeric")], [], "t")
    d = dec.decode([b'{"t": 1700000000}', b'{"t": 1700000000250}',
                    b'{"t": "2023-11-14T22:13:20Z"}', b'{"t": "2023-11-14T23:13:20+01:00"}',
                    b'{"t": "2023-11-14T22:13:20.5"}'])
    assert d.event_time.tolist() == [1700000000.0, 1700000000.25, 1700000000.0,
                                     1700000000.0, 1700000000.5]
    no_field = Decoder([FieldSpec("x", "numeric")])
    d2 = no_field.decode([b'{"x": 1}', b'{"x": 2}'], timestamps_ms=[1700000000000, 1700000001000])
    assert d2.event_time.tolist() == [1700000000.0, 1700000001.0]


def test_categorical_labels_are_canonical() -> None:
    dec = Decoder([FieldSpec("k", "categorical")], [], "ts")
    d = dec.decode([b'{"ts": 1, "k": true}', b'{"ts": 1, "k": 1}', b'{"ts": 1, "k": 1.0}',
                    b'{"ts": 1, "k": "1"}', b'{"ts": 1, "k": false}', b'{"ts": 1, "k": 0}'])
    c = d.categorical["k"]
    assert [c.labels[i] for i in c.codes] == ["true", "1", "1", "1", "false", "0"]


@pytest.mark.parametrize("bad_every", [997, 3])
def test_fallback_path_gives_the_same_columns_as_the_fast_path(bad_every: int) -> None:
    cols = columns(5000, seed=3)
    clean = to_records(cols)
    dirty = list(clean)
    for i in range(0, len(dirty), bad_every):
        dirty[i] = b"{broken"
    dec = _decoder()
    a = dec.decode(clean)
    b = dec.decode(dirty)
    keep = b.rows
    assert len(b.dead_letters) == len(range(0, len(dirty), bad_every))
    for name in ("amount", "x", "score"):
        assert np.array_equal(a.numeric[name].values[keep], b.numeric[name].values)
    for name in ("merchant", "channel"):
        ca, cb = a.categorical[name], b.categorical[name]
        la = [ca.labels[i] for i in ca.codes[keep]]
        lb = [cb.labels[i] for i in cb.codes]
        assert la == lb
    assert np.array_equal(a.event_time[keep], b.event_time)


def test_schema_violations_in_every_chunk_keep_all_other_columns_exact() -> None:
    cols = columns(5000, seed=4)
    clean = to_records(cols)
    dirty = list(clean)
    for i in range(0, len(dirty), 7):
        rec = orjson.loads(dirty[i])
        rec["amount"] = "n/a"
        dirty[i] = orjson.dumps(rec)
    dec = _decoder()
    a, b = dec.decode(clean), dec.decode(dirty)
    assert b.n == a.n == 5000 and b.dead_letters == []
    bad = np.zeros(5000, bool)
    bad[::7] = True
    assert np.array_equal(b.numeric["amount"].invalid, bad)
    assert np.array_equal(b.numeric["amount"].values[~bad], a.numeric["amount"].values[~bad])
    for name in ("x", "score"):
        assert np.array_equal(a.numeric[name].values, b.numeric[name].values)
    for name in ("merchant", "channel"):
        ca, cb = a.categorical[name], b.categorical[name]
        assert [ca.labels[i] for i in ca.codes] == [cb.labels[i] for i in cb.codes]


def test_missing_values_in_clean_batches_are_nulls() -> None:
    # a batch without any schema violation takes the typed path: nulls must still be nulls
    d = _decoder().decode([_good(0), orjson.dumps({"ts": T0 + 1, "region": "eu"}),
                           _good(2, x=None)])
    assert d.numeric["x"].null.tolist() == [False, True, True]
    assert d.numeric["amount"].null.tolist() == [False, True, False]
    assert d.categorical["merchant"].null.tolist() == [False, True, False]


@pytest.mark.parametrize("fast", [True, False])
def test_a_lone_surrogate_as_event_time_is_a_dead_letter_not_a_crash(fast: bool) -> None:
    d = Decoder([FieldSpec("a", "numeric")], [], "ts", "auto", fast=fast)
    out = d.decode([b'{"ts": "\\ud800", "a": 1}', b'{"ts": 5, "a": 2}'])
    assert out.rows.tolist() == [1] and out.numeric["a"].values.tolist() == [2.0]
    assert [(x.index, x.reason) for x in out.dead_letters] == [(0, "invalid_event_time")]
