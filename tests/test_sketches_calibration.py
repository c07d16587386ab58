"""Under no drift, p-values must be calibrated: about 5% of windows below 0.05.

2,000 simulated windows of n = 200 events each are compared with one large baseline built the
way production builds it (Baseline.build); the fraction of p-values below 0.05 must lie in
[0.03, 0.07] (a 95% band for 2,000 Bernoulli(0.05) draws is about +-0.0096).
"""

from __future__ import annotations

import numpy as np
import pytest

from driftline.sketches import (
    Baseline,
    CategoricalSketch,
    CategoricalSpec,
    Column,
    NumericSketch,
    NumericSpec,
    chi2,
    compare,
    js,
    ks,
    psi,
)

PAIRS = 2_000
WINDOW = 200
BASELINE_ROWS = 200_000


def _rejection_rates(baseline: Baseline, draw: np.ndarray, metrics: dict) -> dict[str, float]:
    spec = baseline.schema["x"]
    base = baseline.global_profile["x"]
    rejections = dict.fromkeys(metrics, 0)
    for window in draw.reshape(PAIRS, WINDOW):
        cur = NumericSketch(spec) if isinstance(spec, NumericSpec) else CategoricalSketch(spec)
        cur.update(window)
        for name, fn in metrics.items():
            rejections[name] += fn(cur, base).p_value < 0.05
    return {k: v / PAIRS for k, v in rejections.items()}


@pytest.mark.parametrize("dist", ["normal", "lognormal"])
def test_numeric_p_values_are_calibrated_under_no_drift(dist: str) -> None:
    rng = np.random.default_rng(2024 if dist == "normal" else 7)
    sample = (lambda n: rng.normal(10, 3, n)) if dist == "normal" else (
        lambda n: rng.lognormal(2, 0.8, n))
    baseline = Baseline.build([NumericSpec("x")], {"x": Column(sample(BASELINE_ROWS))})
    rates = _rejection_rates(baseline, sample(PAIRS * WINDOW), {"psi": psi, "ks": ks, "js": js})
    for metric, rate in rates.items():
        assert 0.03 <= rate <= 0.07, f"{metric}: {rate:.4f} of no-drift windows rejected"


def test_categorical_p_values_are_calibrated_under_no_drift() -> None:
    rng = np.random.default_rng(99)
    levels = np.array([f"c{i}" for i in range(8)], dtype=object)
    probs = np.array([30, 20, 15, 10, 10, 7, 5, 3]) / 100  # smallest expected count: 6
    baseline = Baseline.build([CategoricalSpec("x")],
                              {"x": Column(rng.choice(levels, BASELINE_ROWS, p=probs))})
    rates = _rejection_rates(baseline, rng.choice(levels, PAIRS * WINDOW, p=probs),
                             {"psi": psi, "js": js, "chi2": chi2})
    for metric, rate in rates.items():
        assert 0.03 <= rate <= 0.07, f"{metric}: {rate:.4f} of no-drift windows rejected"


def test_sparse_categorical_p_values_stay_calibrated() -> None:
    """50 Zipf-like levels in windows of 200: most levels expect < 5 events. Sparse bins are
    pooled for the p-value (Cochran's rule), so the tests keep their level."""
    rng = np.random.default_rng(3)
    levels = np.array([f"m{i:02d}" for i in range(50)], dtype=object)
    probs = 1.0 / np.arange(1, 51) ** 0.8
    probs /= probs.sum()
    assert probs.min() * WINDOW < 2
    baseline = Baseline.build([CategoricalSpec("x")],
                              {"x": Column(rng.choice(levels, BASELINE_ROWS, p=probs))})
    rates = _rejection_rates(baseline, rng.choice(levels, PAIRS * WINDOW, p=probs),
                             {"psi": psi, "js": js, "chi2": chi2})
    for metric, rate in rates.items():
        assert 0.03 <= rate <= 0.07, f"{metric}: {rate:.4f} of no-drift windows rejected"


@pytest.mark.parametrize(("window", "pairs", "low"), [(3_000, 400, 0.02), (20_000, 150, 0.0)])
def test_ks_stays_calibrated_once_the_window_sketch_is_approximate(
        window: int, pairs: int, low: float) -> None:
    """Larger windows: the live KLL is in estimation mode and its noise must not be read as
    significance (plain KS would reject ~13% at 3,000 and most windows at 20,000 events)."""
    rng = np.random.default_rng(window)
    baseline = Baseline.build([NumericSpec("x")], {"x": Column(rng.normal(0, 1, BASELINE_ROWS))})
    base = baseline.global_profile["x"]
    rejected = 0
    for _ in range(pairs):
        cur = NumericSketch(baseline.schema["x"])  # type: ignore[arg-type]
        cur.update(rng.normal(0, 1, window))
        assert not cur.is_exact
        rejected += ks(cur, base).p_value < 0.05
    # 95% band of a Binomial(pairs, 0.05) rate, upper side only for the large windows
    assert low <= rejected / pairs <= 0.09


def test_small_windows_are_insufficient_data_never_drift() -> None:
    rng = np.random.default_rng(5)
    baseline = Baseline.build([NumericSpec("x")], {"x": Column(rng.normal(0, 1, 50_000))})
    base = baseline.global_profile["x"]
    for shift in (0.0, 3.0):  # even a huge shift is not "drift" below min_samples
        cur = NumericSketch(baseline.schema["x"])
        cur.update(rng.normal(shift, 1, 499))
        scores = compare(cur, base, ["psi", "ks", "js", "wasserstein"], {}, min_samples=500)
        assert {s.status for s in scores.values()} == {"insufficient_data"}
        assert all(s.n == 499 and s.m == 50_000 for s in scores.values())
        cur.update(rng.normal(shift, 1, 1))
        scores = compare(cur, base, ["psi", "ks"], {}, min_samples=500)
        expected = "drift" if shift else "ok"
        assert {s.status for s in scores.values()} == {expected}


def test_small_baseline_is_insufficient_data() -> None:
    rng = np.random.default_rng(6)
    baseline = Baseline.build([NumericSpec("x")], {"x": Column(rng.normal(0, 1, 300))})
    cur = NumericSketch(baseline.schema["x"])
    cur.update(rng.normal(2, 1, 10_000))
    scores = compare(cur, baseline.global_profile["x"], ["psi", "ks"], {}, min_samples=500)
    assert {s.status for s in scores.values()} == {"insufficient_data"}
