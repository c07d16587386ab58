"""Bad input gives a defined result or a clear error, never a crash or a silent lie."""

from __future__ import annotations

import math

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
    ProfileSchema,
    QualityRates,
    canonical_categories,
    compare,
    evaluate_profile,
    ks,
    psi,
)

SCHEMA = ProfileSchema((NumericSpec("amount", range=(0.0, 100.0)), CategoricalSpec("country")))


def _baseline() -> Baseline:
    rng = np.random.default_rng(1)
    return Baseline.build(list(SCHEMA), {
        "amount": Column(rng.uniform(0, 100, 5000)),
        "country": Column(rng.choice(["de", "fr", "it"], 5000).astype(object))})


def test_empty_arrays_change_nothing_and_score_as_insufficient_data() -> None:
    s = NumericSketch(SCHEMA["amount"])  # type: ignore[arg-type]
    s.update(np.array([]))
    assert (s.count, s.n) == (0, 0)
    assert math.isnan(s.min) and math.isnan(s.mean) and np.isnan(s.quantiles([0.5])).all()
    c = CategoricalSketch(SCHEMA["country"])  # type: ignore[arg-type]
    c.update(np.array([], dtype=object))
    assert (c.count, c.distinct, c.counts()) == (0, 0.0, {})
    p = CohortProfile(SCHEMA)
    p.update({"amount": Column(np.array([])), "country": Column(np.array([], dtype=object))}, 0)
    ev = evaluate_profile(p, _baseline().global_profile, ["psi", "ks", "chi2"], {}, 100)
    for f in ev.features.values():
        assert f.n == 0 and f.quality == QualityRates(0.0, 0.0, 0.0, 0.0, 0.0, 0)
        assert {s.status for s in f.scores.values()} == {"insufficient_data"}
        assert all(math.isnan(s.value) for s in f.scores.values())


def test_all_nan_and_inf_are_counted_and_kept_out_of_the_statistics() -> None:
    s = NumericSketch(NumericSpec("x", range=(0, 1)))
    s.update(np.array([np.nan] * 5 + [np.inf, -np.inf]))
    assert (s.count, s.nan, s.inf, s.n, s.out_of_range) == (7, 5, 2, 0, 0)
    assert math.isnan(s.mean) and math.isnan(s.max)
    s.update(np.array([0.5, np.inf, 2.0]))
    assert (s.count, s.inf, s.n, s.out_of_range, s.max, s.mean) == (10, 3, 2, 1, 2.0, 1.25)
    q = QualityRates.of(s)
    assert q.nan_ratio == pytest.approx(0.8) and q.out_of_range_ratio == pytest.approx(0.1)
    base = NumericSketch(NumericSpec("x", range=(0, 1)))
    base.update(np.linspace(0, 1, 1000))
    assert compare(s, base, ["psi", "ks"], {}, min_samples=10)["ks"].status == (
        "insufficient_data")


def test_strings_in_a_numeric_column_are_type_violations() -> None:
    p = CohortProfile(SCHEMA)
    values = np.array([1.5, "12", None, {"a": 1}, 7, True, "abc"], dtype=object)
    p.update({"amount": Column(values)}, 7)
    amount = p["amount"]
    assert isinstance(amount, NumericSketch)
    assert (amount.count, amount.n, amount.nulls, amount.invalid) == (7, 3, 1, 3)
    assert amount.quantiles([0, 1]).tolist() == [1.0, 7.0]
    assert QualityRates.of(amount).invalid_ratio == pytest.approx(3 / 7)
    with pytest.raises(TypeError, match="numeric values must be a numeric array"):
        amount.update(np.array(["1.0", "2.0"]))


def test_none_and_odd_types_in_a_categorical_column() -> None:
    labels, null, invalid = canonical_categories(
        np.array(["de", None, float("nan"), 3, 3.0, 2.5, False, b"fr", [1], float("inf")],
                 dtype=object))
    assert labels.tolist() == ["de", "", "", "3", "3", "2.5", "false", "fr", "", ""]
    assert null.tolist() == [False, True, True] + [False] * 7
    assert invalid.tolist() == [False] * 8 + [True, True]
    p = CohortProfile(SCHEMA)
    p.update({"country": Column(np.array(["de", None, "xx", None, {"k": 1}], dtype=object))}, 5)
    country = p["country"]
    assert isinstance(country, CategoricalSketch)
    assert (country.count, country.n, country.nulls, country.invalid) == (5, 2, 2, 1)
    with pytest.raises(TypeError, match="labels must be str"):
        country.update([1, 2])


