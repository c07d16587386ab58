"""The native fast path of the decoder (:mod:`stream.decode.native`, the Rust scanner) gives
exactly what the exact (msgspec) path gives: same rows, event times, numeric values bit for
bit, null/invalid masks, category codes and labels, and dead letters with their reasons -- on
clean data, on every kind of bad data, and on random records (a differential property test).

The pools below say which values the native path takes (``BENIGN_*``, ``ODD``) and which it
declines (``HARD_*``, ``POISON``): both are checked, so a pool cannot silently change sides."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.stream.decode.decoder import DecodedBatch, Decoder, FieldSpec
from driftline.stream.decode.native import native_available

FEATURES = [FieldSpec("a", "numeric"), FieldSpec("b", "numeric"),
            FieldSpec("score", "numeric", "model.score"),
            FieldSpec("k", "categorical"), FieldSpec("flag", "categorical")]

# numeric values the native path takes: it must give the exact path's float, bit for bit
BENIGN_NUM = [
    b"null", b"3", b"-0.0", b"0", b"-0e0", b"0E-0", b"123456789012345678901234567890",
    b"-123456789012345678901234567890", b"1e-400", b"-1e-400", b"2.5E3", b"1E+2", b"0.1e1",
    b"9007199254740993", b"-9007199254740993", b"9007199254740993.0",
    b"0.1000000000000000055511151231257827", b"1e22", b"1e23", b"-1e23", b"5e-324",
    b"-5e-324", b"4.9406564584124654e-324", b"2.4703282292062327e-324",
    b"2.4703282292062328e-324", b"2.2250738585072011e-308", b"2.2250738585072014e-308",
    b"1.7976931348623157e308", b"179769313486231580793728971405303415079934132710037826936173"
    b"77898044435552244135022519072912730246759230024047812461692915843628891302192082309348"
    b"4302542089025474856498108802236342406990990024016286434609120627612024584467813869524389"
    b"225221001210221474108928", b"0.30000000000000004", b"0.12345678901234567",
    b"1.2345678901234567890123", b"123456789.123456789123", b"7.2057594037927933e16",
    b"72057594037927933", b"9223372036854775807", b"9223372036854775808",
    b"18446744073709551615", b"18446744073709551616", b"-9223372036854775809",
    b"1.00000000000000011102230246251565404", b"1.000000000000000111022302462515654042",
    b"0.000001234567890123456789", b"1234567890123456789e-30", b"12345678901234567890e280",
    b"1e-5", b"123e-20", b"1.5e300", b"8.98846567431158e307", b"1" + b"0" * 308,
    b"0." + b"0" * 400 + b"1", b"1" + b"0" * 400 + b"e-400",
]
# category values the native path takes (labels in order of first appearance, canonicalized)
BENIGN_CAT = [
    b"null", b"3", b"-7", b"-0", b"0", b"1.0", b"1e2", b"1E+2", b"-0.0", b"1.5e1", b"1e18",
    b"9.2e18", b"123456789012345678", b"-12345678901234567", b"true", b"false", b'""',
    b'"3"', b'"x"', b'"null"', b'"true"', '"café ü"'.encode(), "\"\U0001f600\"".encode(),
    b'"caf\\u00e9"', b'"caf\\u00E9"', b'"\\u00e9"', b'"\\ud83d\\ude00"', b'"a\\"b"',
    b'"\\\\"', b'"\\/"', b'"a\\nb"', b'"\\b\\f\\r\\t"', b'"\\u0000"', b'"\\u001f"',
    b'"2.5"', b'"-0"', b'"1.0"', b'"1e2"', b'"{x"', b'"\x7f"', '"\u2028"'.encode(),
]
# event times the native path takes (strings go to the ISO-8601 parser, as on the exact path)
BENIGN_TS = [b"null", b'"2023-11-14T22:13:20Z"', b'"yesterday"', b'"1700000000"',
             b"1700000000123", b'"2023-11-14T22:13:20\\u002b02:00"', b"-0.0",
             b"17000000005e-1", b"1.7E9"]
# values that the native path must decline (and the exact path decides)
HARD_NUM = [b"NaN", b"Infinity", b"-Infinity", b'"1.5"', b"true", b"false", b"{}", b"[1]",
            b"1e400", b"-1e400", b"-0", b'"\\ud800"']
HARD_CAT = [b"2.5", b"0.5", b"1e-5", b"1e20", b"-1e20", b'{"a":1}', b"[1,2]", b"[]",
            b"12345678901234567890", b"1234567890123456789", b"-1234567890123456789",
            b"-123456789012345678", b"NaN", b"Infinity", b"1e400",
            b'"\\ud800"', b'"\\udc00"', b'"\\ud800x"', b'"\\ud83d\\u0041"', b'"\\ude00\\ud83d"',
            b'"a\x01b"', b'"a\x1fb"', b'"a\tb"', b'"\\x"', b'"\\u12"', b'"\\u12g4"',
            b'"caf\xe9"', b'"\xc0\xaf"', b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"', b'"\xe2\x82"']
HARD_TS = [b"true", b'{"s":1}', b"NaN", b"1e400", b"-Infinity", b"[1]", b"-0"]
_T = b'{"ts": 1700000000, '
# records the native path declines: broken ones (dead letters) and valid ones it cannot vouch
# for (a repeated monitored key, a non-object parent, a lone surrogate anywhere, NaN, deep
# nesting, invalid UTF-8 in a string msgspec skips without reading)
POISON = [
    b'{"ts": 1700000000, "a": 3', b"\xff\xfe\x00garbage", b'{"ts": 1700000000, "k": "caf\xe9"}',
    b"[1, 2, 3]", b'"just a string"', b"42", b"null", b"", b"   ", b'{"a": 1}\n{"a": 2}',
    b'{"ts": 1700000000} x', b'{"ts": 1700000000}}', b'{"ts": 1700000000},',
    b'{"ts": 1700000000}\x00', b'{"ts": 1700000000} {}', b'\xef\xbb\xbf{"ts": 1700000000}',
    b'\x0c{"ts": 1700000000}', b'{"ts": 1700000000}\x0c',
    _T + b'"model": null}', _T + b'"model": 5}', _T + b'"model": []}', _T + b'"model": "x"}',
    _T + b'"model": true}', _T + b'"model": [{"score": 1}]}',
    _T + b'"a": 1, "a": 2}', _T + b'"a": 1, "a": 1}', _T + b'"a": null, "a": 2}',
    _T + b'"\\u0061": 1, "a": 2}', _T + b'"k": "x", "k": "y"}', b'{"ts": 1, "ts": 1700000000}',
    _T + b'"model": {"score": 1}, "model": {"score": 2}}', _T + b'"model": {}, "model": {}}',
    _T + b'"model": {"score": 1, "score": 2}}',
    _T + b'"un": "\\ud800"}', _T + b'"un": "\\udfff"}', _T + b'"un": ["\\ud800\\ud800"]}',
    _T + b'"\\ud800": 1}', _T + b'"un": {"\\udc00x": 1}}', _T + b'"model": {"\\ud83d": 1}}',
    _T + b'"un": "a\tb"}', _T + b'"un": "\x00"}', _T + b'"un\nx": 1}',
    _T + b'"un": "a\xffb"}', _T + b'"un": "\xc0\xaf"}', _T + b'"un": "\xed\xa0\x80"}',
    _T + b'"un": "\xf4\x90\x80\x80"}', _T + b'"un": "\xe2\x82"}', _T + b'"\xff": 1}',
    _T + b'"un": \xff}', _T + b'"un": NaN}', _T + b'"un": [Infinity]}',
    _T + b'"un": ' + b"[" * 70 + b"]" * 70 + b"}",
    _T + b'"un": ' + b'{"u": ' * 70 + b"1" + b"}" * 70 + b"}",
    _T + b'"un": 01}', _T + b'"un": -}', _T + b'"un": 1.}', _T + b'"un": .5}',
    _T + b'"un": 1e}', _T + b'"un": +1}', _T + b'"un": 0x10}', _T + b'"un": tru}',
    _T + b'"un": True}', _T + b'"un": nul}', _T + b'"un" 1}', _T + b'"un": 1 "x": 2}',
    _T + b'"un": [1,]}', _T + b'"un": 1,}', _T + b"'un': 1}", _T + b'un: 1}',
    _T + b'"a": 1e}', _T + b'"k": "x}', b'{"ts": 1700000000, "a": 1.5',
    b'{"ts": 1700000000, "pad": "' + b"x" * 3000 + b'"}',  # too large: dropped before
]
# valid records of unusual shape the native path takes
ODD = [
    b'{"ts": 1700000000, "model": {}}', b'{"ts": 1700000000}', b'{"ts": 1700000000.25}',
    b'{"ts": 1700000000}\n', b' {"ts": 1700000000}', b'{"ts": 1700000000}\n \n',
    b'{\n"ts": 1700000000}', b'{"ts": 1700000000}\r', b'\t\r\n {"ts": 1700000000} \t\r\n',
    b'{"ts": 1700000000, "model": {"score": null}, "a": null, "k": null, "region": null}',
    b'{ "ts" : 1700000000 , "a" : 1 , "model" : { "score" : 2 } , "k" : "x" }',
    b'{"ts":1700000000,"a":1,"model":{"score":2},"k":"x"}',
    b'{"\\u0074s": 1700000000, "\\u0061": 1.5, "mo\\u0064el": {"sc\\u006fre": 2}, '
    b'"\\u006B": "\\u00e9"}',
    b'{"ts": 1700000000, "caf\\u00e9": 1, "\\ud83d\\ude00": 2, "\\"a": 3, "a\\\\": 4, '
    b'"\\/k": "x", "k\\n": "y"}',
    '{"ts": 1700000000, "café": 1, "\U0001f600": {"a": 2}, "k": "ü"}'.encode(),
    b'{"ts": 1700000000, "un": 1e400, "nu": -1e400, "z": -0, "big": 1e999999999999}',
    b'{"ts": 1700000000, "un": 1, "un": 2, "model": {"other": 1, "other": 2, "score": 3}}',
    b'{"ts": 1700000000, "un": ' + b"[" * 60 + b"]" * 60 + b"}",
    b'{"ts": 1700000000, "un": ' + b'{"u": ' * 60 + b"1" + b"}" * 60 + b"}",
    b'{"ts": 1700000000, "un": [{"a": 1, "k": [true, false, null]}, "\\u0000", []]}',
    b'{"ts": 1700000000, "model": {"score": 1, "other": {"score": [1]}, "a": {"x": 1}}}',
    b'{"ts": 1700000000, "model.score": 5, "": 1, "A": 2, "K": "x", "a ": 3}',
    b'{"ts": 1700000000, "Model": null, "model ": 5, "score": "x"}',
    b'{"a": 1, "k": "x"}', b'{"ts": 1700000000, "un": "\\ud83d\\ude00\\u00e9\\"\\\\"}',
]


def _record(rng: np.random.Generator, num_pool: list[bytes], cat_pool: list[bytes],
            rate: float, iso: bool, ts_pool: list[bytes]) -> bytes:
    def num() -> bytes:
        if rng.random() < rate:
            return num_pool[rng.integers(len(num_pool))]
        r = rng.random()
        if r < 0.4:
            return repr(float(rng.normal() * 10.0 ** int(rng.integers(-5, 8)))).encode()
        if r < 0.6:
            return str(int(rng.integers(-10**6, 10**6))).encode()
        return f"{rng.normal():.20f}".encode()

    def cat(values: list[str]) -> bytes:
        if rng.random() < rate:
            return cat_pool[rng.integers(len(cat_pool))]
        return orjson.dumps(values[rng.integers(len(values))])

    if iso:
        ts = orjson.dumps(f"2023-11-14T22:{int(rng.integers(60)):02d}:{int(rng.integers(60)):02d}"
                          + ("Z" if rng.random() < 0.7 else "+02:00"))
    else:
        ts = (b"%d" % (1_700_000_000 + int(rng.integers(3600))) if rng.random() < 0.5
              else b"%d" % (1_700_000_000_000 + int(rng.integers(3_600_000))))
    if ts_pool and rng.random() < rate:
        ts = ts_pool[rng.integers(len(ts_pool))]
    parts = [b'"ts": ' + ts]
    parts += [b'"%s": %s' % (n, num()) for n in (b"a", b"b") if rng.random() > 0.05]
    if rng.random() > 0.02:
        parts.append(b'"model": {"score": %s, "other": [1, {"x": 2}]}' % num())
    parts += [b'"k": ' + cat(["a", "b", "c"]), b'"flag": ' + cat(["yes", "no"]),
              b'"region": ' + cat(["eu", "us", "apac"]), b'"unused": {"deep": [1, "x"]}']
    order = rng.permutation(len(parts))
    return b"{" + b", ".join(parts[i] for i in order) + b"}"


def _batch(seed: int, n: int, kind: str, iso: bool = False) -> list[bytes]:
    rng = np.random.default_rng(seed)
    pools = {"clean": ([], [], []), "benign": (BENIGN_NUM, BENIGN_CAT, BENIGN_TS),
             "hard": (BENIGN_NUM + HARD_NUM, BENIGN_CAT + HARD_CAT, BENIGN_TS + HARD_TS)}
    num_pool, cat_pool, ts_pool = pools["hard" if kind == "poison" else kind]
    rate = {"clean": 0.0, "benign": 0.05, "hard": 0.002, "poison": 0.0005}[kind]
    out = [_record(rng, num_pool, cat_pool, rate, iso, ts_pool) for _ in range(n)]
    if kind == "poison":
        for i, p in enumerate(POISON + ODD):
            out[(i * 7919) % n] = p
    return out


def _decoders(unit: str) -> tuple[Decoder, Decoder]:
    fast = Decoder(FEATURES, ["region"], "ts", unit, max_bytes=2000)
    exact = Decoder(FEATURES, ["region"], "ts", unit, max_bytes=2000, fast=False)
    return fast, exact


def assert_same(x: DecodedBatch, y: DecodedBatch) -> None:
    assert np.array_equal(x.rows, y.rows) and x.rows.dtype == y.rows.dtype
    assert np.array_equal(x.event_time.view(np.int64), y.event_time.view(np.int64))
    assert list(x.numeric) == list(y.numeric)
    for name, a in x.numeric.items():
        b = y.numeric[name]
        assert np.array_equal(a.values.view(np.int64), b.values.view(np.int64)), name
        assert np.array_equal(a.null, b.null) and np.array_equal(a.invalid, b.invalid), name
        assert a.values.flags.writeable and b.values.flags.writeable
    for group in ("categorical", "segments"):
        xs, ys = getattr(x, group), getattr(y, group)
        assert list(xs) == list(ys)
        for name, a in xs.items():
            b = ys[name]
            assert a.labels == b.labels, name
            assert np.array_equal(a.codes, b.codes) and a.codes.dtype == b.codes.dtype, name
            assert np.array_equal(a.null, b.null) and np.array_equal(a.invalid, b.invalid), name
    assert ([(d.index, d.reason, d.detail) for d in x.dead_letters]
            == [(d.index, d.reason, d.detail) for d in y.dead_letters])


def test_the_native_extension_is_built() -> None:
    # without it every chunk silently goes the exact way and these tests would prove nothing
    assert native_available()
    assert _decoders("auto")[0]._fast is not None


@pytest.mark.parametrize("unit,iso", [("auto", False), ("ms", False), ("iso8601", True),
                                      ("auto", True)])
@pytest.mark.parametrize("kind", ["clean", "benign"])
def test_native_path_takes_clean_and_benign_data_and_matches_the_exact_path(
        unit: str, iso: bool, kind: str) -> None:
    if unit == "ms":  # epoch milliseconds only
        values = [v.replace(b'"ts": 17000000', b'"ts": 17000000000') for v in
                  _batch(3, 5000, kind, iso)]
    else:
        values = _batch(3, 20_000, kind, iso)
    fast, exact = _decoders(unit)
    got, want = fast.decode(values), exact.decode(values)
    assert_same(got, want)
    assert fast.fast_chunks >= 1 and fast.exact_chunks == 0  # really the native path
    assert got.n > 0.9 * len(values)


@pytest.mark.parametrize("unit,iso", [("auto", False), ("s", False), ("iso8601", True),
                                      ("auto", True)])
@pytest.mark.parametrize("kind", ["hard", "poison"])
@pytest.mark.parametrize("seed", [0, 1])
def test_bad_data_falls_back_per_chunk_with_the_exact_results(
        unit: str, iso: bool, kind: str, seed: int) -> None:
    values = _batch(seed, 5000, kind, iso)
    fast, exact = _decoders(unit)
    assert_same(fast.decode(values), exact.decode(values))
    assert fast.exact_chunks >= 1


def _alone(bad: bytes) -> tuple[Decoder, Decoder, list[bytes]]:
    clean = _batch(7, 300, "clean")
    values = [*clean[:150], bad, *clean[150:]]
    fast, exact = _decoders("auto")
    assert_same(fast.decode(values), exact.decode(values))
    return fast, exact, values


def _in_record(pool: list[bytes], key: bytes) -> list[bytes]:
    return [b'{"ts": 1700000000, "%s": %s}' % (key, v) for v in pool]


@pytest.mark.parametrize("bad", [
    *POISON[:-1], *_in_record(HARD_NUM, b"a"), *_in_record(HARD_CAT, b"k"),
    *_in_record(HARD_CAT, b"region"), *[b'{"ts": %s}' % v for v in HARD_TS],
    *[b'{"ts": 1700000000, "model": {"score": %s}}' % v for v in HARD_NUM]])
def test_every_hard_value_and_poison_record_alone_makes_its_chunk_go_the_exact_way(
        bad: bytes) -> None:
    fast, _, _ = _alone(bad)
    assert fast.exact_chunks == 1 and fast.fast_chunks == 0, bad  # the native path declined


@pytest.mark.parametrize("odd", [
    POISON[-1], *ODD, *_in_record(BENIGN_NUM, b"a"), *_in_record(BENIGN_CAT, b"k"),
    *_in_record(BENIGN_CAT, b"region"), *[b'{"ts": %s}' % v for v in BENIGN_TS],
    *[b'{"ts": 1700000000, "model": {"score": %s}}' % v for v in BENIGN_NUM]])
def test_every_benign_value_and_odd_record_alone_is_taken_by_the_native_path(
        odd: bytes) -> None:
    # a too large record is dropped before it; the rest are values and records it reads
    fast, _, _ = _alone(odd)
    assert fast.exact_chunks == 0 and fast.fast_chunks == 1, odd


def test_benign_values_give_the_exact_floats_and_labels_one_by_one() -> None:
    # each value in its own record of one chunk: the columns themselves, not only a batch
    fast, exact = _decoders("auto")
    values = [*_in_record(BENIGN_NUM, b"a"), *_in_record(BENIGN_CAT, b"k")]
    got, want = fast.decode(values), exact.decode(values)
    assert_same(got, want)
    assert fast.fast_chunks == 1
    assert np.signbit(got.numeric["a"].values[BENIGN_NUM.index(b"-0.0")])
    assert len(got.categorical["k"].labels) > 25


def test_records_that_are_not_bytes_go_the_exact_way() -> None:
    clean = _batch(13, 5000, "clean")
    values: list[Any] = list(clean)
    values[10] = bytearray(clean[10])
    values[4200] = memoryview(clean[4200])
    fast, exact = _decoders("auto")
    got = fast.decode(values)
    assert_same(got, exact.decode(values))
    assert_same(got, exact.decode(clean))  # and they read as the same records
    assert fast.exact_chunks == 2 and fast.fast_chunks == 0


def test_one_bad_record_sends_only_its_chunk_the_exact_way() -> None:
    values = _batch(11, 40_000, "clean")
    values[20_000] = b'{"ts": 1700000000, "a": NaN}'
    fast, exact = _decoders("auto")
    got = fast.decode(values)
    assert_same(got, exact.decode(values))
    assert fast.exact_chunks == 1 and fast.fast_chunks == 9  # 10 chunks of up to 4,096
    assert np.isnan(got.numeric["a"].values[20_000]) and not got.numeric["a"].null[20_000]


def test_auto_unit_follows_a_stream_from_epoch_numbers_to_iso_strings() -> None:
    fast, exact = _decoders("auto")
    for values in (_batch(5, 3000, "clean"), _batch(6, 3000, "clean", iso=True),
                   _batch(7, 3000, "clean", iso=True), _batch(8, 3000, "clean")):
        assert_same(fast.decode(values), exact.decode(values))
    assert fast.fast_chunks == 4 and fast.exact_chunks == 0


def test_a_line_split_in_two_and_a_blank_record_do_not_shift_rows() -> None:
    values = _batch(9, 200, "clean")
    values[50] = b'{"ts": 1700000000, "a": 1}\n{"ts": 1700000001, "a": 2}'  # two lines
    values[120] = b"   "
    fast, exact = _decoders("auto")
    got = fast.decode(values)
    assert_same(got, exact.decode(values))
    assert {d.index: d.reason for d in got.dead_letters} == {50: "invalid_json",
                                                            120: "invalid_json"}


def test_a_stream_the_native_path_cannot_take_goes_the_exact_way_chunk_by_chunk() -> None:
    values = [v.replace(b'"ts": ', b'"extra": NaN, "ts": ') for v in _batch(5, 9000, "clean")]
    fast, exact = _decoders("auto")
    for _ in range(3):
        assert_same(fast.decode(values), exact.decode(values))
    assert fast.fast_chunks == 0 and fast.exact_chunks == 9  # 3 chunks per batch


def test_repeated_keys_make_the_native_path_decline_so_both_paths_agree() -> None:
    for rec in (b'{"ts": 1700000000, "a": 1.0, "a": 2.0, "k": "x", "region": "eu"}',
                b'{"ts": 1700000000, "k": "x", "region": "eu", "k": "y"}',
                b'{"ts": 1700000000, "model": {"score": 1}, "model": {"score": 2}}',
                b'{"ts": 1700000000, "model": {"score": 1, "score": 2}}',
                b'{"ts": 1700000000, "a": 1.0, "\\u0061": 2.0}'):
        fast, exact = _decoders("auto")
        got, want = fast.decode([rec]), exact.decode([rec])
        assert_same(got, want)
        assert fast.exact_chunks == 1, rec
    assert want.numeric["a"].values.tolist() == [2.0]  # msgspec: the last one wins
    assert got.numeric["a"].values.tolist() == [2.0]


def test_chunks_of_large_records_are_chunks_of_4096() -> None:
    pad = b', "pad": "' + b"p" * 2100 + b'"}'
    values = [v[:-1] + pad for v in _batch(12, 17_000, "clean")]
    fast, exact = _decoders("auto")
    fast.max_bytes = exact.max_bytes = 10_000
    assert_same(fast.decode(values), exact.decode(values))
    assert fast.fast_chunks == 5 and fast.exact_chunks == 0  # 4 x 4,096, then 616


# -- differential property test: random JSON-ish records, native == exact -----------------------

_MONITORED = ["ts", "a", "b", "k", "flag", "region", "model"]
_OTHER_KEYS = ["un", "score", "x", "é", "model.score", "", "A", "\U0001f600", 'q"', "a\\"]
_SURROGATES = ["\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\ud83d\\u0041", "\\ude00\\ud83d"]


@st.composite
def _json_string(draw: st.DrawFn, text: st.SearchStrategy[str], odd: bool) -> bytes:
    """A JSON string of ``text``, each character raw or escaped (\\uXXXX, surrogate pairs,
    short escapes); ``odd`` adds lone surrogates and raw control characters."""
    rnd = random.Random(draw(st.integers(0, 2**32)))  # the spelling: cheaper than draws
    out = []
    for ch in draw(text):
        cp = ord(ch)
        style = rnd.randrange(4)
        if ch in '"\\' or cp < 0x20:
            short = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r",
                     "\b": "\\b", "\f": "\\f"}.get(ch)
            out.append(short if short and style < 2 else f"\\u{cp:04x}")
        elif 0xD800 <= cp < 0xE000:  # a lone surrogate from text(): only as an escape
            out.append(f"\\u{cp:04x}")
        elif style == 0 and cp > 0xFFFF:
            hi, lo = 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF)
            out.append(f"\\u{hi:04X}\\u{lo:04x}")
        elif style == 0:
            out.append(f"\\u{cp:04x}" if rnd.random() < 0.5 else f"\\u{cp:04X}")
        elif style == 1 and ch == "/":
            out.append("\\/")
        else:
            out.append(ch)
    if odd and rnd.random() < 0.1:
        out.insert(rnd.randrange(len(out) + 1),
                   rnd.choice([*_SURROGATES, "\x01", "\x1f", "\t", "\x7f"]))
    return b'"' + "".join(out).encode("utf-8", "surrogatepass") + b'"'


@st.composite
def _json_number(draw: st.DrawFn, odd: bool) -> bytes:
    """Numbers in every JSON spelling: long mantissas, exponents near the float limits, -0,
    integers past 2^53 and 2^64; ``odd`` adds NaN/Infinity and out-of-range exponents."""
    kind = draw(st.integers(0, 9 if odd else 7))
    if kind == 0:
        return repr(draw(st.floats(allow_nan=False, allow_infinity=False))).encode()
    if kind == 1:
        return str(draw(st.integers(-(10**25), 10**25))).encode()
    if kind == 2:
        return str(draw(st.integers(-(2**64), 2**64))).encode()
    if kind == 3:  # %g writes -0.0 as the integer -0: declined (the exact path reads +0.0)
        text = b"%.17g" % draw(st.floats(allow_nan=False, allow_infinity=False))
        return b"0" if text == b"-0" and not odd else text
    if kind == 8:
        return draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"]))
    if kind == 9:
        return b"-0"
    sign = draw(st.sampled_from(["", "-"]))
    digits = draw(st.text("0123456789", min_size=1, max_size=40 if kind == 4 else 20))
    digits = digits.lstrip("0") or "0"
    frac = draw(st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=25)))
    exp = ""
    if draw(st.booleans()):
        lim = 340 if kind == 5 else 30
        exp = (draw(st.sampled_from(["e", "E"])) + draw(st.sampled_from(["", "+", "-"]))
               + str(draw(st.integers(0, lim))))
    if sign == "-" and digits == "0" and not frac and not exp and not odd:
        sign = ""  # the integer -0: declined (the exact path reads it as +0.0)
    text = sign + digits + ("." + frac if frac else "") + exp
    if not odd and not math.isfinite(float(text)):
        return b"1.7976931348623157e308"  # out of float range: declined
    return text.encode()


def _ws(draw: st.DrawFn) -> bytes:
    return draw(st.sampled_from([b"", b"", b"", b" ", b"\n", b"\t ", b"\r\n  "]))


def _values(odd: bool, text: st.SearchStrategy[str]) -> st.SearchStrategy[bytes]:
    leaf = st.one_of(_json_number(odd), _json_string(text, odd),
                     st.sampled_from([b"true", b"false", b"null"]))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4).map(lambda xs: b"[" + b", ".join(xs) + b"]"),
            st.lists(st.tuples(_json_string(st.sampled_from(_OTHER_KEYS), odd), inner),
                     max_size=4).map(lambda kv: b"{" + b",".join(k + b":" + v for k, v in kv)
                                     + b"}")),
        max_leaves=8)


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
_LABEL = st.one_of(st.sampled_from(["a", "b", "é", "\U0001f600", "", "x y"]), _TEXT)


@st.composite
def _good_value(draw: st.DrawFn, key: str) -> bytes:
    """A value of the type the exact path reads for ``key`` without conversion."""
    if key == "ts":
        if draw(st.integers(0, 3)) == 0:
            return _ws(draw) + draw(_json_string(st.just("2023-11-14T22:13:20Z"), False))
        return str(draw(st.integers(1_600_000_000, 1_800_000_000_000))).encode()
    if draw(st.integers(0, 9)) == 0:
        return b"null"
    if key in ("a", "b", "score"):
        return draw(_json_number(False))
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return draw(st.sampled_from([b"true", b"false", b"-0", b"1.0", b"1e2", b"-12"]))
    if choice == 1:
        return str(draw(st.integers(1 - 10**17, 10**17 - 1))).encode()  # up to 18 chars
    return draw(_json_string(_LABEL, False))


@st.composite
def _record_of(draw: st.DrawFn, odd: bool) -> bytes:
    """One JSON object with monitored and unmonitored keys in random order and spelling;
    ``odd``: anything else too (wrong types, repeats, escapes, raw byte mutations)."""
    any_value = _values(odd, _TEXT)
    keys = draw(st.lists(st.sampled_from(_MONITORED), unique=not odd, max_size=8))
    keys += draw(st.lists(st.sampled_from(_OTHER_KEYS), max_size=3))
    keys = draw(st.permutations(keys))
    parts = []
    for key in keys:
        if key == "model":
            inner = draw(st.lists(st.sampled_from(["score", "other", "un"]), unique=not odd,
                                  max_size=3))
            kv = [draw(_json_string(st.just(k), odd)) + b":" + _ws(draw)
                  + (draw(_good_value(k)) if k == "score" and not (odd and draw(st.booleans()))
                     else draw(any_value)) for k in inner]
            value = b"{" + b", ".join(kv) + b"}"
            if odd and draw(st.integers(0, 5)) == 0:
                value = draw(any_value)
        elif key in _MONITORED and not (odd and draw(st.booleans())):
            value = draw(_good_value(key))
        else:
            value = draw(any_value)
        name = draw(_json_string(st.just(key), odd))
        parts.append(_ws(draw) + name + _ws(draw) + b":" + _ws(draw) + value + _ws(draw))
    rec = _ws(draw) + b"{" + b",".join(parts) + b"}" + _ws(draw)
    if odd and draw(st.integers(0, 4)) == 0:  # a raw byte mutation anywhere
        at = draw(st.integers(0, len(rec)))
        byte = bytes([draw(st.sampled_from([0x00, 0x22, 0x2C, 0x5C, 0x7B, 0x7D, 0x80, 0xC3,
                                            0xED, 0xFF]))])
        how = draw(st.integers(0, 2))
        rec = (rec[:at] + byte + rec[at:] if how == 0 else rec[:at] + byte + rec[at + 1:]
               if how == 1 else rec[:at] + rec[at + 1:])
    return rec


_PROPERTY = settings(max_examples=100, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _outcome(decoder: Decoder, records: list[bytes]) -> DecodedBatch | type[BaseException]:
    try:
        return decoder.decode(records)
    except Exception as exc:  # the exact path's own failures must be the fast path's too
        return type(exc)


def _agree_batch_and_one_by_one(records: list[bytes], unit: str) -> tuple[int, int]:
    fast, exact = _decoders(unit)
    for batch in [records, *([rec] for rec in records)]:
        got, want = _outcome(fast, batch), _outcome(exact, batch)
        if isinstance(got, DecodedBatch) and isinstance(want, DecodedBatch):
            assert_same(got, want)
        else:
            assert got == want, batch
    return fast.fast_chunks, fast.exact_chunks


@_PROPERTY
@given(st.lists(_record_of(odd=False), min_size=1, max_size=12),
       st.sampled_from(["auto", "s", "iso8601"]))
def test_property_well_typed_records_are_taken_and_match_the_exact_path(
        records: list[bytes], unit: str) -> None:
    fast_chunks, exact_chunks = _agree_batch_and_one_by_one(records, unit)
    assert exact_chunks == 0 and fast_chunks == 1 + len(records)


@_PROPERTY
@given(st.lists(_record_of(odd=True), min_size=1, max_size=12),
       st.sampled_from(["auto", "s", "iso8601"]))
def test_property_any_records_match_the_exact_path(records: list[bytes], unit: str) -> None:
    _agree_batch_and_one_by_one(records, unit)


@settings(_PROPERTY, max_examples=300)
@given(st.lists(_json_number(odd=True), min_size=1, max_size=20))
def test_property_numbers_match_the_exact_path_bit_for_bit(numbers: list[bytes]) -> None:
    records = [b'{"ts": 1700000000, "a": %s, "model": {"score": %s}, "k": %s}' % (v, v, v)
               for v in numbers]
    _agree_batch_and_one_by_one(records, "auto")


@pytest.mark.parametrize("unit", ["auto", "s", "ms", "iso8601"])
def test_the_poison_corpus_decodes_alike_on_both_paths(unit: str) -> None:
    """Huge integers, absurd times, lone surrogates, containers, NaN tokens...
    (``tests/poison_corpus.py``): the native scanner declines what it must, and the columns,
    labels and dead letters are the exact path's, in one batch and record by record."""
    from tests.poison_corpus import CORPUS, T0, good

    feats = [FieldSpec("x", "numeric"), FieldSpec("score", "numeric", "model.score"),
             FieldSpec("k", "categorical")]
    fast = Decoder(feats, ["region", "device"], "ts", unit)
    exact = Decoder(feats, ["region", "device"], "ts", unit, fast=False)
    records = [good(T0)] + [rec for _, rec, _ in CORPUS]
    for batch in [records, *([rec] for rec in records)]:
        assert_same(fast.decode(batch), exact.decode(batch))
    assert fast.fast_chunks > 0  # the clean and the benign records were taken natively


def test_decoders_in_threads_scan_at_once_and_give_the_sequential_results() -> None:
    # the scan runs without the GIL (the consumer's fetch thread runs meanwhile): decoders
    # used from several threads at once give exactly what each gives alone
    from concurrent.futures import ThreadPoolExecutor

    batches = [_batch(seed, 12_000, kind) for seed, kind in
               [(11, "clean"), (12, "benign"), (13, "clean"), (14, "benign")]]
    alone = [_decoders("auto")[0].decode(b) for b in batches]
    decoders = [_decoders("auto")[0] for _ in batches]
    with ThreadPoolExecutor(len(batches)) as pool:
        together = list(pool.map(lambda d, b: d.decode(b), decoders, batches))
    for x, y in zip(together, alone, strict=True):
        assert_same(x, y)
    assert all(d.fast_chunks >= 2 for d in decoders)
