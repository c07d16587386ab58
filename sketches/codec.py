"""Binary framing shared by every serialized driftline object.

A frame is ``magic(4) | version(u16) | kind(u8) | flags(u8) | length(u32) | crc32(u32) | payload``
(little endian, 16-byte header). The header is validated (magic, version, kind, exact length,
CRC-32 of the payload) *before* any byte reaches datasketches' C++ deserializers, so a truncated
or corrupted blob raises :class:`SketchFormatError` instead of crashing deep inside C++.

Example:
    >>> blob = frame(Kind.SCHEMA, b"hello")
    >>> unframe(blob, Kind.SCHEMA)
    b'hello'
    >>> unframe(blob[:-1], Kind.SCHEMA)
    Traceback (most recent call last):
    ...
    driftline.sketches.codec.SketchFormatError: truncated schema blob: header says 5 payload ...
"""

from __future__ import annotations

import struct
import zlib
from enum import IntEnum
from typing import Any

import numpy as np

MAGIC = b"DLSK"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<4sHBBII")
HEADER_SIZE = _HEADER.size


class SketchFormatError(ValueError):
    """A serialized sketch, profile, schema or baseline cannot be read (clear reason inside)."""


class Kind(IntEnum):
    """What a frame contains; checked on read so a profile is never parsed as a baseline."""

    SCHEMA = 1
    NUMERIC = 2
    CATEGORICAL = 3
    PROFILE = 4
    BASELINE = 5
    PERFORMANCE = 6
    CALIBRATION = 7
    STATE = 8
    ERROR_MAP = 9


def frame(kind: Kind, payload: bytes, flags: int = 0) -> bytes:
    """Wrap ``payload`` in a header carrying magic, format version, kind, length and CRC-32."""
    return _HEADER.pack(MAGIC, FORMAT_VERSION, int(kind), flags, len(payload),
                        zlib.crc32(payload)) + payload


def unframe(data: bytes | bytearray | memoryview, kind: Kind) -> bytes:
    """Validate a frame and return its payload; raise :class:`SketchFormatError` otherwise."""
    name = kind.name.lower()
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SketchFormatError(f"expected bytes for a {name} blob, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise SketchFormatError(
            f"truncated {name} blob: {len(data)} bytes, a header alone is {HEADER_SIZE}")
    magic, version, got_kind, _flags, length, crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SketchFormatError(f"not a driftline {name} blob (bad magic {magic!r})")
    if version != FORMAT_VERSION:
        raise SketchFormatError(
            f"unsupported driftline format version {version} in {name} blob "
            f"(this driftline reads version {FORMAT_VERSION}); rebuild it with a matching release")
    if got_kind != kind:
        try:
            got = Kind(got_kind).name.lower()
        except ValueError:
            got = f"unknown kind {got_kind}"
        raise SketchFormatError(f"expected a {name} blob, got a {got} blob")
    payload = data[HEADER_SIZE:]
    if len(payload) < length:
        raise SketchFormatError(
            f"truncated {name} blob: header says {length} payload bytes, got {len(payload)}")
    if len(payload) > length:
        raise SketchFormatError(
            f"corrupt {name} blob: {len(payload) - length} unexpected trailing bytes")
    if zlib.crc32(payload) != crc:
        raise SketchFormatError(f"corrupt {name} blob: checksum mismatch")
    return payload


class Writer:
    """Append-only little-endian encoder for payloads."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, v: int) -> None:
        self._parts.append(struct.pack("<B", v))

    def u64(self, v: int) -> None:
        self._parts.append(struct.pack("<Q", v))

    def f64(self, v: float) -> None:
        self._parts.append(struct.pack("<d", v))

    def blob(self, v: bytes) -> None:
        self._parts.append(struct.pack("<I", len(v)))
        self._parts.append(v)

    def text(self, v: str) -> None:
        self.blob(v.encode("utf-8"))

    def array(self, v: np.ndarray, dtype: str) -> None:
        self.blob(np.ascontiguousarray(v, dtype=dtype).tobytes())

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Bounds-checked decoder; every overrun is a :class:`SketchFormatError`."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    def _take(self, n: int) -> bytes:
        end = self._pos + n
        if n < 0 or end > len(self._data):
            raise SketchFormatError(f"corrupt {self._what}: field runs past the end of the data")
        out = self._data[self._pos:end]
        self._pos = end
        return out

    def u8(self) -> int:
        return int(struct.unpack("<B", self._take(1))[0])

    def fields(self, fmt: struct.Struct) -> tuple[Any, ...]:
        """Several fixed-size fields at once (``fmt`` a little-endian ``struct.Struct``)."""
        return fmt.unpack(self._take(fmt.size))

    def u64(self) -> int:
        return int(struct.unpack("<Q", self._take(8))[0])

    def f64(self) -> float:
        return float(struct.unpack("<d", self._take(8))[0])

    def blob(self) -> bytes:
        (n,) = struct.unpack("<I", self._take(4))
        return self._take(int(n))

    def text(self) -> str:
        try:
            return self.blob().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SketchFormatError(f"corrupt {self._what}: invalid UTF-8 text") from exc

    def array(self, dtype: str) -> np.ndarray:
        raw = self.blob()
        size = np.dtype(dtype).itemsize
        if len(raw) % size:
            raise SketchFormatError(f"corrupt {self._what}: array length not a multiple of {size}")
        return np.frombuffer(raw, dtype=dtype).copy()

    def at_end(self) -> bool:
        return self._pos >= len(self._data)

    def done(self) -> None:
        if self._pos != len(self._data):
            raise SketchFormatError(f"corrupt {self._what}: {len(self._data) - self._pos} "
                                    "unread trailing bytes")
