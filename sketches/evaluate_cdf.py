"""KS and Wasserstein for many numeric series at once (used by
:mod:`~driftline.sketches.evaluate_batch`).

Series that share a baseline sketch (every cohort compared with the global baseline, for
instance) are stacked: each row is one current sketch's retained items merged into the
baseline's sorted items -- one ``searchsorted`` for all rows, no sort -- and both step CDFs are
read on the merged grid. The KS distance is the row maximum of ``|F_cur - F_base|`` at the last
item of each run of equal values (the reference's union grid, first maximum kept), the
Wasserstein distance integrates ``F_base - F_cur`` over the same grid (zero-width steps inside a
run add nothing) and anchors it on the exact mean difference as ``drift._anchored_w1`` does.
Equal to :func:`~driftline.sketches.drift.ks` / ``wasserstein`` up to the rounding of the
sums (tests compare to 1e-12).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from driftline.sketches.drift import DriftScore, _effective_size, _ks_pvalue
from driftline.sketches.numeric import NumericSketch


def cdf_scores(series: list[tuple[NumericSketch, NumericSketch]], out: list[dict[str, DriftScore]],
               wanted: list[str]) -> None:
    """Fill ``out[r]["ks"]`` / ``out[r]["wasserstein"]`` for every (current, baseline) pair with
    data on both sides."""
    groups: dict[int, list[int]] = {}
    for r, (_, base) in enumerate(series):
        groups.setdefault(id(base), []).append(r)
    for rows in groups.values():
        _group([series[r] for r in rows], [out[r] for r in rows], wanted)


def _group(series: list[tuple[NumericSketch, NumericSketch]], out: list[dict[str, DriftScore]],
           wanted: list[str]) -> None:
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
    d = diff[pick]
    en = np.array([_effective_size(cur, b) for cur, b in series])
    pv = _ks_pvalues(d, en)
    pos_sum = neg_sum = np.zeros(k)
    if "wasserstein" in wanted:
        with np.errstate(invalid="ignore"):
            signed = (fb - fc)[:, :-1] * np.diff(merged, axis=1)
        signed = np.where(col[:, :-1] < length - 1, signed, 0.0)
        pos_sum = np.where(signed > 0, signed, 0.0).sum(axis=1)
        neg_sum = -np.where(signed < 0, signed, 0.0).sum(axis=1)
    zs, fbs, fcs = merged[pick].tolist(), fb[pick].tolist(), fc[pick].tolist()
    lo, hi = merged[:, 0].tolist(), merged[np.arange(k), length[:, 0] - 1].tolist()
    for r, (cur, b) in enumerate(series):
        dr = float(d[r])
        contrib = ((f"x={zs[r]:.6g}", fbs[r], fcs[r], dr),)
        err = cur.rank_error + b.rank_error
        if "ks" in wanted:
            out[r]["ks"] = DriftScore("ks", dr, cur.n, b.n, float(pv[r]), "ok", float(err),
                                      contrib, dr * math.sqrt(float(en[r])), None)
        if "wasserstein" in wanted:
            w = _anchor(float(pos_sum[r]), float(neg_sum[r]), cur.mean - b.mean)
            spread = b.std
            value = w / spread if spread > 0 else (0.0 if w == 0 else math.inf)
            werr = err * float(hi[r] - lo[r]) / spread if spread > 0 and err else 0.0
            out[r]["wasserstein"] = DriftScore("wasserstein", float(value), cur.n, b.n,
                                               float(pv[r]), "ok", float(werr), contrib,
                                               float(w), None)


def _anchor(pos: float, neg: float, mean_shift: float) -> float:
    """The last step of ``drift._anchored_w1`` from the positive and negative parts."""
    total = pos + neg
    if total == 0.0:
        return abs(mean_shift)
    net = abs(pos - neg)
    return total + (net / total) * (abs(mean_shift) - net)


def _ks_pvalues(d: np.ndarray, en: np.ndarray) -> np.ndarray:
    """``drift._ks_pvalue`` for all series: one ``kolmogorov`` call for effective sizes >= 50
    (the exact small-sample distribution below that, series by series)."""
    root = np.sqrt(np.maximum(en, 1.0))
    p = np.clip(special.kolmogorov((root + 0.12 + 0.11 / root) * d), 0.0, 1.0)
    p = np.where(en < 1, 1.0, p)
    for r in np.flatnonzero((en >= 1) & (en < 50)).tolist():
        p[r] = _ks_pvalue(float(d[r]), float(en[r]))
    return p
