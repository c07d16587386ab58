"""The native Protobuf reader gives exactly the exact path's columns (the protobuf runtime and
the field getters), or declines the chunk; broken messages still get their reasons."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from driftline.stream.decode.decoder import FieldSpec
from driftline.stream.decode.native import native_available
from driftline.stream.decode.protobuf import ProtobufDecoder
from driftline.stream.decode.protobuf_native import compile_proto
from tests.helpers_decode import assert_same_values, dead

pytestmark = pytest.mark.skipif(not native_available(), reason="stream._jsoncols not built")
T = descriptor_pb2.FieldDescriptorProto
SCALARS = [("d", T.TYPE_DOUBLE), ("f", T.TYPE_FLOAT), ("i64", T.TYPE_INT64),
           ("u64", T.TYPE_UINT64), ("i32", T.TYPE_INT32), ("u32", T.TYPE_UINT32),
           ("s32", T.TYPE_SINT32), ("s64", T.TYPE_SINT64), ("fx32", T.TYPE_FIXED32),
           ("fx64", T.TYPE_FIXED64), ("sf32", T.TYPE_SFIXED32), ("sf64", T.TYPE_SFIXED64)]


def _classes(extra_field: bool = False) -> Any:
    f = descriptor_pb2.FileDescriptorProto(name=f"n{int(extra_field)}.proto", package="n",
                                           syntax="proto3")
    color = f.enum_type.add(name="Color")
    for i, name in enumerate(["NONE", "RED", "GREEN"]):
        color.value.add(name=name, number=i)
    inner = f.message_type.add(name="Inner")
    inner.field.add(name="score", number=1, type=T.TYPE_DOUBLE, label=T.LABEL_OPTIONAL,
                    proto3_optional=True, oneof_index=0)
    inner.oneof_decl.add(name="_score")
    inner.field.add(name="tag", number=2, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    m = f.message_type.add(name="M")
    for n, (name, ty) in enumerate(SCALARS, start=1):
        m.field.add(name=name, number=n, type=ty, label=T.LABEL_OPTIONAL)
    m.field.add(name="ts", number=20, type=T.TYPE_INT64, label=T.LABEL_OPTIONAL)
    m.field.add(name="color", number=21, type=T.TYPE_ENUM, type_name=".n.Color",
                label=T.LABEL_OPTIONAL)
    m.field.add(name="flag", number=22, type=T.TYPE_BOOL, label=T.LABEL_OPTIONAL)
    m.field.add(name="name", number=23, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL,
                proto3_optional=True, oneof_index=0)
    m.oneof_decl.add(name="_name")
    m.field.add(name="inner", number=24, type=T.TYPE_MESSAGE, type_name=".n.Inner",
                label=T.LABEL_OPTIONAL)
    m.field.add(name="xs", number=25, type=T.TYPE_INT32, label=T.LABEL_REPEATED)
    if extra_field:  # a writer one version ahead: a field the reader does not know
        m.field.add(name="later", number=30, type=T.TYPE_STRING, label=T.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("n.M"))


M = _classes()
FEATURES = ([FieldSpec(n, "numeric") for n, _ in SCALARS if n != "sf64"]
            + [FieldSpec("sf64", "categorical"), FieldSpec("color", "categorical"),
               FieldSpec("flag", "categorical"), FieldSpec("score", "numeric", "inner.score"),
               FieldSpec("tag", "categorical", "inner.tag"),
               FieldSpec("xs", "numeric"), FieldSpec("nothing", "numeric", "inner.no")])
ARGS: tuple[Any, ...] = (FEATURES, ["name"], "ts", "ms")


def _messages(n: int, seed: int, cls: Any = M) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        m = cls(ts=1_700_000_000_000 + k)
        for name, _ in SCALARS:
            if k % 5:  # every 5th message leaves the scalars at their defaults
                v = int(rng.integers(0, 2**31 - 1)) * (-1 if "s" in name[:1] and k % 2 else 1)
                if name.startswith("u") or name.startswith("fx"):
                    v = abs(v)
                setattr(m, name, float(v) / 7 if name in ("d", "f") else v)
        m.color = k % 3
        m.flag = bool(k % 2)
        if k % 4:
            m.name = f"n{k % 3}"
        if k % 6:
            m.inner.tag = ["", "a", "b"][k % 3]
            if k % 7:
                m.inner.score = float(k)
        m.xs.extend(range(k % 3))
        if hasattr(m, "later"):
            m.later = "x"
        out.append(m.SerializeToString())
    return out


def test_native_columns_equal_the_exact_path_on_every_type() -> None:
    values = _messages(9000, 1) + _messages(200, 2, _classes(extra_field=True))
    native = ProtobufDecoder(*ARGS, message=M)
    got = native.decode(values)
    want = ProtobufDecoder(*ARGS, message=M, native=False).decode(values)
    assert native.exact_chunks == 0 and got.n == 9200
    assert_same_values(got, want)
    assert dead(got) == dead(want)
    assert got.categorical["color"].column().values[:3].tolist() == ["NONE", "RED", "GREEN"]
    assert got.numeric["xs"].null.all() and got.numeric["nothing"].null.all()


def test_a_chunk_the_native_reader_declines_gives_the_same_columns_and_reasons() -> None:
    values = _messages(5000, 3)
    values[7] = values[7][:-3]                 # truncated
    values[4501] = values[4501] + values[4501][:9]  # d sent twice: the last one wins
    nan = M(d=float("nan"), ts=5)
    values[4600] = nan.SerializeToString()
    native = ProtobufDecoder(*ARGS, message=M)
    got = native.decode(values)
    want = ProtobufDecoder(*ARGS, message=M, native=False).decode(values)
    assert native.exact_chunks == 2
    assert_same_values(got, want)
    assert dead(got) == dead(want)
    assert [d.reason for d in got.dead_letters] == ["invalid_protobuf"]
    assert values[4501][0] == 0x09  # field 1 (d), 64-bit: really sent twice
    # chunk 2 alone with only the repeated field: still declined, still the same columns
    one = ProtobufDecoder(*ARGS, message=M)
    exact = ProtobufDecoder(*ARGS, message=M, native=False)
    got, want = one.decode(values[4096:4600]), exact.decode(values[4096:4600])
    assert_same_values(got, want)
    assert dead(got) == dead(want)
    assert one.exact_chunks == 1


def test_types_left_to_the_exact_path() -> None:
    assert compile_proto(M.DESCRIPTOR, [("name", "numeric", ("name",))]) is None  # text
    assert compile_proto(M.DESCRIPTOR, [("flag", "numeric", ("flag",))]) is None  # bool
    assert compile_proto(M.DESCRIPTOR, [("d", "categorical", ("d",))]) is None  # float label
    assert compile_proto(M.DESCRIPTOR, [("d", "numeric", ("d",))]) is not None
