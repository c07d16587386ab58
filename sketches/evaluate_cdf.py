"""KS and Wasserstein for many numeric series at once (used by
:mod:`~driftline.sketches.evaluate_batch`).

Both step CDFs of a (current, baseline) pair are read on the union of their retained items, at
the last item of each run of equal values (the reference's union grid): the KS distance is the
first maximum of ``|F_cur - F_base|``, the Wasserstein distance integrates ``F_base - F_cur``
over the same grid and anchors it on the exact mean difference as ``drift._anchored_w1`` does.
The Rust kernel ``driftline.sketches._native`` (sketches/native/) computes that for all pairs
of a window in one call, one linear merge per pair. Without it (an install without a Rust
toolchain), and as its reference in the tests, numpy does the same: pairs sharing a baseline
are stacked, each row one current sketch's items merged into the baseline's sorted items by one
``searchsorted``. Equal to :func:`~driftline.sketches.drift.ks` / ``wasserstein`` up to the
rounding of the sums (tests compare to 1e-12).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from driftline.sketches.drift import Contribution, effective_size
from driftline.sketches.numeric import NumericSketch

try:  # the Rust kernel (sketches/native/); optional, the numpy path below is its reference
    from driftline.sketches._native import cdf_stats as _native_cdf_stats
except ImportError:  # pragma: no cover - installs without a Rust toolchain
    _native_cdf_stats = None

NATIVE = _native_cdf_stats is not None
"""Whether the Rust kernel is installed."""

Pair = tuple[NumericSketch, NumericSketch]
STATS = ("d", "x", "fb", "fc", "pos", "neg", "lo", "hi")
"""The rows of :func:`cdf_stats`: the KS distance, its x, ``F_base`` and ``F_cur`` there, the
positive and negative parts of the integral of ``F_base - F_cur``, the union's smallest and
largest item."""


Scores = tuple[list[float], list[float], list[float], list[tuple[Contribution, ...]],
               list[float]]
"""One metric's ``(value, p_value, error_bound, contributions, statistic)`` per series."""


def cdf_scores(series: list[Pair]) -> dict[str, Scores]:
    """The KS and Wasserstein scores of every (current, baseline) pair with data on both
    sides, as ``{"ks": ..., "wasserstein": ...}`` (see :data:`Scores`)."""
    d, x, fb, fc, pos, neg, lo, hi = cdf_stats(series, native=NATIVE)
    n, rc, mc, m, rb, mb, vb = np.array(
        [(c.n, c.rank_error, c.mean, b.n, b.rank_error, b.mean, b.variance) for c, b in series],
        dtype=np.float64).reshape(len(series), 7).T
    # drift.ks/wasserstein's effective size, error bound, mean shift and spread
    en = effective_size(n, rc, m, rb)
    pv = _ks_pvalues(d, en).tolist()
    err, shift, spread = rc + rb, mc - mb, np.sqrt(vb)
    w = _anchor(pos, neg, shift)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(spread > 0, w / spread, np.where(w == 0, 0.0, np.inf))
        werr = np.where((spread > 0) & (err != 0), err * (hi - lo) / spread, 0.0)
    dl, errs = d.tolist(), err.tolist()
    contrib: list[tuple[Contribution, ...]] = [((f"x={z:.6g}", b, c, v),)
               for z, b, c, v in zip(x.tolist(), fb.tolist(), fc.tolist(), dl, strict=True)]
    return {"ks": (dl, pv, errs, contrib, (d * np.sqrt(en)).tolist()),
            "wasserstein": (value.tolist(), pv, werr.tolist(), contrib, w.tolist())}


def cdf_stats(series: list[Pair], native: bool = True) -> np.ndarray:
    """The :data:`STATS` of every pair as an ``(8, len(series))`` array: by the Rust kernel
    (one linear merge per pair) when ``native``, else with numpy (pairs sharing a baseline
    stacked); both give the same numbers."""
    if native and NATIVE:
        views = [(*cur.sorted_view(), *base.sorted_view()) for cur, base in series]
        return np.frombuffer(_native_cdf_stats(views)).reshape(len(STATS), len(series))
    stats = np.empty((len(STATS), len(series)))
    groups: dict[int, list[int]] = {}
    for r, (_, base) in enumerate(series):
        groups.setdefault(id(base), []).append(r)
    for rows in groups.values():
        stats[:, rows] = _group([series[r] for r in rows])
    return stats


