"""Baseline building: bin edges, vocabulary, per-cohort profiles and the fallback."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.sketches import (
    Baseline,
    CategoricalSketch,
    CategoricalSpec,
    CohortProfile,
    Column,
    NumericSketch,
    NumericSpec,
    psi,
)


def test_edges_are_exact_training_deciles_deduplicated_for_ties() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=10_001)
    b = Baseline.build([NumericSpec("x")], {"x": Column(x)})
    deciles = np.quantile(x, np.arange(1, 10) / 10, method="inverted_cdf")
    assert b.schema["x"].edges == tuple(deciles)  # actual training values
    base = b.global_profile["x"]
    assert isinstance(base, NumericSketch)
    shares = base.bin_counts / base.n  # type: ignore[operator]
    assert shares == pytest.approx(np.full(10, 0.1), abs=1e-3)

    # 40% zeros and a few integer values: duplicate quantiles collapse, no empty bin below min
    ties = np.concatenate([np.zeros(4000), rng.integers(1, 4, 6000)]).astype(float)
    t = Baseline.build([NumericSpec("t")], {"t": Column(ties)})
    assert t.schema["t"].edges == (1.0, 2.0, 3.0)
    counts = t.global_profile["t"].bin_counts  # type: ignore[union-attr]
    assert counts.tolist() == [4000, *np.bincount(ties.astype(int))[1:].tolist()]


def test_vocabulary_is_the_cap_most_frequent_categories() -> None:
    labels = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 5, dtype=object)
    b = Baseline.build([CategoricalSpec("k", cap=3)], {"k": Column(labels)})
    assert b.schema["k"].vocabulary == frozenset({"a", "b", "c"})
    live = CategoricalSketch(b.schema["k"])  # type: ignore[arg-type]
    live.update(np.array(["a", "d", "zz"], dtype=object))
    assert live.unseen == 2
    # the baseline's own "other" bin holds the rare training category: no artificial drift
    same = CategoricalSketch(b.schema["k"])  # type: ignore[arg-type]
    same.update(labels)
    assert psi(same, b.global_profile["k"]).value == pytest.approx(0.0, abs=1e-12)


def test_cohort_profiles_equal_profiles_of_their_rows_and_fall_back_to_global() -> None:
    rng = np.random.default_rng(1)
    n = 9000
    region = rng.choice(np.array(["eu", "us", "apac", None], dtype=object), n,
                        p=[0.55, 0.32, 0.08, 0.05])
    x = rng.normal(size=n)
    device = rng.choice(np.array(["ios", "android"], dtype=object), n)
    cols = {"x": Column(x), "device": Column(device)}
    b = Baseline.build([NumericSpec("x"), CategoricalSpec("device")], cols,
                       segments={"region": region}, min_cohort_rows=1000)
    assert b.cohorts == (("region", "eu"), ("region", "us"))
    for cohort in ("eu", "us"):
        mask = region == cohort
        own = b.profile_for("region", cohort)
        expect = CohortProfile(b.profile_schema)
        expect.update({"x": Column(x[mask]), "device": Column(device[mask])},
                      int(mask.sum()))
        assert own.events == expect.events
        assert own["x"].bin_counts.tolist() == expect["x"].bin_counts.tolist()  # type: ignore[union-attr]
        assert own["device"].counts() == expect["device"].counts()  # type: ignore[union-attr]
        assert own["x"].mean == pytest.approx(x[mask].mean())  # type: ignore[union-attr]
    assert b.profile_for("region", "apac") is b.global_profile
    assert b.profile_for("device", "ios") is b.global_profile
    assert not b.has_own("region", "apac") and b.has_own("region", "eu")


def test_given_edges_and_vocabulary_are_kept() -> None:
    spec_n = NumericSpec("x", edges=(0.0, 1.0))
    spec_c = CategoricalSpec("c", vocabulary=frozenset({"a"}))
    b = Baseline.build([spec_n, spec_c], {"x": Column(np.arange(10.0)),
                                          "c": Column(np.array(["b"] * 10, dtype=object))})
    assert b.schema["x"] == spec_n and b.schema["c"] == spec_c
    assert b.global_profile["c"].unseen == 10  # type: ignore[union-attr]


def test_live_profiles_from_the_schema_compare_exactly() -> None:
    rng = np.random.default_rng(2)
    b = Baseline.build([NumericSpec("x")], {"x": Column(rng.lognormal(size=50_000))},
                       bins=20)
    assert b.schema["x"].bins == 20 and b.global_profile["x"].spec.k == 800
    live = CohortProfile(b.schema)
    live.update({"x": Column(rng.lognormal(0.1, 1, 5000))}, 5000)
    score = psi(live["x"], b.global_profile["x"])
    assert score.error_bound == 0.0 and score.dof == 19
