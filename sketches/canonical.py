"""The one place that turns raw feature values into canonical category labels or floats.

Category labels (used by the stream decoder and by baseline building alike):

* ``None`` and float NaN are **null**;
* booleans become ``"true"`` / ``"false"`` (so JSON ``true``, a Parquet bool and a NumPy bool
  give the same label; the *strings* ``"True"``/``"TRUE"`` are left as they are);
* integers, and floats with an integral value, become their decimal integer text: ``3``,
  ``3.0`` and ``np.int8(3)`` are all ``"3"`` (small-integer codes are categories, not numbers);
* other finite floats become their shortest round-trip text (``0.5`` -> ``"0.5"``);
* strings are kept verbatim (a lone surrogate, which JSON can escape but UTF-8 cannot encode,
  becomes U+FFFD so every label can be written to checkpoints, results and metrics); bytes are
  decoded as UTF-8;
* everything else (dicts, lists, ±inf, undecodable bytes, arbitrary objects) is **invalid**.

Numbers (:func:`canonical_numbers`): ints, floats and bools (as 1.0/0.0) are values (an
integer beyond float range, e.g. 400 digits, reads as ±inf like ``1e400``); NaN/±inf stay in
the values (the numeric sketch counts them apart); None is null; strings, dicts, lists
are invalid (strings are parsed only with ``parse_strings=True``).

Example:
    >>> import numpy as np
    >>> labels, null, invalid = canonical_categories(
    ...     np.array([True, 3, 3.0, "eu", None, {"a": 1}], dtype=object))
    >>> labels.tolist(), null.tolist(), invalid.tolist()
    (['true', '3', '3', 'eu', '', ''], [False, False, False, False, True, False], \
[False, False, False, False, False, True])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import repeat
from typing import Any

import numpy as np

_NULL = 0
_STR = 1
_BOOL = 2
_INT = 3
_FLOAT = 4
_OTHER = 5
_KINDS: dict[type, int] = {type(None): _NULL, str: _STR, bool: _BOOL, np.bool_: _BOOL,
                           int: _INT, float: _FLOAT, np.float64: _FLOAT, np.float32: _FLOAT,
                           np.str_: _STR}


def _kind_codes(values: np.ndarray) -> np.ndarray:
    # map() over builtins iterates in C: no Python-level loop per value.
    types = map(type, values.tolist())
    return np.fromiter(map(_KINDS.get, types, repeat(_OTHER)), dtype=np.int8,
                       count=values.shape[0])


def canonical_categories(values: np.ndarray | Sequence[Any]) -> tuple[np.ndarray, np.ndarray,
                                                                       np.ndarray]:
    """Return ``(labels, null_mask, invalid_mask)``; labels is an object array of ``str`` with
    ``""`` at null/invalid rows. Typed NumPy arrays (bool, int, float, str) take a fully
    vectorized path; object arrays are classified by type once and converted per kind."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    n = arr.shape[0]
    kind = arr.dtype.kind
    if kind == "b":
        labels = np.where(arr, "true", "false").astype(object)
        return labels, np.zeros(n, bool), np.zeros(n, bool)
    if kind in "iu":
        return arr.astype(str).astype(object), np.zeros(n, bool), np.zeros(n, bool)
    if kind == "f":
        return _floats_to_labels(arr.astype(np.float64, copy=False))
    if kind == "U":
        labels = arr.astype(object)
        _valid_text(labels, np.arange(n))
        return labels, np.zeros(n, bool), np.zeros(n, bool)
    if kind == "S":
        return _from_objects(arr.astype(object))
    return _from_objects(arr.astype(object, copy=False))


