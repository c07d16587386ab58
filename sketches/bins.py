"""Aligning a current and a baseline feature sketch on common bins, and the empty-bin rule.

Numeric bins are the baseline's quantile edges; when both sketches carry exact bin counts over
the same edges (the normal case: live profiles are built from the baseline schema) the table is
exact. Otherwise bin counts are read from the KLL CDFs (approximate, error reported).
Categorical bins are the baseline vocabulary plus one ``__other__`` bin.

Example:
    >>> import numpy as np
    >>> from driftline.sketches.schema import NumericSpec
    >>> from driftline.sketches.numeric import NumericSketch
    >>> spec = NumericSpec("x", edges=(0.0,))
    >>> a, b = NumericSketch(spec), NumericSketch(spec)
    >>> a.update(np.array([-1.0, 1.0, 2.0])); b.update(np.array([-1.0, -2.0, 3.0]))
    >>> t = bin_table(a, b); t.labels, t.current.tolist(), t.baseline.tolist(), t.exact
    (('(-inf, 0)', '[0, inf)'), [1, 2], [2, 1], True)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from driftline.sketches.categorical import CategoricalSketch
from driftline.sketches.numeric import NumericSketch

OTHER = "__other__"
EMPTY_BIN_COUNT = 0.5
DEFAULT_BINS = 10
MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class BinTable:
    """Counts of the current and baseline samples over common bins. ``share_error`` bounds the
    error of any single bin share (0 when ``exact``)."""

    labels: tuple[str, ...]
    current: np.ndarray
    baseline: np.ndarray
    exact: bool
    share_error: float

    def shares(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """Smoothed shares ``(labels, p_current, q_baseline)`` for PSI.

        Empty-bin rule: bins empty on *both* sides carry no information and are dropped; a bin
        empty on one side only gets a pseudo-count of 0.5 on that side, and each side is then
        renormalized to sum to 1. The pseudo-count is on the count scale, so its effect shrinks
        as 1/n: it keeps PSI finite without inventing mass in large samples.
        """
        labels, c, b = self.nonempty()
        p, q = smoothed_shares(c, b)
        return labels, p, q

    def nonempty(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """Labels and counts of the bins that are not empty on both sides."""
        keep = (self.current + self.baseline) > 0
        labels = tuple(lab for lab, k in zip(self.labels, keep.tolist(), strict=True) if k)
        return labels, self.current[keep], self.baseline[keep]


def smoothed_shares(c: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shares of two count vectors (no bin empty on both sides) with the empty-bin rule."""
    c = np.where(c > 0, c, EMPTY_BIN_COUNT).astype(np.float64)
    b = np.where(b > 0, b, EMPTY_BIN_COUNT).astype(np.float64)
    return c / c.sum(), b / b.sum()


def pool_sparse(c: np.ndarray, b: np.ndarray, min_expected: float = MIN_EXPECTED
                ) -> tuple[np.ndarray, np.ndarray]:
    """Merge bins whose expected count under no drift, ``pooled share * min(n, m)``, is below
    ``min_expected`` (Cochran's rule) into one bin -- together with the next smallest bins
    until that bin reaches ``min_expected`` too. Used for p-values only: chi-square
    approximations of PSI, JS and X^2 fail on sparse bins (rare categories, small windows).
    Bins empty on both sides are dropped first."""
    c = np.asarray(c, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    keep = (c + b) > 0
    c, b = c[keep], b[keep]
    small = min(c.sum(), b.sum())
    expected = (c + b) / (c.sum() + b.sum()) * small
    order = np.argsort(expected, kind="stable")
    cum = np.cumsum(expected[order])
    k = int(np.searchsorted(expected[order], min_expected))  # bins below the rule
    if k == 0:
        return c, b
    k = max(k, int(np.searchsorted(cum, min_expected)) + 1)  # pooled bin must pass it too
    k = min(k, len(order))
    head, tail = order[:k], order[k:]
    return (np.append(c[tail], c[head].sum()), np.append(b[tail], b[head].sum()))


def bin_table(cur: NumericSketch | CategoricalSketch,
              base: NumericSketch | CategoricalSketch) -> BinTable:
    """Bin ``cur`` and ``base`` on the baseline's bins (see the module docstring)."""
    if isinstance(cur, NumericSketch) and isinstance(base, NumericSketch):
        return _numeric_table(cur, base)
    if isinstance(cur, CategoricalSketch) and isinstance(base, CategoricalSketch):
        return _categorical_table(cur, base)
    raise TypeError(f"cannot compare a {type(cur).__name__} with a {type(base).__name__}")


def _numeric_table(cur: NumericSketch, base: NumericSketch) -> BinTable:
    edges = base.spec.edges if base.spec.edges is not None else cur.spec.edges
    if edges is None:
        edges = quantile_edges_from_sketch(base, DEFAULT_BINS)
    err = 0.0
    counts = []
    for s in (cur, base):
        bins = s.bin_counts if s.spec.edges == edges else None
        if bins is None:
            bins = _counts_from_cdf(s, np.asarray(edges, dtype=np.float64))
            err = max(err, 2.0 * s.rank_error)
        counts.append(bins)
    return BinTable(numeric_bin_labels(edges), counts[0], counts[1], err == 0.0, err)


def numeric_bin_labels(edges: tuple[float, ...] | list[float]) -> tuple[str, ...]:
    """Human-readable bin labels ``(-inf, e0)``, ``[e0, e1)``, ..., ``[e_last, inf)``."""
    return _labels(tuple(edges))


@functools.lru_cache(maxsize=4096)
def _labels(edges: tuple[float, ...]) -> tuple[str, ...]:
    bounds = [-np.inf, *edges, np.inf]
    out = [f"[{lo:.6g}, {hi:.6g})" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    out[0] = "(" + out[0][1:]
    return tuple(out)


def _counts_from_cdf(s: NumericSketch, edges: np.ndarray) -> np.ndarray:
    if not s.n:
        return np.zeros(edges.shape[0] + 1, dtype=np.float64)
    items, cum = s.sorted_view()
    below = np.concatenate(([0.0], cum))[np.searchsorted(items, edges, side="left")]
    return np.diff(np.concatenate(([0.0], below, [cum[-1]])))


def quantile_edges_from_sketch(s: NumericSketch, bins: int) -> tuple[float, ...]:
    """Deduplicated interior quantile edges of a sketch (edges <= min dropped: empty bin)."""
    if not s.n:
        return ()
    q = s.quantiles(np.arange(1, bins) / bins)
    return clean_edges(q, s.min)


def clean_edges(q: np.ndarray, minimum: float) -> tuple[float, ...]:
    """Unique finite edges strictly above ``minimum`` (a bin ``(-inf, min)`` would be empty)."""
    u = np.unique(np.asarray(q, dtype=np.float64))
    u = u[np.isfinite(u) & (u > minimum)]
    return tuple(float(v) for v in u)


def _categorical_table(cur: CategoricalSketch, base: CategoricalSketch) -> BinTable:
    if base.spec.vocabulary is not None:
        vocab = base.spec.vocabulary_sorted
    else:
        vocab = tuple(sorted(base.counts()))
    c_cur, o_cur, ex_cur = cur.vocabulary_counts(vocab)
    c_base, o_base, ex_base = base.vocabulary_counts(vocab)
    exact = ex_cur and ex_base
    err = 0.0
    if not exact:
        err = max(cur.max_error / max(cur.n, 1), base.max_error / max(base.n, 1))
    return BinTable((*vocab, OTHER), np.append(c_cur, o_cur), np.append(c_base, o_base),
                    exact, err)
