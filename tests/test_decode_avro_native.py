"""The native Avro reader gives exactly the exact path's columns (fastavro, then the JSON
decoder's extraction), or declines the chunk; broken records still get their reasons."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastavro import parse_schema

from driftline.stream.decode.avro import AvroDecoder
from driftline.stream.decode.avro_native import compile_program
from driftline.stream.decode.decoder import FieldSpec
from driftline.stream.decode.native import native_available
from tests.helpers_decode import assert_same_values, avro_bodies, dead

pytestmark = pytest.mark.skipif(not native_available(), reason="stream._jsoncols not built")

SCHEMA = {"type": "record", "name": "E", "namespace": "t", "fields": [
    {"name": "ts", "type": "long"},
    {"name": "tags", "type": {"type": "array", "items": "string"}},  # skipped
    {"name": "attrs", "type": {"type": "map", "values": ["null", "double"]}},  # skipped
    {"name": "f32", "type": "float"},
    {"name": "i", "type": ["null", "int"]},
    {"name": "d", "type": ["double", "null"]},
    {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["red", "green"]}},
    {"name": "flag", "type": "boolean"},
    {"name": "code", "type": "long"},
    {"name": "name", "type": ["null", "string"]},
    {"name": "blob", "type": {"type": "fixed", "name": "Blob", "size": 3}},
    {"name": "inner", "type": ["null", {"type": "record", "name": "Inner", "fields": [
        {"name": "score", "type": ["null", "double"]},
        {"name": "again", "type": ["null", "Color"]}]}]},
]}
FEATURES = [FieldSpec("f32", "numeric"), FieldSpec("i", "numeric"), FieldSpec("d", "numeric"),
            FieldSpec("color", "categorical"), FieldSpec("flag", "categorical"),
            FieldSpec("code", "categorical"), FieldSpec("score", "numeric", "inner.score"),
            FieldSpec("again", "categorical", "inner.again"),
            FieldSpec("absent", "numeric", "inner.nothing")]
ARGS: tuple[Any, ...] = (FEATURES, ["name"], "ts", "ms")


def _records(n: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        out.append({
            "ts": 1_700_000_000_000 + int(rng.integers(0, 10**6)),
            "tags": ["a"] * int(rng.integers(0, 3)),
            "attrs": {"x": None if k % 2 else float(rng.random())},
            "f32": float(rng.normal()), "i": None if k % 4 == 0 else int(rng.integers(-5, 5)),
            "d": None if k % 3 == 0 else float(rng.normal(0, 1e6)),
            "color": ["red", "green"][k % 2], "flag": bool(k % 3), "code": int(k % 7) - 3,
            "name": None if k % 5 == 0 else f"n{k % 4}é", "blob": b"abc",
            "inner": None if k % 6 == 0 else {"score": None if k % 7 == 0 else float(k),
                                               "again": None if k % 2 else "green"},
        })
    return out






def test_native_columns_equal_the_exact_path_on_every_type() -> None:
    values = avro_bodies(SCHEMA, _records(9000, 1))  # three chunks
    native = AvroDecoder(*ARGS, schema=SCHEMA)
    exact = AvroDecoder(*ARGS, schema=SCHEMA, native=False)
    got, want = native.decode(values), exact.decode(values)
    assert native.fast_chunks == 3 and native.exact_chunks == 0
    assert got.n == 9000 and exact.fast_chunks == 0
    assert_same_values(got, want)
    assert dead(got) == dead(want)
    assert got.categorical["flag"].column().values[:3].tolist() == ["false", "true", "true"]
    assert got.categorical["code"].column().values[:2].tolist() == ["-3", "-2"]
    assert got.numeric["absent"].null.all()


def test_a_broken_chunk_goes_the_exact_way_and_keeps_its_reasons() -> None:
    values = avro_bodies(SCHEMA, _records(5000, 2))
    values[10] = values[10][:7]            # truncated
    values[4200] = values[4200] + b"\x00"  # a byte left over: fastavro ignores it
    rows = _records(1, 3)
    rows[0]["d"] = float("nan")            # NaN in a monitored number
    values[4300] = avro_bodies(SCHEMA, rows)[0]
    native = AvroDecoder(*ARGS, schema=SCHEMA)
    got = native.decode(values)
    want = AvroDecoder(*ARGS, schema=SCHEMA, native=False).decode(values)
    assert native.fast_chunks == 0 and native.exact_chunks == 2
    assert [(d.index, d.reason) for d in got.dead_letters] == [(10, "invalid_avro")]
    assert_same_values(got, want)
    assert dead(got) == dead(want)
    assert np.isnan(got.numeric["d"].values[4299]) and not got.numeric["d"].null[4299]


@pytest.mark.parametrize("schema", [
    {"type": "record", "name": "A", "fields": [
        {"name": "xs", "type": {"type": "array", "items": "double"}}]},  # path through array
    {"type": "record", "name": "B", "fields": [{"name": "x", "type": "string"}]},  # text as number
    {"type": "record", "name": "C", "fields": [{"name": "x", "type": "boolean"}]},
    {"type": "record", "name": "L", "fields": [
        {"name": "x", "type": "double"}, {"name": "next", "type": ["null", "L"]}]},  # recursive
    "double",  # not a record
])
def test_schemas_the_native_reader_leaves_to_the_exact_path(schema: Any) -> None:
    leaves = [("x", "numeric", ("x",)), ("y", "numeric", ("xs", "y"))]
    assert compile_program(schema, leaves) is None


def test_container_files_read_natively_give_the_exact_columns(tmp_path: Any) -> None:
    from fastavro import writer

    from driftline.stream.decode.decoder import Decoder
    from driftline.stream.sources.files import read_events

    rows = _records(6000, 4)
    rows[5500]["d"] = float("nan")  # this record's block goes the exact way
    path = tmp_path / "events.avro"
    with path.open("wb") as fh:
        writer(fh, parse_schema(SCHEMA), rows, codec="deflate", sync_interval=20_000)
    dec = Decoder(*ARGS)
    got = read_events(path, dec)
    want = AvroDecoder(*ARGS, schema=SCHEMA, native=False).decode(avro_bodies(SCHEMA, rows))
    assert dec.fast_chunks >= 2 and got.n == 6000
    assert_same_values(got, want)
    assert dead(got) == dead(want)
