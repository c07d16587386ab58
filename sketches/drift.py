"""Drift statistics between a current feature sketch and its baseline.

Every function returns a :class:`DriftScore` with the value, the sample sizes ``n`` (current)
and ``m`` (baseline), a p-value that accounts for both, the sketch error bound and the top bins
or points behind the value. docs/statistics.md explains each statistic.

* ``psi``  -- population stability index over the baseline bins; p-value from
  ``PSI * n*m/(n+m) ~ chi2(B-1)`` under no drift (sparse bins pooled, Bartlett-corrected).
* ``js``   -- Jensen-Shannon divergence, base 2, in [0, 1]; p-value from
  ``8 ln2 * JS * n*m/(n+m) ~ chi2(B-1)`` (same pooling and correction).
* ``chi2`` -- Pearson two-sample chi-square (categoricals); value is Cramer's V in [0, 1].
* ``ks``   -- Kolmogorov-Smirnov distance from the two KLL sketches; p-value from the
  Kolmogorov distribution with effective size ``n*m/(n+m)``, each sketch's rank error counted
  as extra sampling noise.
* ``wasserstein`` -- W1 distance divided by the baseline standard deviation; its p-value is the
  KS test's (same null hypothesis: identical distributions).

Example:
    >>> import numpy as np
    >>> from driftline.sketches.schema import NumericSpec
    >>> from driftline.sketches.numeric import NumericSketch
    >>> rng = np.random.default_rng(1)
    >>> edges = np.quantile(rng.normal(size=10**5), np.arange(1, 10) / 10)
    >>> spec = NumericSpec("x", edges=tuple(edges))
    >>> base, cur = NumericSketch(spec), NumericSketch(spec)
    >>> base.update(rng.normal(size=50_000)); cur.update(rng.normal(0.5, 1, size=5_000))
    >>> s = compare(cur, base, ["psi", "ks"], {"psi": 0.1, "ks": 0.1}, min_samples=500)
    >>> s["psi"].status, s["ks"].status, round(s["ks"].value, 1)
    ('drift', 'drift', 0.2)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy import special

from driftline.sketches.bins import BinTable, bin_table, pool_sparse, smoothed_shares
from driftline.sketches.categorical import CategoricalSketch
from driftline.sketches.numeric import NumericSketch

Status = Literal["ok", "drift", "insufficient_data"]
FeatureSketch = NumericSketch | CategoricalSketch
Contribution = tuple[str, float, float, float]

NUMERIC_METRICS = ("psi", "ks", "js", "wasserstein")
CATEGORICAL_METRICS = ("psi", "js", "chi2")
DEFAULT_THRESHOLDS: dict[str, float] = {"psi": 0.1, "ks": 0.1, "js": 0.1, "wasserstein": 0.1,
                                        "chi2": 0.1}
TOP_CONTRIBUTIONS = 5


class DriftScore(NamedTuple):
    """One drift statistic. ``contributions`` are ``(label, share_base, share_cur,
    contribution)`` for the bins (or, for KS/Wasserstein, the point) that drive the value.
    ``statistic``/``dof`` are the test statistic and degrees of freedom behind ``p_value``.
    An immutable record (a named tuple: a window builds hundreds).

    Example:
        >>> import numpy as np
        >>> from driftline.sketches.schema import CategoricalSpec
        >>> spec = CategoricalSpec("c", vocabulary=frozenset({"a", "b"}))
        >>> cur, base = CategoricalSketch(spec), CategoricalSketch(spec)
        >>> cur.update_counts(["a", "b"], np.array([700, 300]))
        >>> base.update_counts(["a", "b"], np.array([500, 500]))
        >>> s = chi2(cur, base); round(s.value, 3), s.dof, s.p_value < 1e-10
        (0.204, 1, True)
    """

    metric: str
    value: float
    n: int
    m: int
    p_value: float
    status: Status
    error_bound: float
    contributions: tuple[Contribution, ...] = ()
    statistic: float = math.nan
    dof: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = self._asdict()
        d["contributions"] = [list(c) for c in self.contributions]
        return d


def _score(metric: str, value: float, n: int, m: int, p: float, err: float,
           contrib: tuple[Contribution, ...] = (), statistic: float = math.nan,
           dof: int | None = None) -> DriftScore:
    return DriftScore(metric, float(value), n, m, float(p), "ok", float(err), contrib,
                      float(statistic), dof)


def _empty(metric: str, cur: FeatureSketch, base: FeatureSketch) -> DriftScore | None:
    if cur.n == 0 or base.n == 0:
        return DriftScore(metric, math.nan, cur.n, base.n, math.nan, "insufficient_data", 0.0)
    return None


def _check(cur: FeatureSketch, base: FeatureSketch) -> None:
    if type(cur) is not type(base):
        raise TypeError(f"cannot compare a {type(cur).__name__} with a {type(base).__name__}")
    if cur.spec.name != base.spec.name:
        raise ValueError(f"cannot compare feature {cur.spec.name!r} with {base.spec.name!r}")


def _scale(n: int, m: int) -> float:
    return n * m / (n + m)


def _psi_terms(c: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p, q = smoothed_shares(c, b)
    return (p - q) * np.log(p / q), p, q


def _js_terms(c: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = c / c.sum()
    q = b / b.sum()
    mid = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        tp = np.where(p > 0, p * np.log2(p / mid), 0.0)
        tq = np.where(q > 0, q * np.log2(q / mid), 0.0)
    return 0.5 * (tp + tq), p, q


def _pearson(c: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    obs = np.vstack([c, b]).astype(np.float64)
    rows = obs.sum(axis=1, keepdims=True)
    expected = rows * obs.sum(axis=0, keepdims=True) / rows.sum()
    cells = ((obs - expected) ** 2 / expected).sum(axis=0)
    return cells, float(cells.sum())


def _bartlett(n: int, m: int, s: float, dof: int) -> float:
    """Second-order mean correction of a scaled divergence: under no drift
    ``E[T] = dof + nm/(n+m) * (1/n^2 + 1/m^2) * s + O(n^-2)``, where ``s`` depends on the
    statistic and the pooled bin shares; dividing ``T`` by ``E[T]/dof`` (a Bartlett
    correction) makes ``chi2(dof)`` accurate at small windows. See docs/statistics.md."""
    if dof <= 0:
        return 1.0
    return 1.0 + _scale(n, m) * (1.0 / n**2 + 1.0 / m**2) * s / dof


def _divergence_test(metric: str, c: np.ndarray, b: np.ndarray, n: int, m: int
                     ) -> tuple[float, float, int]:
    """``(p_value, statistic, dof)`` of PSI or JS, computed on the table with sparse bins
    pooled (see ``pool_sparse``) and Bartlett-corrected."""
    c, b = pool_sparse(c, b)
    dof = len(c) - 1
    if dof <= 0:
        return 1.0, 0.0, 0
    pi = (c + b) / (c.sum() + b.sum())
    if metric == "psi":
        stat = float(_psi_terms(c, b)[0].sum()) * _scale(n, m)
        s = float(np.sum((1 - pi) / (2 * pi)))
    else:
        stat = 8.0 * math.log(2.0) * float(_js_terms(c, b)[0].sum()) * _scale(n, m)
        s = float(np.sum((1 - pi) * (3 + pi) / (8 * pi)))
    return float(special.chdtrc(dof, stat / _bartlett(n, m, s, dof))), stat, dof


def _top(labels: tuple[str, ...], q: np.ndarray, p: np.ndarray, c: np.ndarray
         ) -> tuple[Contribution, ...]:
    order = np.argsort(-np.abs(c), kind="stable")[:TOP_CONTRIBUTIONS]
    return tuple((labels[i], float(q[i]), float(p[i]), float(c[i])) for i in order.tolist())


def psi(cur: FeatureSketch, base: FeatureSketch, table: BinTable | None = None
        ) -> DriftScore:
    """Population stability index ``sum (p - q) ln(p / q)`` over the baseline bins (empty-bin
    rule: see ``BinTable.shares``). p-value: ``PSI * nm/(n+m) ~ chi2(B - 1)`` after pooling
    sparse bins, Bartlett-corrected."""
    _check(cur, base)
    if (e := _empty("psi", cur, base)) is not None:
        return e
    table = table or bin_table(cur, base)
    labels, c, b = table.nonempty()
    contrib, p, q = _psi_terms(c, b)
    pv, stat, dof = _divergence_test("psi", c, b, cur.n, base.n)
    return _score("psi", float(contrib.sum()), cur.n, base.n, pv, table.share_error,
                  _top(labels, q, p, contrib), stat, dof)


def js(cur: FeatureSketch, base: FeatureSketch, table: BinTable | None = None
        ) -> DriftScore:
    """Jensen-Shannon divergence (base 2, in [0, 1]) over the baseline bins; bins empty on both
    sides are dropped, no smoothing is needed. p-value: ``8 ln2 JS nm/(n+m) ~ chi2(B - 1)``
    after pooling sparse bins, Bartlett-corrected."""
    _check(cur, base)
    if (e := _empty("js", cur, base)) is not None:
        return e
    table = table or bin_table(cur, base)
    labels, c, b = table.nonempty()
    contrib, p, q = _js_terms(c, b)
    value = float(min(max(contrib.sum(), 0.0), 1.0))
    pv, stat, dof = _divergence_test("js", c, b, cur.n, base.n)
    return _score("js", value, cur.n, base.n, pv, table.share_error,
                  _top(labels, q, p, contrib), stat, dof)


def chi2(cur: FeatureSketch, base: FeatureSketch, table: BinTable | None = None
        ) -> DriftScore:
    """Pearson chi-square test of homogeneity on the 2 x B table of bin counts, after pooling
    bins with expected count below 5 (Cochran's rule). The value is the effect size Cramer's
    V = sqrt(X^2 / (n + m)) in [0, 1], the statistic is X^2."""
    _check(cur, base)
    if (e := _empty("chi2", cur, base)) is not None:
        return e
    table = table or bin_table(cur, base)
    labels, c, b = table.nonempty()
    cells, _ = _pearson(c, b)  # per-bin contributions on the full table, for the explanation
    pc, pb = pool_sparse(c, b)
    _, stat = _pearson(pc, pb)
    dof = len(pc) - 1
    pv = float(special.chdtrc(dof, stat)) if dof > 0 else 1.0
    value = math.sqrt(stat / (c.sum() + b.sum()))
    return _score("chi2", value, cur.n, base.n, pv, table.share_error,
                  _top(labels, b / b.sum(), c / c.sum(), cells), stat, dof)


def _cdfs(cur: NumericSketch, base: NumericSketch
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xc, wc = cur.sorted_view()
    xb, wb = base.sorted_view()
    z = np.union1d(xc, xb)
    fc = np.concatenate(([0.0], wc))[np.searchsorted(xc, z, side="right")] / wc[-1]
    fb = np.concatenate(([0.0], wb))[np.searchsorted(xb, z, side="right")] / wb[-1]
    return z, fc, fb


SKETCH_NOISE = 0.6  # 1/n_sketch = 4 sigma^2 with sigma = rank_error / 2.58 (99% bound)


def _effective_size(cur: NumericSketch, base: NumericSketch) -> float:
    """``n_eff = nm/(n+m)`` with each sample's KLL error counted as extra sampling noise.

    A sketch whose single-rank error has standard deviation ``sigma`` blurs the CDF like a
    sample of ``1/(4 sigma^2)`` values would (the variance of an empirical CDF is at most
    ``1/(4n)``), so ``1/n' = 1/n + 4 sigma^2`` with ``sigma = rank_error / 2.58``. Small
    windows are unaffected; with 100k events per side the sketch noise (D ~ 0.005-0.01) is no
    longer mistaken for a significant difference."""
    return float(effective_size(cur.n, cur.rank_error, base.n, base.rank_error))


def effective_size(n: Any, rank_error_n: Any, m: Any, rank_error_m: Any) -> Any:
    """:func:`_effective_size` from the sizes and rank errors (numbers or numpy arrays)."""
    inv_n = 1.0 / n + SKETCH_NOISE * rank_error_n**2
    inv_m = 1.0 / m + SKETCH_NOISE * rank_error_m**2
    return 1.0 / (inv_n + inv_m)


def _ks_pvalue(d: float, en: float) -> float:
    """Kolmogorov p-value for effective size ``en``: the exact finite-n distribution
    (scipy ``kstwo``) below 50, above it Stephens' corrected asymptotic form
    ``Q_KS((sqrt(en) + 0.12 + 0.11/sqrt(en)) d)``, which agrees with ``kstwo`` to ~1% and costs
    microseconds instead of up to a second for large ``en``."""
    if en < 1:
        return 1.0
    if en < 50:
        from scipy import stats  # only for tiny samples: importing scipy.stats costs ~1 s

        p = stats.kstwo.sf(d, round(en))
    else:
        root = math.sqrt(en)
        p = special.kolmogorov((root + 0.12 + 0.11 / root) * d)
    return float(min(max(p, 0.0), 1.0))


def ks(cur: FeatureSketch, base: FeatureSketch) -> DriftScore:
    """Two-sample Kolmogorov-Smirnov distance ``sup |F_cur - F_base|`` evaluated at every item
    either KLL retains. ``error_bound`` is the sum of both sketches' rank-error bounds (0 while
    both are exact). p-value: Kolmogorov distribution with ``n_eff = nm/(n+m)`` (as scipy's
    asymptotic ``ks_2samp``; conservative for data with ties), where each sketch's rank error
    counts as extra sampling noise (see ``_effective_size``): without that, the sketch noise
    of two 100k-event sketches alone would be "significant"."""
    _check(cur, base)
    if not isinstance(cur, NumericSketch) or not isinstance(base, NumericSketch):
        raise TypeError("ks needs numeric sketches")
    if (e := _empty("ks", cur, base)) is not None:
        return e
    z, fc, fb = _cdfs(cur, base)
    diff = np.abs(fc - fb)
    i = int(np.argmax(diff))
    d = float(diff[i])
    err = cur.rank_error + base.rank_error
    contrib = ((f"x={z[i]:.6g}", float(fb[i]), float(fc[i]), d),)
    en = _effective_size(cur, base)
    return _score("ks", d, cur.n, base.n, _ks_pvalue(d, en), err, contrib, d * math.sqrt(en))


def wasserstein(cur: FeatureSketch, base: FeatureSketch) -> DriftScore:
    """Wasserstein-1 distance ``integral |F_cur - F_base| dx`` between the two sketched
    distributions (anchored on the exact means, see ``_anchored_w1``), divided by the baseline
    standard deviation (0 if both are the same constant, inf if the baseline is constant and
    the current sample is not). The p-value is the KS test's on the same sketches.
    ``error_bound`` is a conservative ``(rank errors) * (range of the union) / std``."""
    _check(cur, base)
    if not isinstance(cur, NumericSketch) or not isinstance(base, NumericSketch):
        raise TypeError("wasserstein needs numeric sketches")
    if (e := _empty("wasserstein", cur, base)) is not None:
        return e
    z, fc, fb = _cdfs(cur, base)
    diff = np.abs(fc - fb)
    w = _anchored_w1(z, fc, fb, cur.mean - base.mean)
    spread = base.std
    value = w / spread if spread > 0 else (0.0 if w == 0 else math.inf)
    rank_err = cur.rank_error + base.rank_error
    err = rank_err * float(z[-1] - z[0]) / spread if spread > 0 and rank_err else 0.0
    d = float(diff.max())
    i = int(np.argmax(diff))
    contrib = ((f"x={z[i]:.6g}", float(fb[i]), float(fc[i]), d),)
    pv = _ks_pvalue(d, _effective_size(cur, base))
    return _score("wasserstein", value, cur.n, base.n, pv, err, contrib, w)


def _anchored_w1(z: np.ndarray, fc: np.ndarray, fb: np.ndarray, mean_shift: float) -> float:
    """W1 from two step CDFs on the grid ``z``, anchored on the exact mean difference.

    ``W1 = P + N`` where ``P``/``N`` integrate the parts where the current CDF lies below /
    above the baseline's, and ``P - N`` equals the exact difference of means, which the sketch
    knows exactly. The KLL's coarse tail items make the sketched ``P - N`` miss it by up to a
    few hundredths of a standard deviation, so the net part is replaced by the exact one in
    proportion to how one-sided the difference is, ``s = |P - N| / (P + N)``: a pure shift
    (``s = 1``) gives exactly ``|mean shift|``, a balanced crossing (``s = 0``) keeps ``P + N``.
    Exact sketches are unchanged (their ``P - N`` already equals the mean shift)."""
    signed = (fb - fc)[:-1] * np.diff(z)  # > 0 where the current distribution lies to the right
    pos = float(signed[signed > 0].sum())
    neg = float(-signed[signed < 0].sum())
    total = pos + neg
    if total == 0.0:
        return abs(mean_shift)
    net = abs(pos - neg)
    return total + (net / total) * (abs(mean_shift) - net)


METRICS = {"psi": psi, "ks": ks, "js": js, "wasserstein": wasserstein, "chi2": chi2}
BINNED_METRICS = {"psi": psi, "js": js, "chi2": chi2}


def metrics_for(sketch: FeatureSketch) -> tuple[str, ...]:
    """The metrics meaningful for a sketch's type."""
    return NUMERIC_METRICS if isinstance(sketch, NumericSketch) else CATEGORICAL_METRICS


