"""Benjamini–Hochberg: which of many simultaneous tests are discoveries at false-discovery rate q.

>>> benjamini_hochberg([0.001, 0.2, 0.03, 0.0004], q=0.05).tolist()
[True, False, True, True]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray


def benjamini_hochberg(
    p_values: Sequence[float] | NDArray[np.float64], q: float
) -> NDArray[np.bool_]:
    """Boolean mask of rejected null hypotheses (step-up procedure, valid under independence and
    positive dependence, which is what per-feature drift tests of one window show). NaN p-values
    are never rejected."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    clean = np.where(np.isnan(p), np.inf, p)
    order = np.argsort(clean, kind="stable")
    ranked = clean[order]
    limits = q * np.arange(1, m + 1) / m
    below = np.nonzero(ranked <= limits)[0]
    reject = np.zeros(m, dtype=bool)
    if below.size:
        reject[order[: below[-1] + 1]] = True
    return reject
