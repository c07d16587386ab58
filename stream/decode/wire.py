"""The Confluent wire format: ``0x00 | schema id (4 bytes, big-endian) | body``; Protobuf bodies
start with the message indexes (zig-zag varints: a count, then that many indexes; a single
``0`` byte stands for ``[0]``, the first message of the schema).

>>> by_id, bodies, bad = split_frames([b"\\x00\\x00\\x00\\x00\\x07abc", b"\\x01xxxxx", b"\\x00"])
>>> by_id, bodies
({7: [0]}, [b'abc', b'', b''])
>>> [why for _, _, why in bad]
['first byte 1, expected 0', '1 bytes, shorter than the 5-byte header']
>>> skip_message_indexes(b"\\x00body"), skip_message_indexes(b"\\x02\\x02body")
(b'body', b'body')
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

_HEADER = struct.Struct(">bI")


def split_frames(values: Sequence[bytes], bodies: bool = True
                 ) -> tuple[dict[int, list[int]], list[bytes], list[tuple[int, str, str]]]:
    """Group framed records by schema id: ``{id: [positions]}``, the bodies (by position; empty
    for bad frames; none at all with ``bodies=False``) and the bad frames as
    ``(position, "bad_magic_byte", detail)``."""
    by_id: dict[int, list[int]] = {}
    out: list[bytes] = []
    bad: list[tuple[int, str, str]] = []
    for i, v in enumerate(values):
        if len(v) < 5 or v[0] != 0:
            why = (f"{len(v)} bytes, shorter than the 5-byte header" if len(v) < 5
                   else f"first byte {v[0]}, expected 0")
            bad.append((i, "bad_magic_byte", why))
            if bodies:
                out.append(b"")
            continue
        _, sid = _HEADER.unpack_from(v)
        by_id.setdefault(sid, []).append(i)
        if bodies:
            out.append(v[5:])
    return by_id, out, bad


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("truncated message indexes")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def skip_message_indexes(body: bytes) -> bytes:
    """The Protobuf message after the message indexes (``ValueError`` when they are cut)."""
    if body[:1] == b"\x00":
        return body[1:]
    count, pos = _varint(body, 0)
    if count < 0 or count > 64:
        raise ValueError(f"bad message-index count {count}")
    for _ in range(count):
        _, pos = _varint(body, pos)
    return body[pos:]