def _group(series: list[Pair]) -> np.ndarray:
    """:func:`cdf_stats` of pairs sharing one baseline, with numpy."""
    base = series[0][1]
    xb, wb = base.sorted_view()
    views = [cur.sorted_view() for cur, _ in series]
    k = len(series)
    nb = xb.shape[0]
    lens = np.array([v[0].shape[0] for v in views])
    ncmax = int(lens.max())
    width = nb + ncmax
    xc = np.full((k, ncmax), np.inf)
    cwc = np.empty((k, ncmax + 1))
    cwc[:, 0] = 0.0
    for r, (items, cum) in enumerate(views):
        xc[r, :items.shape[0]] = items
        cwc[r, 1:items.shape[0] + 1] = cum
        cwc[r, items.shape[0] + 1:] = cum[-1]
    pos = np.searchsorted(xb, xc.ravel(), side="left").reshape(k, ncmax) + np.arange(ncmax)
    flat = (pos + (np.arange(k) * width)[:, None]).ravel()
    is_cur = np.zeros(k * width, dtype=bool)
    is_cur[flat] = True
    merged = np.empty(k * width)
    merged[flat] = xc.ravel()
    merged[~is_cur] = np.tile(xb, k)
    merged = merged.reshape(k, width)
    is_cur = is_cur.reshape(k, width)
    base_upto = np.cumsum(~is_cur, axis=1)
    cur_upto = np.minimum(np.arange(1, width + 1) - base_upto, ncmax)
    n_cur = cwc[:, -1:]
    fc = np.take_along_axis(cwc, cur_upto, axis=1) / n_cur
    fb = np.concatenate(([0.0], wb))[base_upto] / wb[-1]
    length = (nb + lens)[:, None]
    col = np.arange(width)[None, :]
    last = np.concatenate([merged[:, 1:] != merged[:, :-1], np.ones((k, 1), dtype=bool)], axis=1)
    last &= col < length
    diff = np.abs(fc - fb)
    at = np.argmax(np.where(last, diff, -1.0), axis=1)
    pick = (np.arange(k), at)
    with np.errstate(invalid="ignore"):
        signed = (fb - fc)[:, :-1] * np.diff(merged, axis=1)
    signed = np.where(col[:, :-1] < length - 1, signed, 0.0)
    pos_sum = np.where(signed > 0, signed, 0.0).sum(axis=1)
    neg_sum = -np.where(signed < 0, signed, 0.0).sum(axis=1)
    return np.stack([diff[pick], merged[pick], fb[pick], fc[pick], pos_sum, neg_sum,
                     merged[:, 0], merged[np.arange(k), length[:, 0] - 1]])


def _anchor(pos: np.ndarray, neg: np.ndarray, mean_shift: np.ndarray) -> np.ndarray:
    """The last step of ``drift._anchored_w1`` from the positive and negative parts."""
    total = pos + neg
    net = np.abs(pos - neg)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = total + (net / total) * (np.abs(mean_shift) - net)
    return np.where(total == 0.0, np.abs(mean_shift), w)


def _ks_pvalues(d: np.ndarray, en: np.ndarray) -> np.ndarray:
    """``drift._ks_pvalue`` for all series: one ``kolmogorov`` call for effective sizes >= 50,
    one ``kstwo.sf`` call (the exact small-sample distribution) for those below."""
    root = np.sqrt(np.maximum(en, 1.0))
    p = np.clip(special.kolmogorov((root + 0.12 + 0.11 / root) * d), 0.0, 1.0)
    p = np.where(en < 1, 1.0, p)
    small = (en >= 1) & (en < 50)
    if small.any():
        from scipy import stats  # only for tiny samples: importing scipy.stats costs ~1 s

        p[small] = np.clip(stats.kstwo.sf(d[small], np.round(en[small])), 0.0, 1.0)
    return p
