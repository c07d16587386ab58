"""Evaluate many cohort profiles of one window at once: the same results as
:func:`~driftline.sketches.evaluate.evaluate_profile` per profile, computed metric by metric over
all series together instead of one Python call chain per feature x cohort.

* PSI, JS and chi-square: the series' bin tables are stacked into zero-padded matrices, one
  per width class (bins empty on both sides masked out); the values, the top contributions,
  the sparse-bin pooling of the p-value tables and the Bartlett-corrected chi-square p-values
  (``scipy.special.chdtrc``) are each one pass over a matrix.
* KS and Wasserstein: :mod:`~driftline.sketches.evaluate_cdf` (one native call for all
  series, both statistics from one walk over each pair's sorted items; the Kolmogorov p-values
  one ``scipy.special.kolmogorov`` call).
* Statuses of every metric are decided over arrays, and each score is built once, with its
  status; series without data on one side share their ``insufficient_data`` scores.

The per-series functions of :mod:`~driftline.sketches.drift` stay the reference definitions;
tests compare both paths on random profiles. docs/statistics.md describes the statistics.

Example:
    >>> import numpy as np
    >>> from driftline.sketches.baseline import Baseline
    >>> from driftline.sketches.column import Column
    >>> from driftline.sketches.schema import NumericSpec
    >>> rng = np.random.default_rng(3)
    >>> b = Baseline.build([NumericSpec("x")], {"x": Column(rng.normal(size=20_000))})
    >>> cur = CohortProfile(b.schema)
    >>> cur.update({"x": Column(rng.normal(1.0, 1.0, 2_000))}, events=2_000)
    >>> [ev] = evaluate_profiles([(cur, b.global_profile)], ["psi"], {"psi": 0.2}, 500)
    >>> ev.features["x"].scores["psi"].status
    'drift'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import cast

import numpy as np
from scipy import special

from driftline.sketches.bins import MIN_EXPECTED, BinTable, bin_table
from driftline.sketches.categorical import CategoricalSketch
from driftline.sketches.drift import (
    BINNED_METRICS,
    CATEGORICAL_METRICS,
    DEFAULT_THRESHOLDS,
    METRICS,
    NUMERIC_METRICS,
    TOP_CONTRIBUTIONS,
    Contribution,
    DriftScore,
    Status,
)
from driftline.sketches.evaluate import (
    QUANTILE_LEVELS,
    BinShares,
    FeatureEvaluation,
    ProfileEvaluation,
)
from driftline.sketches.evaluate_cdf import cdf_scores
from driftline.sketches.numeric import NumericSketch
from driftline.sketches.profile import CohortProfile
from driftline.sketches.quality import QualityRates

Sketch = NumericSketch | CategoricalSketch
_NAN = float("nan")
_LN2_8 = 8.0 * math.log(2.0)


def evaluate_profiles(pairs: Sequence[tuple[CohortProfile, CohortProfile]],
                      metrics: Iterable[str], thresholds: Mapping[str, float], min_samples: int,
                      alpha: float = 0.05) -> list[ProfileEvaluation]:
    """``[evaluate_profile(cur, base, ...) for cur, base in pairs]``, vectorized."""
    return _evaluate(pairs, tuple(metrics), thresholds, min_samples, alpha)


def _evaluate(pairs: Sequence[tuple[CohortProfile, CohortProfile]], metrics: tuple[str, ...],
              thresholds: Mapping[str, float], min_samples: int, alpha: float
              ) -> list[ProfileEvaluation]:
    for m in metrics:
        if m not in METRICS:
            raise ValueError(f"unknown drift metric {m!r}; known: {sorted(METRICS)}")
    limits = {m: thresholds.get(m, DEFAULT_THRESHOLDS[m]) for m in metrics}
    series: list[tuple[Sketch, Sketch | None]] = []
    sizes: list[tuple[int, int]] = []  # (n, m) of every series; m = 0 without a baseline
    binned: list[int] = []  # series with data on both sides
    cdf: list[int] = []  # ... of which numeric
    for cur_p, base_p in pairs:
        for name, cur in cur_p.features.items():
            base = base_p.features.get(name)
            if base is not None and type(base) is not type(cur):
                kind = "numeric" if isinstance(cur, NumericSketch) else "categorical"
                raise TypeError(f"feature {cur.spec.name!r} is {kind} here but "
                                f"{type(base).__name__} in the baseline")
            n, n_base = cur.n, (0 if base is None else base.n)
            if n and n_base:
                binned.append(len(series))
                if isinstance(cur, NumericSketch):
                    cdf.append(len(series))
            series.append((cur, base))
            sizes.append((n, n_base))
    ctx = _Context(metrics, limits, min_samples, alpha)
    computed: list[dict[str, DriftScore]] = [{} for _ in series]
    shares: dict[int, BinShares] = {}
    # the baseline's bins both sides, for every series with data on both sides (scores and the
    # shares the report draws); tables of similar widths are stacked together (a few wide
    # categorical tables do not pad every numeric one)
    tables = {j: bin_table(*cast(tuple[Sketch, Sketch], series[j])) for j in binned}
    wanted_binned = [m for m in metrics if m in BINNED_METRICS]
    by_width: dict[int, list[int]] = {}
    for j, t in tables.items():
        by_width.setdefault(max(len(t.labels) - 1, 1).bit_length(), []).append(j)
    for rows in by_width.values():
        group = [tables[j] for j in rows]
        stacked = _stack(group)
        shares.update(zip(rows, _shares(group, *stacked[:2]), strict=True))
        if wanted_binned:
            _binned_scores(cast(list[tuple[Sketch, Sketch]], [series[j] for j in rows]),
                           [sizes[j] for j in rows], [computed[j] for j in rows],
                           wanted_binned, group, stacked, ctx)
    wanted_cdf = [m for m in metrics if m in ("ks", "wasserstein")]
    if wanted_cdf and cdf:
        numeric = cast(list[tuple[NumericSketch, NumericSketch]], [series[j] for j in cdf])
        scores = cdf_scores(numeric)
        out = [computed[j] for j in cdf]
        for m in wanted_cdf:
            _emit(m, *scores[m], [None] * len(cdf), [sizes[j] for j in cdf], out, ctx)
    quantiles = _current_quantiles(series, sizes)
    evaluations: list[ProfileEvaluation] = []
    i = 0
    for cur_p, base_p in pairs:
        feats: dict[str, FeatureEvaluation] = {}
        for name in cur_p.features:
            cur, base = series[i]
            feats[name] = _feature(cur, base, sizes[i], computed[i], ctx, shares.get(i),
                                   quantiles.get(i, _NO_QUANTILES))
            i += 1
        evaluations.append(ProfileEvaluation(cur_p.events, base_p.events, feats))
    return evaluations


class _Context:
    """What every feature of one call shares: the metrics by sketch type (``allowed[True]``:
    numeric), baseline quantiles by sketch, and the (immutable) ``insufficient_data`` scores
    of series without data on one side, and the (immutable) quality rates by counts: series
    with the same counts share them."""

    __slots__ = ("metrics", "limits", "min_samples", "alpha", "allowed", "base_q", "_empty",
                 "_empties", "_quality")

    def __init__(self, metrics: tuple[str, ...], limits: dict[str, float], min_samples: int,
                 alpha: float) -> None:
        self.metrics = metrics
        self.limits = limits
        self.min_samples = min_samples
        self.alpha = alpha
        self.allowed = {kind: tuple(m for m in metrics if m in (NUMERIC_METRICS if kind
                                                              else CATEGORICAL_METRICS))
                        for kind in (False, True)}
        self.base_q: dict[int, tuple[float, ...]] = {}
        self._empty: dict[tuple[str, int, int], DriftScore] = {}
        self._empties: dict[tuple[bool, int, int], dict[str, DriftScore]] = {}
        self._quality: dict[tuple[int, ...], QualityRates] = {}

    def quality(self, s: Sketch) -> QualityRates:
        """``QualityRates.of(s)``, shared by the series with the same counts."""
        key = ((s._count, s._nulls, s._invalid, s._nan + s._inf, s._oor)
               if isinstance(s, NumericSketch) else (s._count, s._nulls, s._invalid, -1, s._unseen))
        rates = self._quality.get(key)
        if rates is None:
            rates = self._quality[key] = QualityRates.of(s)
        return rates

    def empty_score(self, metric: str, n: int, m: int) -> DriftScore:
        score = self._empty.get((metric, n, m))
        if score is None:
            score = self._empty[(metric, n, m)] = DriftScore(metric, _NAN, n, m, _NAN,
                                                             "insufficient_data", 0.0)
        return score

    def empty_scores(self, numeric: bool, n: int, m: int) -> dict[str, DriftScore]:
        """Every allowed metric's ``insufficient_data`` score (one dict shared by the series
        with these sizes: evaluations are read, never changed)."""
        scores = self._empties.get((numeric, n, m))
        if scores is None:
            scores = self._empties[(numeric, n, m)] = {
                metric: self.empty_score(metric, n, m) for metric in self.allowed[numeric]}
        return scores


_STATUS: tuple[Status, ...] = ("ok", "drift", "insufficient_data")


def _emit(metric: str, value: list[float], pv: list[float], err: list[float],
          contrib: list[tuple[Contribution, ...]], stat: list[float], dof: list[int | None],
          sizes: list[tuple[int, int]], out: list[dict[str, DriftScore]], ctx: _Context) -> None:
    """``out[r][metric]``: the scores with their status (``with_status``), decided for all
    series at once; ``sizes`` are the series' ``(n, m)``."""
    n, m = [s[0] for s in sizes], [s[1] for s in sizes]
    v, p = np.array(value, dtype=np.float64), np.array(pv, dtype=np.float64)
    short = (np.minimum(n, m) < ctx.min_samples) | np.isnan(v)
    drift = (v >= ctx.limits[metric]) & (p < ctx.alpha)
    status = np.where(short, 2, np.where(drift, 1, 0)).tolist()
    for r, row in enumerate(out):
        row[metric] = DriftScore(metric, value[r], n[r], m[r], pv[r], _STATUS[status[r]],
                                 err[r], contrib[r], stat[r], dof[r])


