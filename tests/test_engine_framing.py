"""Engine state frames: the one checked frame format, and frames of an older release still read."""

from __future__ import annotations

import struct
import zlib

import pytest

from driftline.sketches.codec import MAGIC
from driftline.stream.engine.framing import StateFormatError, pack, unpack


def _legacy(tag: bytes, version: int, meta: bytes, blobs: list[bytes]) -> bytes:
    """A frame as releases before the one frame format wrote it."""
    body = struct.pack("<I", len(meta)) + meta
    for b in blobs:
        body += struct.pack("<I", len(b)) + b
    return struct.pack("<4sHI", tag, version, zlib.crc32(body)) + body


def test_state_frames_are_sketch_codec_frames_and_round_trip() -> None:
    data = pack(b"DLAG", 3, {"watermark": 12.5, "n": [1, 2]}, [b"abc", b""])
    assert data[:4] == MAGIC
    assert unpack(data, b"DLAG", {3}) == (3, {"watermark": 12.5, "n": [1, 2]}, [b"abc", b""])


def test_frames_of_an_older_release_restore() -> None:
    old = _legacy(b"DLAG", 2, b'{"watermark": 7.0}', [b"xyz"])
    assert unpack(old, b"DLAG", {2, 3}) == (2, {"watermark": 7.0}, [b"xyz"])
    with pytest.raises(StateFormatError, match="checksum"):
        unpack(old[:-1] + b"!", b"DLAG", {2})


@pytest.mark.parametrize("damage", ["truncate", "flip", "tag", "version"])
def test_a_damaged_or_foreign_frame_is_a_clear_error(damage: str) -> None:
    data = pack(b"DLAG", 1, {"a": 1}, [b"blob"])
    if damage == "truncate":
        bad, tag, versions = data[:-3], b"DLAG", {1}
    elif damage == "flip":
        bad, tag, versions = data[:-1] + bytes([data[-1] ^ 1]), b"DLAG", {1}
    elif damage == "tag":
        bad, tag, versions = data, b"DLPW", {1}
    else:
        bad, tag, versions = data, b"DLAG", {2}
    with pytest.raises(StateFormatError):
        unpack(bad, tag, versions)
