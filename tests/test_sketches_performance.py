"""Performance state: realized metrics equal exact computations, AUC within its bound,
merging equals the union, bytes round-trip, CBPE equals its per-prediction definition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import isotonic_regression

from driftline.sketches.calibration import (
    Calibration,
    estimate,
    isotonic_bins,
    label_shift,
    prediction_shift,
)
from driftline.sketches.codec import SketchFormatError
from driftline.sketches.performance import PerformanceState, ScoreGrid


def exact_auc(scores: np.ndarray, y: np.ndarray) -> float:
    pos, neg = scores[y == 1], scores[y == 0]
    u = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
    return float(u) / (pos.size * neg.size)


def dataset(rng: np.random.Generator, kind: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels of many shapes: balanced, rare positives, crowded near 0 or 1,
    nearly perfect, nearly random."""
    if kind == 0:
        s = rng.uniform(0, 1, n)
        y = rng.uniform(0, 1, n) < s
    elif kind == 1:  # rare positives, scores crowded near 0 (fraud-like)
        s = rng.beta(0.3, 20, n)
        y = rng.uniform(0, 1, n) < np.minimum(s * 5, 1)
    elif kind == 2:  # crowded near 1
        s = rng.beta(30, 0.5, n)
        y = rng.uniform(0, 1, n) < s ** 4
    elif kind == 3:  # nearly perfect separation
        y = rng.uniform(0, 1, n) < 0.3
        s = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 6 * (y - 0.5))))
    else:  # nearly random
        s = rng.beta(2, 2, n)
        y = rng.uniform(0, 1, n) < 0.5 + 0.05 * (s - 0.5)
    return s, y.astype(float)


@pytest.mark.parametrize("seed", range(40))
def test_auc_within_bound_and_0_005_of_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.choice([200, 1_000, 5_000, 50_000]))
    s, y = dataset(rng, seed % 5, n)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    st = PerformanceState()
    st.add_labels(s, s >= 0.5, y)
    r = st.realized()
    exact = exact_auc(s, y)
    assert abs(r["roc_auc"] - exact) <= r["roc_auc_error_bound"] + 1e-12
    assert abs(r["roc_auc"] - exact) < 0.005
    assert r["roc_auc_error_bound"] < 0.005


def test_auc_exact_on_score_grid_with_ties() -> None:
    rng = np.random.default_rng(5)
    s = rng.integers(1, 100, 3000) / 100.0  # scores rounded to 0.01: one value per bin
    y = (rng.uniform(0, 1, 3000) < s).astype(float)
    st = PerformanceState()
    st.add_labels(s, s >= 0.5, y)
    assert st.realized()["roc_auc"] == pytest.approx(exact_auc(s, y), abs=1e-12)


def test_classification_metrics_equal_exact_weighted() -> None:
    rng = np.random.default_rng(7)
    s, y = dataset(rng, 0, 4000)
    w = rng.choice([1.0, 4.0], 4000)
    yhat = s >= 0.4
    st = PerformanceState()
    st.add_predictions(s, yhat)
    st.add_labels(s, yhat, y, w)
    r = st.realized()
    tp = w[yhat & (y == 1)].sum()
    fp = w[yhat & (y == 0)].sum()
    fn = w[~yhat & (y == 1)].sum()
    tn = w[~yhat & (y == 0)].sum()
    assert r["accuracy"] == pytest.approx((tp + tn) / w.sum(), rel=1e-12)
    assert r["precision"] == pytest.approx(tp / (tp + fp), rel=1e-12)
    assert r["recall"] == pytest.approx(tp / (tp + fn), rel=1e-12)
    assert r["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), rel=1e-12)
    c = np.clip(s, 1e-15, 1 - 1e-15)
    ll = -(w * (y * np.log(c) + (1 - y) * np.log(1 - c))).sum() / w.sum()
    assert r["log_loss"] == pytest.approx(ll, rel=1e-12)
    assert r["brier"] == pytest.approx((w * (y - s) ** 2).sum() / w.sum(), rel=1e-12)
    b = np.minimum((s * 10).astype(int), 9)
    ece = sum(abs((w * (s - y))[b == k].sum()) for k in range(10)) / w.sum()
    assert r["calibration_error"] == pytest.approx(ece, rel=1e-12)
    assert r["effective_n"] == pytest.approx(w.sum() ** 2 / (w * w).sum(), rel=1e-12)
    assert (r["labeled"], st.predictions) == (4000, 4000)


def test_regression_metrics_equal_exact() -> None:
    rng = np.random.default_rng(3)
    pred, y = rng.normal(10, 3, 2000), rng.normal(10.5, 3, 2000)
    st = PerformanceState(task="regression")
    st.add_predictions(pred)
    st.add_labels(pred, None, y)
    r = st.realized()
    assert r["mae"] == pytest.approx(np.abs(pred - y).mean(), rel=1e-12)
    assert r["rmse"] == pytest.approx(np.sqrt(((pred - y) ** 2).mean()), rel=1e-12)
    assert r["bias"] == pytest.approx((pred - y).mean(), rel=1e-12)


def test_invalid_scores_and_labels_are_counted_not_used() -> None:
    st = PerformanceState()
    s = np.array([0.2, np.nan, 1.5, 0.9])
    st.add_predictions(s, s >= 0.5)
    assert (st.predictions, st.invalid) == (2, 2)
    st.add_labels(np.array([0.2, 0.9, 0.7]), np.array([False, True, True]),
                  np.array([0.0, 1.0, 7.0]))
    assert st.labeled == 2


def test_merge_of_parts_equals_the_whole() -> None:
    rng = np.random.default_rng(11)
    s, y = dataset(rng, 1, 9000)
    whole = PerformanceState()
    whole.add_predictions(s, s >= 0.1)
    whole.add_labels(s[:6000], s[:6000] >= 0.1, y[:6000])
    parts = []
    for lo in range(0, 9000, 3000):
        p = PerformanceState()
        p.add_predictions(s[lo:lo + 3000], s[lo:lo + 3000] >= 0.1)
        hi = min(lo + 3000, 6000)
        if hi > lo:
            p.add_labels(s[lo:hi], s[lo:hi] >= 0.1, y[lo:hi])
        parts.append(PerformanceState.from_bytes(p.to_bytes()))
    merged = parts[0].merge(parts[1]).merge(parts[2])
    a, b = merged.realized(), whole.realized()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-12, nan_ok=True), k
    assert np.array_equal(merged.pred_hist, whole.pred_hist)