def _floats_to_labels(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    null = np.isnan(x)
    invalid = np.isinf(x)
    labels = np.full(x.shape[0], "", dtype=object)
    ok = ~(null | invalid)
    xs = x[ok]
    integral = xs == np.trunc(xs)
    big = np.abs(xs) >= 2.0**63
    out = np.empty(xs.shape[0], dtype=object)
    as_int = integral & ~big
    out[as_int] = xs[as_int].astype(np.int64).astype(str)
    rest = ~as_int
    if rest.any():
        out[rest] = [repr(float(v)) if not (i and b) else str(int(v))
                     for v, i, b in zip(xs[rest].tolist(), integral[rest].tolist(),
                                        big[rest].tolist(), strict=True)]
    labels[ok] = out
    return labels, null, invalid


def _from_objects(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = arr.shape[0]
    codes = _kind_codes(arr)
    labels = np.full(n, "", dtype=object)
    null = codes == _NULL
    invalid = np.zeros(n, dtype=bool)
    is_str = codes == _STR
    labels[is_str] = arr[is_str]
    _valid_text(labels, np.flatnonzero(is_str))
    is_bool = codes == _BOOL
    if is_bool.any():
        labels[is_bool] = np.where(arr[is_bool].astype(bool), "true", "false")
    is_int = codes == _INT
    if is_int.any():
        ints = arr[is_int]
        try:
            labels[is_int] = ints.astype(np.int64).astype(str)
        except OverflowError:  # beyond int64: Python's text (invalid past its digit limit)
            text = [_int_text(v) for v in ints.tolist()]
            labels[is_int] = text
            idx = np.flatnonzero(is_int)
            invalid[idx[[t == "" for t in text]]] = True
    is_float = codes == _FLOAT
    if is_float.any():
        fl, fnull, finv = _floats_to_labels(arr[is_float].astype(np.float64))
        labels[is_float] = fl
        idx = np.flatnonzero(is_float)
        null[idx[fnull]] = True
        invalid[idx[finv]] = True
    other = np.flatnonzero(codes == _OTHER)
    for i in other.tolist():  # rare exotic types only: numpy scalars, bytes, dicts, lists
        label, is_null, is_invalid = _one_label(arr[i])
        labels[i] = label
        null[i] = is_null
        invalid[i] = is_invalid
    return labels, null, invalid


def _one_label(v: Any) -> tuple[str, bool, bool]:
    if isinstance(v, bool | np.bool_):
        return ("true" if v else "false"), False, False
    if isinstance(v, int | np.integer):
        text = _int_text(int(v))
        return text, False, text == ""
    if isinstance(v, float | np.floating):
        f = float(v)
        if math.isnan(f):
            return "", True, False
        if math.isinf(f):
            return "", False, True
        return (str(int(f)) if f == math.trunc(f) else repr(f)), False, False
    if isinstance(v, str):
        return _clean(str(v)), False, False
    if isinstance(v, bytes | bytearray):
        try:
            return bytes(v).decode("utf-8"), False, False
        except UnicodeDecodeError:
            return "", False, True
    return "", False, True


def _int_text(v: int) -> str:
    try:
        return str(v)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return ""


def _to_float(v: Any) -> float:
    """``float(v)``, or ±inf for an integer beyond float range (as ``1e400`` reads)."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _valid_text(labels: np.ndarray, rows: np.ndarray) -> None:
    """Replace lone surrogates (JSON allows the escape ``"\\ud800"``; UTF-8 cannot encode it)
    in the string labels at ``rows`` by U+FFFD, in place: one C-level check for the whole
    batch, per value only when it fails."""
    if not rows.shape[0]:
        return
    try:
        "".join(labels[rows].tolist()).encode("utf-8")
        return
    except UnicodeEncodeError:
        pass
    for i in rows.tolist():
        labels[i] = _clean(labels[i])


def _clean(s: str) -> str:
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def canonical_numbers(values: np.ndarray | Sequence[Any], parse_strings: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(floats, null_mask, invalid_mask)``; floats is float64 with 0.0 at null/invalid
    rows (NaN/±inf values are kept as they are: the numeric sketch counts them).

    Example:
        >>> import numpy as np
        >>> x, null, bad = canonical_numbers(np.array([1, 2.5, None, "x", True], dtype=object))
        >>> x.tolist(), null.tolist(), bad.tolist()
        ([1.0, 2.5, 0.0, 0.0, 1.0], [False, False, True, False, False], \
[False, False, False, True, False])
    """
    arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    n = arr.shape[0]
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64, copy=False), np.zeros(n, bool), np.zeros(n, bool)
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    codes = _kind_codes(arr)
    out = np.zeros(n, dtype=np.float64)
    null = codes == _NULL
    numeric = (codes == _BOOL) | (codes == _INT) | (codes == _FLOAT)
    invalid = ~(numeric | null)
    if numeric.any():
        try:
            out[numeric] = arr[numeric].astype(np.float64)
        except OverflowError:  # an integer beyond float range (JSON allows 309+ digits)
            out[numeric] = [_to_float(v) for v in arr[numeric].tolist()]
    for i in np.flatnonzero(invalid).tolist():  # strings / exotic objects only
        v = arr[i]
        if isinstance(v, np.bool_ | np.integer | np.floating):
            out[i] = float(v)
            invalid[i] = False
        elif parse_strings and isinstance(v, str | bytes):
            try:
                out[i] = float(v)
                invalid[i] = False
            except ValueError:
                pass
    return out, null, invalid