def test_numpy_typed_categoricals_match_python_values() -> None:
    assert canonical_categories(np.array([True, False]))[0].tolist() == ["true", "false"]
    assert canonical_categories(np.array([1, 2], dtype=np.int8))[0].tolist() == ["1", "2"]
    assert canonical_categories(np.array([1.0, 0.25, np.nan]))[0].tolist() == ["1", "0.25", ""]
    assert canonical_categories(np.array(["a", "b"]))[0].tolist() == ["a", "b"]


def test_feature_missing_from_baseline_or_from_batch() -> None:
    baseline = _baseline()
    extra = ProfileSchema((*SCHEMA.features, NumericSpec("new_feature")))
    cur = CohortProfile(extra)
    rng = np.random.default_rng(2)
    cur.update({"amount": Column(rng.uniform(0, 100, 1000)),
                "new_feature": Column(rng.normal(size=1000))}, 1000)
    ev = evaluate_profile(cur, baseline.global_profile, ["psi", "ks"], {}, min_samples=100)
    new = ev.features["new_feature"]
    assert not new.in_baseline and new.m == 0 and new.n == 1000
    assert {s.status for s in new.scores.values()} == {"insufficient_data"}
    # "country" was absent from the batch: every event counts as null for it
    country = ev.features["country"]
    assert country.quality.null_ratio == 1.0 and country.n == 0
    assert ev.features["amount"].scores["psi"].status == "ok"


def test_mismatched_inputs_raise_clear_errors() -> None:
    num = NumericSketch(NumericSpec("x"))
    cat = CategoricalSketch(CategoricalSpec("x"))
    with pytest.raises(TypeError, match="cannot compare"):
        psi(num, cat)
    with pytest.raises(TypeError, match="ks needs numeric"):
        ks(cat, cat)
    with pytest.raises(ValueError, match="different specs"):
        num.merge(NumericSketch(NumericSpec("x", k=100)))
    with pytest.raises(ValueError, match="different schemas"):
        CohortProfile(SCHEMA).merge(CohortProfile(ProfileSchema((NumericSpec("amount"),))))
    with pytest.raises(ValueError, match="unknown drift metric"):
        compare(num, num, ["kl"], {}, 10)
    with pytest.raises(ValueError, match="has 2 rows, batch has 3"):
        CohortProfile(SCHEMA).update({"amount": Column(np.array([1.0, 2.0]))}, 3)
    with pytest.raises(ValueError, match="strictly increasing"):
        NumericSpec("x", edges=(1.0, 1.0))
    with pytest.raises(ValueError, match="unique"):
        ProfileSchema((NumericSpec("x"), CategoricalSpec("x")))
    with pytest.raises(ValueError, match="different lengths"):
        Baseline.build([NumericSpec("x")], {"x": Column(np.ones(3))},
                       segments={"r": np.array(["a"])})


def test_constant_and_degenerate_features() -> None:
    base = Baseline.build([NumericSpec("c"), CategoricalSpec("k")],
                          {"c": Column(np.full(2000, 7.0)),
                           "k": Column(np.array(["only"] * 2000, dtype=object))})
    assert base.schema["c"].edges == ()  # a constant has no interior quantile edge
    cur = CohortProfile(base.schema)
    cur.update({"c": Column(np.full(1000, 7.0)),
                "k": Column(np.array(["only"] * 1000, dtype=object))}, 1000)
    ev = evaluate_profile(cur, base.global_profile, ["psi", "ks", "wasserstein", "chi2"], {}, 100)
    for f in ev.features.values():
        for score in f.scores.values():
            assert score.value == 0.0 and score.status == "ok", score
    moved = CohortProfile(base.schema)
    moved.update({"c": Column(np.full(1000, 8.0)),
                  "k": Column(np.array(["other"] * 1000, dtype=object))}, 1000)
    ev = evaluate_profile(moved, base.global_profile, ["ks", "wasserstein", "psi"], {}, 100)
    assert ev.features["c"].scores["ks"].status == "drift"
    assert ev.features["c"].scores["wasserstein"].value == math.inf
    assert ev.features["k"].scores["psi"].status == "drift"
    assert QualityRates.of(moved["k"]).unseen_ratio == 1.0