def test_bytes_round_trip_and_corruption() -> None:
    st = PerformanceState(task="regression")
    st.add_predictions(np.arange(5.0))
    st.add_labels(np.arange(5.0), None, np.arange(5.0) + 1)
    back = PerformanceState.from_bytes(st.to_bytes())
    assert back.realized() == st.realized()
    blob = bytearray(st.to_bytes())
    blob[-1] ^= 0xFF
    with pytest.raises(SketchFormatError):
        PerformanceState.from_bytes(bytes(blob))
    with pytest.raises(ValueError, match="different tasks"):
        PerformanceState().merge(st)


def test_isotonic_equals_scipy() -> None:
    rng = np.random.default_rng(2)
    y, w = rng.uniform(0, 1, 300), rng.integers(1, 20, 300).astype(float)
    ref = isotonic_regression(y, weights=w).x
    assert np.allclose(isotonic_bins(y, w), ref, atol=1e-12)


def test_cbpe_equals_its_per_prediction_definition() -> None:
    rng = np.random.default_rng(4)
    s, y = dataset(rng, 0, 30_000)
    ref = PerformanceState()
    ref.add_labels(s, s >= 0.5, y)
    ref.add_predictions(s, s >= 0.5)
    cal = Calibration.fit(ref)
    live = rng.beta(2, 5, 5000)  # covariate shift: more low scores
    yhat = live >= 0.5
    st = PerformanceState()
    st.add_predictions(live, yhat)
    est = estimate(st, cal)
    p = cal.probabilities[st.grid.index(live)]
    tp, fp = p[yhat].sum(), (1 - p[yhat]).sum()
    fn, tn = p[~yhat].sum(), (1 - p[~yhat]).sum()
    assert est["accuracy"] == pytest.approx((tp + tn) / 5000, rel=1e-9)
    assert est["precision"] == pytest.approx(tp / (tp + fp), rel=1e-9)
    assert est["recall"] == pytest.approx(tp / (tp + fn), rel=1e-9)
    # the expected AUC: weighted Mann-Whitney over bins (ties = same bin count one half)
    b = st.grid.index(live)
    order = np.argsort(b, kind="stable")
    bs, ps = b[order], p[order]
    num = 0.0
    for k in np.unique(bs):
        inb = bs == k
        below = (1 - ps[bs < k]).sum()
        num += ps[inb].sum() * (below + 0.5 * (1 - ps[inb]).sum())
    assert est["roc_auc"] == pytest.approx(num / (p.sum() * (1 - p).sum()), rel=1e-9)
    # calibrated scores (P(y|s) = s): the estimate is close to what the labels will say
    ylive = (rng.uniform(0, 1, 5000) < live).astype(float)
    st.add_labels(live, yhat, ylive)
    real = st.realized()
    assert abs(est["accuracy"] - real["accuracy"]) < 0.03
    assert abs(est["roc_auc"] - real["roc_auc"]) < 0.03
    back = Calibration.from_bytes(cal.to_bytes())
    assert back.probabilities.tolist() == cal.probabilities.tolist()


def test_prior_shift_statistics() -> None:
    rng = np.random.default_rng(9)
    s = rng.uniform(0, 1, 20_000)
    ref = PerformanceState()
    ref.add_predictions(s, s >= 0.5)
    ref.add_labels(s, s >= 0.5, (rng.uniform(0, 1, 20_000) < s).astype(float))
    same, shifted = PerformanceState(), PerformanceState()
    a, b = rng.uniform(0, 1, 5000), rng.beta(4, 2, 5000)
    same.add_predictions(a, a >= 0.5)
    shifted.add_predictions(b, b >= 0.5)
    assert prediction_shift(same, ref)["psi"] < 0.01
    assert prediction_shift(shifted, ref)["psi"] > 0.2
    shifted.add_labels(b, b >= 0.5, (rng.uniform(0, 1, 5000) < b).astype(float))
    ls = label_shift(shifted, ref)
    assert ls["value"] > 0.6 and ls["baseline"] == pytest.approx(0.5, abs=0.02)
    assert ls["p_value"] < 1e-6
    assert label_shift(same, ref)["value"] is None  # no labels yet


def test_grid_is_monotone() -> None:
    g = ScoreGrid()
    x = np.sort(np.random.default_rng(0).uniform(0, 1, 10_000))
    assert np.all(np.diff(g.index(x)) >= 0)
    assert g.index(np.array([0.0, 1.0])).tolist() == [0, g.bins - 1]
