"""Native fast path of the Protobuf decoder: a chunk of messages to columns in Rust.

:func:`compile_proto` turns the message type and the decoder's leaves into the messages on the
monitored paths, each with the fields the columns need, for ``stream.decode._jsoncols.ProtoReader``;
every other field is skipped by its wire type. Values are read as the exact path reads them
(:func:`stream.decode.protobuf.field_getter`): a field without presence that was not sent is its
default (0, ``""``, ``false``, the enum's zero name), one with presence is a null, an enum is its
value name. It declines a chunk (the protobuf runtime then decodes it) on anything the runtime
might read differently: a monitored field sent twice, another wire type, groups, an unknown
enum number, invalid UTF-8, NaN or an infinity in a monitored number, a truncated message.
The compiler leaves the type to the exact path (``None``) when a monitored field is in a real
``oneof``, is ``bytes``, or has a type whose canonicalization the reader does not reproduce (a
boolean, text or enum as a number, a float as a category, text as an event time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from driftline.stream.decode.avro_native import NativeRecordsReader

try:
    from driftline.stream.decode._jsoncols import ProtoReader as _ProtoReader
except ImportError:  # built without a Rust toolchain, or an older build
    _ProtoReader = None

Leaf = tuple[str, str, tuple[str, ...]]
_F = FieldDescriptor
_INTS = {_F.TYPE_INT64: "int64", _F.TYPE_UINT64: "uint64", _F.TYPE_INT32: "int32",
         _F.TYPE_UINT32: "uint32", _F.TYPE_SINT32: "sint32", _F.TYPE_SINT64: "sint64",
         _F.TYPE_FIXED32: "fixed32", _F.TYPE_FIXED64: "fixed64", _F.TYPE_SFIXED32: "sfixed32",
         _F.TYPE_SFIXED64: "sfixed64"}
_FLOATS = {_F.TYPE_DOUBLE: "double", _F.TYPE_FLOAT: "float"}
_READS = {"numeric": {**_INTS, **_FLOATS},
          "time": {**_INTS, **_FLOATS},
          "category": {**_INTS, _F.TYPE_BOOL: "bool", _F.TYPE_STRING: "string",
                       _F.TYPE_ENUM: "enum"}}
_KIND = {"numeric": "numeric", "categorical": "category", "segment": "category", "time": "time"}


class _Fallback(Exception):
    """The message type is left to the exact path."""


def _default(fd: Any, names: dict[int, str]) -> tuple[float, str]:
    """The value of a field without presence that was not sent, as number and as label."""
    value = fd.default_value
    if fd.type == _F.TYPE_ENUM:
        return float(value), names.get(value, str(value))
    if fd.type == _F.TYPE_BOOL:
        return float(value), "true" if value else "false"
    if fd.type == _F.TYPE_STRING:
        return 0.0, str(value)
    return float(value), str(int(value)) if fd.type in _INTS else ""


def compile_proto(desc: Descriptor, leaves: Sequence[Leaf]) -> NativeRecordsReader | None:
    """A native reader for messages of type ``desc``, or None (the exact path then)."""
    if _ProtoReader is None:
        return None
    numeric = [lf for lf in leaves if _KIND[lf[1]] == "numeric"]
    category = [lf for lf in leaves if _KIND[lf[1]] == "category"]
    captures: dict[tuple[str, ...], list[tuple[str, int]]] = {}
    for cols, kind in ((numeric, "numeric"), (category, "category")):
        for i, (_, _, keys) in enumerate(cols):
            captures.setdefault(tuple(keys), []).append((kind, i))
    for _, kind, keys in leaves:
        if kind == "time":
            captures.setdefault(tuple(keys), []).append(("time", 0))
    messages: list[list[tuple[Any, ...]]] = []

    def build(d: Descriptor, path: tuple[str, ...]) -> int:
        at = len(messages)
        messages.append([])
        fields: list[tuple[Any, ...]] = []
        below = {keys[len(path)] for keys in captures
                 if keys[:len(path)] == path and len(keys) > len(path)}
        for name in sorted(below):
            fd = d.fields_by_name.get(name)
            if fd is None or fd.is_repeated:
                continue  # never a value: the exact path reads a null
            sub_path = path + (name,)
            oneof = fd.containing_oneof
            if oneof is not None and not getattr(oneof, "is_synthetic", False) and \
                    len(oneof.fields) > 1:
                raise _Fallback(f"{name} is in a oneof")
            deeper = any(len(k) > len(sub_path) and k[:len(sub_path)] == sub_path
                         for k in captures)
            if fd.type == _F.TYPE_MESSAGE:
                if deeper:
                    fields.append((fd.number, "message", build(fd.message_type, sub_path), [],
                                   False, 0.0, "", []))
                continue
            caps = captures.get(sub_path, [])
            if not caps:
                continue  # only deeper paths through a scalar: nulls
            for kind, _ in caps:
                if fd.type not in _READS[kind]:
                    raise _Fallback(f"{name} read as {kind}")
            names = ({v.number: v.name for v in fd.enum_type.values}
                     if fd.type == _F.TYPE_ENUM else {})
            default_num, default_label = _default(fd, names)
            ty = {**_INTS, **_FLOATS, _F.TYPE_BOOL: "bool", _F.TYPE_STRING: "string",
                  _F.TYPE_ENUM: "enum"}[fd.type]
            fields.append((fd.number, ty, 0, list(names.items()), not fd.has_presence,
                           default_num, default_label, caps))
        messages[at] = fields
        return at

    try:
        build(desc, ())
    except _Fallback:
        return None
    n_numeric, n_category = len(numeric), len(category)
    reader = _ProtoReader(messages, n_numeric, n_category)
    return NativeRecordsReader(reader, leaves)