def compare(cur: FeatureSketch, base: FeatureSketch, metrics: Iterable[str],
            thresholds: Mapping[str, float], min_samples: int, alpha: float = 0.05,
            table: BinTable | None = None) -> dict[str, DriftScore]:
    """Compute the requested metrics (those meaningful for the feature type; others are
    skipped) and set each status: ``insufficient_data`` if ``n < min_samples`` or
    ``m < min_samples``, else ``drift`` if ``value >= threshold`` and ``p_value < alpha``,
    else ``ok``. Missing thresholds fall back to :data:`DEFAULT_THRESHOLDS`. ``table``, when
    given, is ``bin_table(cur, base)`` computed by the caller (it is computed here otherwise)."""
    allowed = metrics_for(cur)
    out: dict[str, DriftScore] = {}
    for metric in metrics:
        if metric not in METRICS:
            raise ValueError(f"unknown drift metric {metric!r}; known: {sorted(METRICS)}")
        if metric not in allowed:
            continue
        if metric in BINNED_METRICS:
            _check(cur, base)
            if table is None and cur.n and base.n:
                table = bin_table(cur, base)  # shared by PSI, JS and chi-square
            score = BINNED_METRICS[metric](cur, base, table)
        else:
            score = METRICS[metric](cur, base)
        threshold = thresholds.get(metric, DEFAULT_THRESHOLDS[metric])
        out[metric] = with_status(score, threshold, min_samples, alpha)
    return out


def with_status(score: DriftScore, threshold: float, min_samples: int, alpha: float = 0.05
                ) -> DriftScore:
    """``score`` with its status decided by the rule of :func:`compare`."""
    status: Status
    if score.n < min_samples or score.m < min_samples or math.isnan(score.value):
        status = "insufficient_data"
    elif score.value >= threshold and score.p_value < alpha:
        status = "drift"
    else:
        status = "ok"
    return DriftScore(score.metric, score.value, score.n, score.m, score.p_value, status,
                      score.error_bound, score.contributions, score.statistic, score.dof)
