"""Grouping rows by small integer keys: the aggregator's (window, cohort) groups.

>>> keys = np.array([3, 1, 3, 0, 1])
>>> uniq, inverse = unique_small(keys)
>>> uniq.tolist(), inverse.tolist()
([0, 1, 3], [2, 1, 2, 0, 1])
>>> order = np.argsort(narrow(inverse, len(uniq)), kind="stable")
>>> order.tolist(), bounds(inverse[order])
([3, 1, 4, 0, 2], [(0, 1), (1, 3), (3, 5)])
"""

from __future__ import annotations

import numpy as np


def unique_small(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for non-negative keys of a small range, by a
    lookup table instead of a sort (same result)."""
    top = int(keys.max()) + 1 if keys.shape[0] else 0
    if top > 4 * keys.shape[0] + 1024:
        return np.unique(keys, return_inverse=True)  # type: ignore[no-any-return]
    present = np.zeros(top, dtype=bool)
    present[keys] = True
    return np.flatnonzero(present), (np.cumsum(present) - 1)[keys]


def narrow(values: np.ndarray, bound: int) -> np.ndarray:
    """Values in ``[0, bound)`` as the narrowest integer type: numpy's stable sort is a radix
    sort for 8/16-bit integers (the same order, several times faster)."""
    if bound <= 256:
        return values.astype(np.uint8)
    if bound <= 65536:
        return values.astype(np.uint16)
    return values


def bounds(sorted_keys: np.ndarray) -> list[tuple[int, int]]:
    """``(lo, hi)`` of each run of equal keys in a sorted array."""
    cuts = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    edges = [0, *cuts.tolist(), int(sorted_keys.shape[0])]
    return list(zip(edges[:-1], edges[1:], strict=True))


def busiest_first(inverse: np.ndarray, n: int) -> list[int]:
    """The group numbers ``0..n-1`` of ``inverse`` by descending size (ties in order): the
    aggregator routes the busiest values of a batch first, so a flood of rare ones does not
    take the local cohort slots.

    >>> busiest_first(np.array([0, 1, 1, 2, 1, 2]), 3)
    [1, 2, 0]
    """
    return np.argsort(-np.bincount(inverse, minlength=n), kind="stable").tolist()  # type: ignore[no-any-return]