def _feature(cur: Sketch, base: Sketch | None, size: tuple[int, int],
             computed: dict[str, DriftScore], ctx: _Context, shares: BinShares | None,
             qc: tuple[float, ...]) -> FeatureEvaluation:
    n, m_base = size
    numeric = isinstance(cur, NumericSketch)
    if computed:
        scores = {m: computed.get(m) or ctx.empty_score(m, n, m_base)
                  for m in ctx.allowed[numeric]}
    else:  # no data on one side: every score NaN, which ``with_status`` maps to this
        scores = ctx.empty_scores(numeric, n, m_base)
    if not numeric:
        return FeatureEvaluation(cur.spec.name, "categorical", n, m_base, scores,
                                 ctx.quality(cur), None, None, base is not None, shares)
    if isinstance(base, NumericSketch):  # one baseline serves many cohorts
        qb = ctx.base_q.get(id(base))
        if qb is None:
            qb = ctx.base_q[id(base)] = _quantiles(base) if m_base else _NO_QUANTILES
    else:
        qb = _NO_QUANTILES
    return FeatureEvaluation(cur.spec.name, "numeric", n, m_base, scores, ctx.quality(cur), qc,
                             qb, base is not None, shares)


_NO_QUANTILES = (_NAN,) * len(QUANTILE_LEVELS)


