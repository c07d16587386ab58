"""The polars fast path of the decoder gives exactly what the exact (msgspec) path gives:
same rows, event times, numeric values bit for bit, null/invalid masks, category codes and
labels, and dead letters with their reasons -- on clean data and on every kind of bad data."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from stream.decode import DecodedBatch, Decoder, FieldSpec

FEATURES = [FieldSpec("a", "numeric"), FieldSpec("b", "numeric"),
            FieldSpec("score", "numeric", "model.score"),
            FieldSpec("k", "categorical"), FieldSpec("flag", "categorical")]

# values that polars accepts: the fast path must still give the exact path's answer
BENIGN_NUM = [b"null", b"3", b"-0.0", b"-0", b"123456789012345678901234567890", b"1e-400",
              b"2.5E3", b"9007199254740993", b"0.1000000000000000055511151231257827"]
BENIGN_CAT = [b"null", b"3", b"-7", b"1.0", b"true", b"false", b'""', b'"3"', b'"x"',
              b'"null"', b'"true"', '"café ü"'.encode()]
# values that the fast path must decline (and the exact path decides)
HARD_NUM = [b"NaN", b"Infinity", b"-Infinity", b'"1.5"', b"true", b"{}", b"[1]", b"1e400"]
HARD_CAT = [b"2.5", b"-0.0", b"1e20", b'{"a":1}', b"[1,2]", b"12345678901234567890", b"NaN",
            b'"\\ud800"', b'"2.5"', b'"-0"', b'"{x"',
            # escapes are fine, but with a missing nested parent they make the fast path
            # decline (it cannot rule out an escaped "model": null)
            b'"caf\\u00e9"', b'"\\ud83d\\ude00"', b'"a\\"b"']
HARD_TS = [b"null", b'"2023-11-14T22:13:20Z"', b'"yesterday"', b"true", b'{"s":1}', b"NaN",
           b'"1700000000"', b"1700000000123"]
POISON = [b'{"ts": 1700000000, "a": 3', b"\xff\xfe\x00garbage",
          b'{"ts": 1700000000, "k": "caf\xe9"}', b"[1, 2, 3]", b'"just a string"', b"42", b"null",
          b"", b"   ", b'{"a": 1}\n{"a": 2}', b'{\n"ts": 1700000000}', b'{"ts": 1700000000}\r',
          b'{"ts": 1700000000} x', b'{"ts": 1700000000, "model": null}',
          b'{"ts": 1700000000, "model": 5}', b'{"ts": 1700000000, "pad": "' + b"x" * 3000 + b'"}']
# valid records of unusual shape the fast path takes
ODD = [b'{"ts": 1700000000, "model": {}}', b'{"ts": 1700000000}', b'{"ts": 1700000000.25}',
       b'{"ts": 1700000000}\n', b' {"ts": 1700000000}', b'{"ts": 1700000000}\n \n',
       b'{"ts": 1700000000, "model": {"score": null}, "a": null, "k": null, "region": null}']


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
    pools = {"clean": ([], [], []), "benign": (BENIGN_NUM, BENIGN_CAT, []),
             "hard": (BENIGN_NUM + HARD_NUM, BENIGN_CAT + HARD_CAT, HARD_TS)}
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


@pytest.mark.parametrize("unit,iso", [("auto", False), ("ms", False), ("iso8601", True),
                                      ("auto", True)])
@pytest.mark.parametrize("kind", ["clean", "benign"])
def test_fast_path_takes_clean_and_benign_data_and_matches_the_exact_path(
        unit: str, iso: bool, kind: str) -> None:
    if unit == "ms":  # epoch milliseconds only
        values = [v.replace(b'"ts": 17000000', b'"ts": 17000000000') for v in
                  _batch(3, 5000, kind, iso)]
    else:
        values = _batch(3, 20_000, kind, iso)
    fast, exact = _decoders(unit)
    got, want = fast.decode(values), exact.decode(values)
    assert_same(got, want)
    assert fast.fast_chunks >= 1 and fast.exact_chunks == 0  # really the fast path
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


def test_every_poison_kind_alone_in_a_clean_batch() -> None:
    clean = _batch(7, 300, "clean")
    declined = POISON[:-1] + [b'{"ts": 1, "a": %s}' % v for v in HARD_NUM] + [
        b'{"ts": 1, "k": %s}' % v for v in HARD_CAT] + [
        b'{"ts": %s}' % v for v in HARD_TS if v not in (b"null", b"1700000000123")]
    for bad in declined:
        values = [*clean[:150], bad, *clean[150:]]
        fast, exact = _decoders("auto")
        assert_same(fast.decode(values), exact.decode(values))
        assert fast.exact_chunks == 1, bad  # the fast path declined that chunk
    # taken by the fast path: a too large record is dropped before it, a null or a number
    # in milliseconds is an event time it reads, the rest are valid records of odd shape
    for odd in [POISON[-1], b'{"ts": null}', b'{"ts": 1700000000123}', *ODD]:
        values = [*clean[:150], odd, *clean[150:]]
        fast, exact = _decoders("auto")
        assert_same(fast.decode(values), exact.decode(values))
        assert fast.exact_chunks == 0, odd


def test_one_bad_record_sends_only_its_chunk_the_exact_way() -> None:
    values = _batch(11, 40_000, "clean")
    values[20_000] = b'{"ts": 1700000000, "a": NaN}'
    fast, exact = _decoders("auto")
    got = fast.decode(values)
    assert_same(got, exact.decode(values))
    assert fast.exact_chunks == 1 and fast.fast_chunks == 5  # 16k + 3 x 4k + 8k fast
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
    values[120] = b"   "  # no line at all for polars
    fast, exact = _decoders("auto")
    got = fast.decode(values)
    assert_same(got, exact.decode(values))
    assert {d.index: d.reason for d in got.dead_letters} == {50: "invalid_json",
                                                            120: "invalid_json"}


def test_a_stream_the_fast_path_cannot_take_costs_little_extra() -> None:
    values = [v.replace(b'"ts": ', b'"extra": NaN, "ts": ') for v in _batch(5, 4000, "clean")]
    fast, exact = _decoders("auto")
    for _ in range(12):
        assert_same(fast.decode(values), exact.decode(values))
    assert fast.fast_chunks == 0 and fast._fast_rest > 0  # resting after 8 misses


def test_repeated_key_is_the_one_documented_difference() -> None:
    values = [b'{"ts": 1700000000, "a": 1.0, "a": 2.0, "k": "x", "region": "eu"}']
    fast, exact = _decoders("auto")
    assert exact.decode(values).numeric["a"].values.tolist() == [2.0]  # msgspec: last wins
    assert fast.decode(values).numeric["a"].values.tolist() == [1.0]  # polars: first wins


def test_chunks_of_large_records_are_bounded_in_bytes() -> None:
    pad = b', "pad": "' + b"p" * 2100 + b'"}'
    values = [v[:-1] + pad for v in _batch(12, 17_000, "clean")]  # 16,384 of them > 32 MB
    fast, exact = _decoders("auto")
    fast.max_bytes = exact.max_bytes = 10_000
    assert_same(fast.decode(values), exact.decode(values))
    assert fast.fast_chunks == 5 and fast.exact_chunks == 0  # 4 x 4,096, then 616
