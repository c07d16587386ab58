"""The seeds' worked example: PSI of the age bins must be 0.029."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.sketches import (
    CategoricalSketch,
    CategoricalSpec,
    NumericSketch,
    NumericSpec,
    compare,
    psi,
)

TRAINING = np.array([15, 25, 20, 18, 12, 10]) / 100
SERVING = np.array([12, 22, 18, 20, 15, 13]) / 100
AGE_EDGES = (25.0, 35.0, 45.0, 55.0, 65.0)  # bins <25, 25-35, 35-45, 45-55, 55-65, >=65
BIN_AGES = np.array([20.0, 30.0, 40.0, 50.0, 60.0, 70.0])


def _age_sketch(shares: np.ndarray, n: int) -> NumericSketch:
    s = NumericSketch(NumericSpec("age", edges=AGE_EDGES))
    s.update(np.repeat(BIN_AGES, np.round(shares * n).astype(int)))
    return s


def test_age_bins_give_psi_0_029() -> None:
    score = psi(_age_sketch(SERVING, 10_000), _age_sketch(TRAINING, 50_000))
    assert score.value == pytest.approx(0.029, abs=0.001)
    assert score.value == pytest.approx(0.02931, abs=1e-4)  # no smoothing: no empty bin
    assert score.dof == 5
    top_label, share_base, share_cur, contribution = score.contributions[0]
    assert top_label == "[65, inf)" and (share_base, share_cur) == (0.10, 0.13)
    assert contribution == pytest.approx(0.03 * np.log(1.3))


def test_age_example_is_significant_with_many_events_but_not_with_few() -> None:
    base = _age_sketch(TRAINING, 50_000)
    big = compare(_age_sketch(SERVING, 10_000), base, ["psi"], {"psi": 0.02}, min_samples=100)
    small = compare(_age_sketch(SERVING, 200), base, ["psi"], {"psi": 0.02}, min_samples=100)
    assert big["psi"].status == "drift" and big["psi"].p_value < 1e-10
    # the same shift seen in 200 events is within what chance produces
    assert small["psi"].value == pytest.approx(0.029, abs=0.001)
    assert small["psi"].status == "ok" and small["psi"].p_value > 0.05


def test_same_example_as_categorical_bins() -> None:
    labels = ["<25", "25-35", "35-45", "45-55", "55-65", "65+"]
    spec = CategoricalSpec("age_band", vocabulary=frozenset(labels))
    base, cur = CategoricalSketch(spec), CategoricalSketch(spec)
    base.update_counts(labels, np.round(TRAINING * 50_000).astype(int))
    cur.update_counts(labels, np.round(SERVING * 10_000).astype(int))
    assert psi(cur, base).value == pytest.approx(0.029, abs=0.001)
