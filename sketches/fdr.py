"""Multiple-testing control across the many feature x cohort tests of one window.

Example:
    >>> bh_adjust([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bh_adjust(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), in input order. NaN p-values (e.g.
    insufficient data) stay NaN and do not count as tests. Declaring drift where
    ``q < alpha`` keeps the expected false discovery rate at most ``alpha``."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    pv = p[ok]
    order = np.argsort(pv, kind="stable")
    ranked = pv[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    res = np.empty(m)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out
