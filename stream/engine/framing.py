"""Versioned frames for engine state: a kind tag, its version, JSON metadata, binary blobs.

Engine state travels in the one frame format of every serialized driftline object
(:func:`sketches.codec.frame`, kind ``STATE``: magic, format version, length and CRC-32 checked
before anything is parsed). Its payload is ``tag (4 bytes) | version u16 | meta length u32 |
meta JSON | (blob length u32 | blob)*``; the tag says which state it is (an aggregator's, a
partial window, a merger's...), so one is never read as another, and the version which of its
layouts.

Frames written before that (tag, version and CRC in a header of their own, the same body) are
still read, so checkpoints and partials of an older release restore after an upgrade.

>>> data = pack(b"DLXX", 1, {"a": 1}, [b"xyz"])
>>> unpack(data, b"DLXX", {1})
(1, {'a': 1}, [b'xyz'])
>>> unpack(data[:-1], b"DLXX", {1})
Traceback (most recent call last):
...
driftline.stream.engine.framing.StateFormatError: truncated state blob: header says ...
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import Any

import orjson

from driftline.sketches.codec import MAGIC, Kind, SketchFormatError, frame, unframe


class StateFormatError(ValueError):
    """Bytes that are not a valid engine state frame (wrong kind, version, truncated, corrupt)."""


_TAG = struct.Struct("<4sH")
_LEGACY = struct.Struct("<4sHI")  # tag, version, crc32 of the rest
_LEN = struct.Struct("<I")


def pack(magic: bytes, version: int, meta: Any, blobs: Iterable[bytes] = ()) -> bytes:
    """One state frame: ``magic`` is the state's 4-byte tag, ``version`` its layout."""
    meta_b = orjson.dumps(meta, option=orjson.OPT_NON_STR_KEYS)
    parts = [_TAG.pack(magic, version), _LEN.pack(len(meta_b)), meta_b]
    for b in blobs:
        parts.append(_LEN.pack(len(b)))
        parts.append(bytes(b))
    return frame(Kind.STATE, b"".join(parts))


def unpack(data: bytes, magic: bytes, versions: set[int]) -> tuple[int, Any, list[bytes]]:
    """``(version, meta, blobs)`` of a frame tagged ``magic`` in one of ``versions``."""
    if data[:4] == MAGIC:
        try:
            payload = memoryview(unframe(data, Kind.STATE))
        except SketchFormatError as exc:
            raise StateFormatError(str(exc)) from None
        if len(payload) < _TAG.size:
            raise StateFormatError(f"truncated state: {len(payload)} bytes")
        got, version = _TAG.unpack_from(payload)
        body = payload[_TAG.size:]
    else:
        got, version, body = _legacy(data)
    if got != magic:
        raise StateFormatError(f"not a {magic.decode()} frame (tag {got!r})")
    if version not in versions:
        raise StateFormatError(
            f"{magic.decode()} format version {version} is not supported "
            f"(known: {sorted(versions)})"
        )
    return version, *_body(body)


def _legacy(data: bytes) -> tuple[bytes, int, memoryview]:
    """A frame of an older release: its own header with the CRC of the body."""
    if len(data) < _LEGACY.size + 4:
        raise StateFormatError(f"truncated state: {len(data)} bytes")
    got, version, crc = _LEGACY.unpack_from(data)
    body = memoryview(data)[_LEGACY.size:]
    if zlib.crc32(body) != crc:
        raise StateFormatError(f"{got!r} frame is corrupt or truncated (checksum mismatch)")
    return got, version, body


def _body(body: memoryview) -> tuple[Any, list[bytes]]:
    if len(body) < 4:
        raise StateFormatError("truncated metadata")
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
    return meta, blobs
