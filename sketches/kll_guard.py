"""Structural validation of a serialized datasketches KLL (doubles) sketch.

datasketches' C++ deserializer trusts its input: a blob with inconsistent level offsets can
crash the process. Frames carry a CRC, but a CRC only proves the bytes are the ones written,
so before deserializing we also check the KLL layout itself: family, k, m, level offsets,
level capacities, that the weighted item count equals ``n``, and that items are finite and
within ``[min, max]``.

Layout (little endian): ``preamble_ints u8 | serial_version u8 | family u8 (15) | flags u8 |
k u16 | m u8 | unused u8`` then, unless empty or single-item, ``n u64 | min_k u16 |
num_levels u8 | unused u8 | level offsets u32 * num_levels | min f64 | max f64 | items f64*``.
"""

from __future__ import annotations

import functools
import math
import struct

import numpy as np

from driftline.sketches.codec import SketchFormatError

try:  # the Rust check (sketches/native/src/kll.rs); optional, check_kll_python is its reference
    from driftline.sketches._native import kll_check as _native_kll_check
except ImportError:  # pragma: no cover - installs without a Rust toolchain
    _native_kll_check = None

_FAMILY_KLL = 15
_FLAG_EMPTY = 1
_FLAG_SINGLE = 4
_MAX_LEVELS = 61


def _cap_aux_aux(k: int, depth: int) -> int:
    twok = k << 1
    tmp = (twok << depth) // (3**depth)
    return (tmp + 1) >> 1


def _cap_aux(k: int, depth: int) -> int:
    if depth <= 30:
        return _cap_aux_aux(k, depth)
    half = depth // 2
    return _cap_aux_aux(_cap_aux_aux(k, half), depth - half)


@functools.lru_cache(maxsize=1024)
def total_capacity(k: int, m: int, num_levels: int) -> int:
    """Items a KLL with ``num_levels`` levels can hold (datasketches' compute_total_capacity)."""
    return sum(max(m, _cap_aux(k, num_levels - h - 1)) for h in range(num_levels))


def check_kll_doubles(raw: bytes, k: int, what: str) -> None:
    """Raise :class:`SketchFormatError` unless ``raw`` is a well-formed KLL doubles sketch (by
    the Rust ``sketches._native.kll_check`` when installed, else by :func:`check_kll_python`:
    the same checks and reasons)."""
    if _native_kll_check is None or type(raw) is not bytes:
        check_kll_python(raw, k, what)
        return
    reason = _native_kll_check(raw, k)
    if reason is not None:
        raise SketchFormatError(f"corrupt {what}: KLL {reason}")


def check_kll_python(raw: bytes, k: int, what: str) -> None:
    """:func:`check_kll_doubles` in Python (the reference of the native check)."""
    def bad(reason: str) -> SketchFormatError:
        return SketchFormatError(f"corrupt {what}: KLL {reason}")

    if len(raw) < 8:
        raise bad("header truncated")
    _pre, version, family, flags, got_k, m, _ = struct.unpack_from("<BBBBHBB", raw)
    if family != _FAMILY_KLL or version not in (1, 2):
        raise bad(f"family/version {family}/{version}")
    if got_k != k or m != 8:
        raise bad(f"parameters k={got_k} m={m}, expected k={k} m=8")
    if flags & _FLAG_EMPTY:
        if len(raw) != 8:
            raise bad("empty sketch with trailing bytes")
        return
    if flags & _FLAG_SINGLE:
        if len(raw) != 16 or not np.isfinite(struct.unpack_from("<d", raw, 8)[0]):
            raise bad("single-item layout")
        return
    if len(raw) < 20:
        raise bad("preamble truncated")
    n, _min_k, num_levels, _ = struct.unpack_from("<QHBB", raw, 8)
    if not 1 <= num_levels <= _MAX_LEVELS:
        raise bad(f"level count {num_levels}")
    off = 20 + 4 * num_levels
    rest = len(raw) - off - 16
    if rest < 8 or rest % 8:
        raise bad("item array length")
    levels = struct.unpack_from(f"<{num_levels}I", raw, 20)  # at most 61: plain ints
    retained = rest // 8
    capacity = total_capacity(k, m, num_levels)
    if levels[0] + retained != capacity:
        raise bad("level offsets do not match the item count")
    bounds = (*levels, capacity)
    sizes = [bounds[h + 1] - bounds[h] for h in range(num_levels)]
    if min(sizes) < 0:
        raise bad("level offsets not increasing")
    weight = sum(size << h for h, size in enumerate(sizes))
    if weight != n:
        raise bad(f"weighted item count {weight} != n {n}")
    lo, hi = struct.unpack_from("<dd", raw, off)
    items = np.frombuffer(raw, dtype="<f8", count=retained, offset=off + 16)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise bad("min/max")
    if not (items.min() >= lo and items.max() <= hi):  # NaN and inf items fail too
        raise bad("items outside [min, max]")


def kll_items(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The retained items of a serialized (well-formed) KLL doubles sketch and their weights
    (2**level), unsorted: one NumPy view of the bytes instead of iterating the sketch."""
    _pre, _version, _family, flags, k, m, _ = struct.unpack_from("<BBBBHBB", raw)
    if flags & _FLAG_EMPTY:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    if flags & _FLAG_SINGLE:
        return np.frombuffer(raw, dtype="<f8", count=1, offset=8).copy(), np.ones(1, np.int64)
    num_levels = raw[18]
    off = 20 + 4 * num_levels + 16
    capacity = total_capacity(k, m, num_levels)
    if num_levels == 1:  # exact mode: every item has weight 1
        first = struct.unpack_from("<I", raw, 20)[0]
        items = np.frombuffer(raw, dtype="<f8", count=capacity - first, offset=off)
        return items, np.ones(items.shape[0], dtype=np.int64)
    levels = np.frombuffer(raw, dtype="<u4", count=num_levels, offset=20).astype(np.int64)
    sizes = np.diff(np.append(levels, capacity))
    items = np.frombuffer(raw, dtype="<f8", count=int(sizes.sum()), offset=off)
    return items, np.repeat(np.left_shift(1, np.arange(num_levels, dtype=np.int64)), sizes)