def _quantiles(s: NumericSketch) -> tuple[float, ...]:
    """``s.quantiles(QUANTILE_LEVELS)``, computed by the KLL (see ``kll_quantiles``): for a
    baseline sketch, whose sorted view datasketches keeps from one window to the next."""
    return s.kll_quantiles(QUANTILE_LEVELS)


def _current_quantiles(series: list[tuple[Sketch, Sketch | None]],
                       sizes: list[tuple[int, int]]) -> dict[int, tuple[float, ...]]:
    """``_quantiles`` of every numeric current series with data, by series index, in one
    call (``kll_quantiles_many``): the window's sketches are new, each would pay datasketches'
    sorted view."""
    rows = [j for j, (cur, _) in enumerate(series)
            if sizes[j][0] and isinstance(cur, NumericSketch)]
    sketches = cast(list[NumericSketch], [series[j][0] for j in rows])
    return dict(zip(rows, NumericSketch.kll_quantiles_many(sketches, QUANTILE_LEVELS),
                    strict=True))


def _shares(tables: list[BinTable], c: np.ndarray, b: np.ndarray) -> list[BinShares]:
    """``bin_shares`` of both sides of every table, from the stacked counts."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sc = np.nan_to_num(c / c.sum(axis=1, keepdims=True), nan=0.0).tolist()
        sb = np.nan_to_num(b / b.sum(axis=1, keepdims=True), nan=0.0).tolist()
    return [BinShares(t.labels, tuple(sc[r][:len(t.labels)]), tuple(sb[r][:len(t.labels)]),
                      t.exact, t.share_error) for r, t in enumerate(tables)]


# -- PSI, JS, chi-square over stacked bin tables -----------------------------------------------

def _stack(tables: list[BinTable]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both sides' counts zero-padded to one width, and the bins not empty on both sides."""
    width = max(len(t.labels) for t in tables)
    c = np.zeros((len(tables), width))
    b = np.zeros((len(tables), width))
    for r, t in enumerate(tables):
        c[r, :len(t.current)] = t.current
        b[r, :len(t.baseline)] = t.baseline
    return c, b, (c + b) > 0


