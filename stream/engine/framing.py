"""Versioned binary frames for engine state: magic, version, JSON metadata, binary blobs.

Layout: ``magic (4 bytes) | version u16 | crc32 u32 | meta length u32 | meta JSON |
(blob length u32 | blob)*``. The CRC covers everything after it, so a truncated or corrupt
frame fails with :class:`StateFormatError` before any blob is parsed.

>>> data = pack(b"DLXX", 1, {"a": 1}, [b"xyz"])
>>> unpack(data, b"DLXX", {1})
(1, {'a': 1}, [b'xyz'])
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import Any

import orjson


class StateFormatError(ValueError):
    """Bytes that are not a valid engine state frame (wrong kind, version, truncated, corrupt)."""


_HEAD = struct.Struct("<4sHI")
_LEN = struct.Struct("<I")


def pack(magic: bytes, version: int, meta: Any, blobs: Iterable[bytes] = ()) -> bytes:
    meta_b = orjson.dumps(meta, option=orjson.OPT_NON_STR_KEYS)
    parts = [_LEN.pack(len(meta_b)), meta_b]
    for b in blobs:
        parts.append(_LEN.pack(len(b)))
        parts.append(bytes(b))
    body = b"".join(parts)
    return _HEAD.pack(magic, version, zlib.crc32(body)) + body


def unpack(data: bytes, magic: bytes, versions: set[int]) -> tuple[int, Any, list[bytes]]:
    head = _HEAD.size
    if len(data) < head + 4:
        raise StateFormatError(f"truncated state: {len(data)} bytes")
    got_magic, version, crc = _HEAD.unpack_from(data)
    if got_magic != magic:
        raise StateFormatError(f"not a {magic.decode()} frame (magic {got_magic!r})")
    if version not in versions:
        raise StateFormatError(
            f"{magic.decode()} format version {version} is not supported "
            f"(known: {sorted(versions)})"
        )
    body = memoryview(data)[head:]
    if zlib.crc32(body) != crc:
        raise StateFormatError(
            f"{magic.decode()} frame is corrupt or truncated (checksum mismatch)")
    (mlen,) = _LEN.unpack_from(body, 0)
    pos = 4 + mlen
    if pos > len(body):
        raise StateFormatError("truncated metadata")
    meta = orjson.loads(body[4:pos])
    blobs: list[bytes] = []
    while pos < len(body):
        if pos + 4 > len(body):
            raise StateFormatError("truncated blob header")
        (blen,) = _LEN.unpack_from(body, pos)
        pos += 4
        if pos + blen > len(body):
            raise StateFormatError("truncated blob")
        blobs.append(bytes(body[pos : pos + blen]))
        pos += blen
    return version, meta, blobs
