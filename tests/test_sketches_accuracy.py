"""Sketch-based drift statistics against exact computations on the same raw data."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from driftline.sketches import (
    Baseline,
    CategoricalSketch,
    CategoricalSpec,
    CohortProfile,
    Column,
    NumericSketch,
    NumericSpec,
    js,
    ks,
    psi,
    wasserstein,
)

N = 100_000
Gen = Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _bimodal(rng: np.random.Generator, w: float, n: int) -> np.ndarray:
    left = rng.random(n) < w
    return np.where(left, rng.normal(-2, 0.7, n), rng.normal(3, 1.2, n))


NUMERIC_CASES: dict[str, Gen] = {
    "normal_shift": lambda r: (r.normal(0, 1, N), r.normal(0.25, 1, N)),
    "scale_change": lambda r: (r.normal(5, 1, N), r.normal(5, 1.4, N)),
    "lognormal": lambda r: (r.lognormal(3, 1, N), r.lognormal(3.1, 0.9, N)),
    "bimodal_mixture": lambda r: (_bimodal(r, 0.4, N), _bimodal(r, 0.5, N)),
    "integer_heavy_ties": lambda r: (r.poisson(3, N).astype(float),
                                     r.poisson(3.3, N).astype(float)),
    "no_drift": lambda r: (r.normal(0, 1, N), r.normal(0, 1, N)),
}


def _exact_shares(x: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    counts = np.bincount(np.searchsorted(np.asarray(edges), x, side="right"),
                         minlength=len(edges) + 1).astype(float)
    return counts / counts.sum()


def _exact_psi(p: np.ndarray, q: np.ndarray) -> float:
    keep = (p > 0) | (q > 0)
    p, q = p[keep], q[keep]
    assert np.all(p > 0) and np.all(q > 0), "test data should not need smoothing"
    return float(np.sum((p - q) * np.log(p / q)))


def _profiles(base_raw: np.ndarray, cur_raw: np.ndarray, spec: NumericSpec | CategoricalSpec
              ) -> tuple[CohortProfile, CohortProfile]:
    baseline = Baseline.build([spec], {spec.name: Column(base_raw)})
    cur = CohortProfile(baseline.schema)
    cur.update({spec.name: Column(cur_raw)}, len(cur_raw))
    return cur, baseline.global_profile


@pytest.mark.parametrize("case", list(NUMERIC_CASES))
def test_numeric_statistics_match_exact_computation(case: str) -> None:
    rng = np.random.default_rng(zlib.crc32(case.encode()))
    base_raw, cur_raw = NUMERIC_CASES[case](rng)
    cur, base = _profiles(base_raw, cur_raw, NumericSpec("x"))
    c, b = cur["x"], base["x"]
    assert isinstance(c, NumericSketch) and isinstance(b, NumericSketch)
    edges = b.spec.edges
    assert edges is not None and len(edges) >= 5

    p, q = _exact_shares(cur_raw, edges), _exact_shares(base_raw, edges)
    got_psi = psi(c, b)
    assert abs(got_psi.value - _exact_psi(p, q)) <= 0.01
    assert got_psi.error_bound == 0.0  # exact bin counts over the baseline edges

    got_ks = ks(c, b)
    exact_ks = stats.ks_2samp(cur_raw, base_raw).statistic
    assert abs(got_ks.value - exact_ks) <= 0.015
    # the baseline's KLL is 4x larger: its rank error is ~1/4 of the live sketch's
    assert got_ks.error_bound == pytest.approx(c.rank_error + b.rank_error)
    assert c.rank_error == pytest.approx(0.0133, abs=0.001) and b.rank_error < 0.005

    exact_js = jensenshannon(p, q, base=2) ** 2
    assert abs(js(c, b).value - exact_js) <= 0.005

    exact_w = stats.wasserstein_distance(cur_raw, base_raw) / base_raw.std()
    got_w = wasserstein(c, b)
    assert abs(got_w.value - exact_w) <= got_w.error_bound
    # W integrates the KLL rank error over x; anchored on the exact means it stays within
    # ~0.02 baseline std even for the log-normal tail (see docs/statistics.md)
    assert abs(got_w.value - exact_w) <= 0.03

    assert (c.n, b.n) == (N, N)
    assert c.mean == pytest.approx(cur_raw.mean(), rel=1e-9, abs=1e-9)
    assert c.variance == pytest.approx(cur_raw.var(), rel=1e-9)
    assert (c.min, c.max) == (cur_raw.min(), cur_raw.max())


def test_categorical_with_50_levels_matches_exact_computation() -> None:
    rng = np.random.default_rng(50)
    levels = np.array([f"merchant_{i:02d}" for i in range(50)], dtype=object)
    w_base = 1.0 / np.arange(1, 51) ** 0.8
    w_cur = w_base * rng.uniform(0.7, 1.3, 50)
    base_raw = rng.choice(levels, N, p=w_base / w_base.sum())
    cur_raw = rng.choice(levels, N, p=w_cur / w_cur.sum())
    cur, base = _profiles(base_raw, cur_raw, CategoricalSpec("merchant"))
    c, b = cur["merchant"], base["merchant"]
    assert isinstance(c, CategoricalSketch) and isinstance(b, CategoricalSketch)
    assert c.is_exact and c.distinct == 50

    order = sorted(levels.tolist())
    p = np.array([np.count_nonzero(cur_raw == v) for v in order], float) / N
    q = np.array([np.count_nonzero(base_raw == v) for v in order], float) / N
    assert abs(psi(c, b).value - _exact_psi(p, q)) <= 0.01
    assert abs(js(c, b).value - jensenshannon(p, q, base=2) ** 2) <= 1e-9
    table = np.vstack([p * N, q * N])
    exact_chi2 = stats.chi2_contingency(table, correction=False)
    from driftline.sketches import chi2
    got = chi2(c, b)
    assert got.statistic == pytest.approx(exact_chi2.statistic, rel=1e-9)
    assert got.p_value == pytest.approx(exact_chi2.pvalue, rel=1e-6, abs=1e-300)
    assert got.dof == 49


def test_quantiles_are_within_the_stated_rank_error() -> None:
    rng = np.random.default_rng(11)
    x = rng.lognormal(0, 2, 1_000_000)
    s = NumericSketch(NumericSpec("x"))
    for chunk in np.array_split(x, 37):
        s.update(chunk)
    levels = np.linspace(0.01, 0.99, 99)
    est = s.quantiles(levels)
    true_rank = np.searchsorted(np.sort(x), est, side="right") / x.size
    assert np.max(np.abs(true_rank - levels)) <= s.rank_error
    assert s.rank_error == pytest.approx(0.0133, abs=0.001)


def test_sketch_noise_is_not_reported_as_significant() -> None:
    """With 100k events per side and no drift, the sketch error of KS (~0.005-0.01) alone would
    be 'significant'; p-values count the sketches' rank error as extra sampling noise."""
    rng = np.random.default_rng(8)
    cur, base = _profiles(rng.normal(0, 1, N), rng.normal(0, 1, N), NumericSpec("x"))
    got = ks(cur["x"], base["x"])
    # D ~ 0.01 here; as plain KS with n_eff = 50,000 that would be p ~ 1e-4
    assert got.value > 0 and got.p_value > 0.1
    assert wasserstein(cur["x"], base["x"]).p_value > 0.1
    # real shifts still are: 0.08 and 0.15 standard deviations (D ~ 0.03 and 0.06)
    shifted, base = _profiles(rng.normal(0, 1, N), rng.normal(0.08, 1, N), NumericSpec("x"))
    assert ks(shifted["x"], base["x"]).p_value < 1e-3
    shifted, base = _profiles(rng.normal(0, 1, N), rng.normal(0.15, 1, N), NumericSpec("x"))
    assert ks(shifted["x"], base["x"]).p_value < 1e-12