def _rowsum(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, x, 0.0).sum(axis=1)


def _pool(c: np.ndarray, b: np.ndarray, valid: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise ``pool_sparse``: the pooled tables as ``(c, b, mask)``, the pooled bin in an
    extra last column."""
    cs, bs = c.sum(axis=1, keepdims=True), b.sum(axis=1, keepdims=True)
    expected = (c + b) / (cs + bs) * np.minimum(cs, bs)
    expected = np.where(valid, expected, np.inf)
    order = np.argsort(expected, axis=1, kind="stable")
    ordered = np.take_along_axis(expected, order, axis=1)
    length = valid.sum(axis=1)
    below = (ordered < MIN_EXPECTED).sum(axis=1)
    cum = np.cumsum(np.where(np.isfinite(ordered), ordered, 0.0), axis=1)
    cum = np.where(np.isfinite(ordered), cum, np.inf)
    k = np.maximum(below, (cum < MIN_EXPECTED).sum(axis=1) + 1)
    k = np.where(below == 0, 0, np.minimum(k, length))
    rank = np.arange(c.shape[1])[None, :]
    head = rank < k[:, None]
    tail = (~head) & (rank < length[:, None])
    co = np.take_along_axis(c, order, axis=1)
    bo = np.take_along_axis(b, order, axis=1)
    pc = np.concatenate([np.where(tail, co, 0.0), _rowsum(co, head)[:, None]], axis=1)
    pb = np.concatenate([np.where(tail, bo, 0.0), _rowsum(bo, head)[:, None]], axis=1)
    mask = np.concatenate([tail, (k > 0)[:, None]], axis=1)
    return pc, pb, mask


def _psi_terms(c: np.ndarray, b: np.ndarray, mask: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cs = np.where(mask, np.where(c > 0, c, 0.5), 0.0)
    bs = np.where(mask, np.where(b > 0, b, 0.5), 0.0)
    p = cs / cs.sum(axis=1, keepdims=True)
    q = bs / bs.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(mask, (p - q) * np.log(p / q), 0.0)
    return terms, p, q


def _js_terms(c: np.ndarray, b: np.ndarray, mask: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = c / c.sum(axis=1, keepdims=True)
    q = b / b.sum(axis=1, keepdims=True)
    mid = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        tp = np.where(p > 0, p * np.log2(p / mid), 0.0)
        tq = np.where(q > 0, q * np.log2(q / mid), 0.0)
    return np.where(mask, 0.5 * (tp + tq), 0.0), p, q


def _pearson(c: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    rc, rb = c.sum(axis=1, keepdims=True), b.sum(axis=1, keepdims=True)
    col = c + b
    total = rc + rb
    with np.errstate(divide="ignore", invalid="ignore"):
        ec, eb = rc * col / total, rb * col / total
        cells = (c - ec) ** 2 / ec + (b - eb) ** 2 / eb
    return np.where(mask, cells, 0.0)


def _binned_scores(series: list[tuple[Sketch, Sketch]], sizes: list[tuple[int, int]],
                   out: list[dict[str, DriftScore]], wanted: list[str], tables: list[BinTable],
                   stacked: tuple[np.ndarray, np.ndarray, np.ndarray], ctx: _Context) -> None:
    c, b, valid = stacked
    n, m = np.array(sizes, dtype=np.float64).T
    scale = n * m / (n + m)
    inv2 = 1.0 / n**2 + 1.0 / m**2
    pc, pb, pmask = _pool(c, b, valid)
    dof = pmask.sum(axis=1) - 1
    has = dof > 0
    safe_dof = np.maximum(dof, 1)
    tot = pc.sum(axis=1, keepdims=True) + pb.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        pi = np.where(pmask, (pc + pb) / tot, 1.0)
    err = [t.share_error for t in tables]
    labels = [t.labels for t in tables]
    dofs = np.where(has, dof, 0).tolist()
    for metric in wanted:
        if metric == "chi2":
            continue
        if metric == "psi":
            terms, p, q = _psi_terms(c, b, valid)
            value = terms.sum(axis=1)
            s = np.where(pmask, (1 - pi) / (2 * pi), 0.0).sum(axis=1)
            stat = _psi_terms(pc, pb, pmask)[0].sum(axis=1) * scale
        else:
            terms, p, q = _js_terms(c, b, valid)
            value = np.minimum(np.maximum(terms.sum(axis=1), 0.0), 1.0)
            s = np.where(pmask, (1 - pi) * (3 + pi) / (8 * pi), 0.0).sum(axis=1)
            stat = _LN2_8 * _js_terms(pc, pb, pmask)[0].sum(axis=1) * scale
        bartlett = 1.0 + scale * inv2 * s / safe_dof
        pv = np.where(has, special.chdtrc(safe_dof, stat / bartlett), 1.0)
        stat = np.where(has, stat, 0.0)
        _emit(metric, value.tolist(), pv.tolist(), err, _contribs(labels, terms, valid, q, p),
              stat.tolist(), dofs, sizes, out, ctx)
    if "chi2" in wanted:
        rows = [r for r, (cur, _) in enumerate(series) if isinstance(cur, CategoricalSketch)]
        if rows:
            cells = _pearson(c[rows], b[rows], valid[rows])
            stat = _pearson(pc[rows], pb[rows], pmask[rows]).sum(axis=1)
            d = dof[rows]
            pv = np.where(d > 0, special.chdtrc(np.maximum(d, 1), stat), 1.0)
            value = np.sqrt(stat / (c[rows].sum(axis=1) + b[rows].sum(axis=1)))
            share_b = b[rows] / b[rows].sum(axis=1, keepdims=True)
            share_c = c[rows] / c[rows].sum(axis=1, keepdims=True)
            _emit("chi2", value.tolist(), pv.tolist(), [err[r] for r in rows],
                  _contribs([labels[r] for r in rows], cells, valid[rows], share_b, share_c),
                  stat.tolist(), d.tolist(), [sizes[r] for r in rows], [out[r] for r in rows],
                  ctx)


def _contribs(labels: list[tuple[str, ...]], terms: np.ndarray, valid: np.ndarray,
              q: np.ndarray, p: np.ndarray) -> list[tuple[Contribution, ...]]:
    """The top :data:`TOP_CONTRIBUTIONS` bins of every row by ``|terms|`` (ties: first bin),
    as ``(label, q, p, term)``."""
    key = np.where(valid, -np.abs(terms), np.inf)
    top = np.argsort(key, axis=1, kind="stable")[:, :TOP_CONTRIBUTIONS]
    count = np.minimum(valid.sum(axis=1), TOP_CONTRIBUTIONS).tolist()
    qs, ps, ts = (np.take_along_axis(a, top, axis=1).tolist() for a in (q, p, terms))
    return [tuple(zip([lab[i] for i in idx[:k]], qr, pr, tr, strict=False))  # k labels
            for lab, idx, k, qr, pr, tr in zip(labels, top.tolist(), count, qs, ps, ts,
                                               strict=True)]
