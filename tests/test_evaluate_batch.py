"""The vectorized window evaluation gives the same results as the per-series reference
(``evaluate_profile``) to 1e-12: every score, p-value, statistic, status, contribution,
quantile and quality rate, on many random profiles (sizes from empty to sketches in estimation
mode, shifts, ties, constants, unseen categories, nulls, missing baseline features)."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import pytest

from driftline.sketches._native import kll_quantiles
from driftline.sketches.baseline import Baseline
from driftline.sketches.column import Column
from driftline.sketches.evaluate import QUANTILE_LEVELS, evaluate_profile
from driftline.sketches.evaluate_batch import evaluate_profiles
from driftline.sketches.evaluate_cdf import NATIVE, STATS, cdf_stats
from driftline.sketches.kll_guard import kll_items
from driftline.sketches.numeric import NumericSketch
from driftline.sketches.profile import CohortProfile
from driftline.sketches.schema import CategoricalSpec, NumericSpec, ProfileSchema

METRICS = ("psi", "ks", "js", "wasserstein", "chi2")
THRESHOLDS = {"psi": 0.1, "ks": 0.05, "js": 0.02}
CATS = np.array(["a", "b", "c", "d", "e", "f", "g"], dtype=object)


def _numeric(rng: np.random.Generator, kind: int, n: int, shift: float) -> np.ndarray:
    if kind == 0:
        return rng.normal(shift, 1.0 + abs(shift), n)
    if kind == 1:
        return rng.lognormal(shift, 1.0, n)
    if kind == 2:
        return rng.integers(0, 4, n).astype(np.float64) + (shift > 0.5)  # heavy ties
    return np.full(n, 3.0 + (shift > 1.0))  # constant


def _columns(rng: np.random.Generator, n: int, shift: float) -> dict[str, Column]:
    cols = {f"x{k}": Column(_numeric(rng, k, n, shift)) for k in range(4)}
    p = rng.dirichlet(np.ones(len(CATS)) * (0.3 + shift))
    cols["c0"] = Column(rng.choice(CATS, size=n, p=p))
    cols["c1"] = Column(rng.choice(CATS[:2], size=n))
    return cols


SPECS = [*(NumericSpec(f"x{k}") for k in range(4)), CategoricalSpec("c0"), CategoricalSpec("c1")]


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    rng = np.random.default_rng(11)
    cols = _columns(rng, 30_000, 0.0)
    seg = np.where(rng.random(30_000) < 0.5, "eu", "us").astype(object)
    return Baseline.build(SPECS, cols, segments={"region": seg}, min_cohort_rows=1000)


def _same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        assert isinstance(b, float | int), where
        if math.isnan(a):
            assert math.isnan(b), where
        else:
            assert b == pytest.approx(a, rel=1e-12, abs=1e-12), where
    else:
        assert a == b and type(a) is type(b), f"{where}: {a!r} != {b!r}"


@pytest.mark.parametrize("seed", range(8))
def test_batch_equals_reference_on_random_profiles(baseline: Baseline, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(12):
        n = int(rng.choice([0, 1, 3, 20, 60, 400, 2_500, 30_000]))
        prof = CohortProfile(baseline.schema)
        prof.update(_columns(rng, n, float(rng.choice([0.0, 0.0, 0.3, 0.8, 1.5]))), n)
        base = baseline.profile_for("region", str(rng.choice(["eu", "us", "other"])))
        pairs.append((prof, base))
    got = evaluate_profiles(pairs, METRICS, THRESHOLDS, min_samples=50, alpha=0.05)
    assert len(got) == len(pairs)
    for i, ((cur, base), ev) in enumerate(zip(pairs, got, strict=True)):
        ref = evaluate_profile(cur, base, METRICS, THRESHOLDS, min_samples=50, alpha=0.05)
        _same(ref.to_dict(), ev.to_dict(), f"profile {i}")


def test_batch_equals_reference_without_shared_edges_and_missing_features(
        baseline: Baseline) -> None:
    """Current sketches without the baseline's edges (bins read from the CDFs), a feature the
    baseline lacks, and a subset of metrics in another order."""
    rng = np.random.default_rng(99)
    schema = ProfileSchema((NumericSpec("x0"), NumericSpec("x1", k=100), NumericSpec("new"),
                            CategoricalSpec("c0")))
    pairs = []
    for n in (0, 10, 700, 5_000, 40_000):
        prof = CohortProfile(schema)
        cols = _columns(rng, n, 0.4)
        prof.update({"x0": cols["x0"], "x1": cols["x1"], "new": cols["x2"], "c0": cols["c0"]}, n)
        pairs.append((prof, baseline.global_profile))
    metrics = ("wasserstein", "chi2", "psi")
    got = evaluate_profiles(pairs, metrics, {}, min_samples=100)
    for (cur, base), ev in zip(pairs, got, strict=True):
        ref = evaluate_profile(cur, base, metrics, {}, min_samples=100)
        _same(ref.to_dict(), ev.to_dict(), "profile")
    assert got[-1].features["new"].in_baseline is False
    assert got[-1].features["new"].scores["wasserstein"].status == "insufficient_data"


def test_unknown_metric_is_refused(baseline: Baseline) -> None:
    with pytest.raises(ValueError, match="unknown drift metric 'kl'"):
        evaluate_profiles([(CohortProfile(baseline.schema), baseline.global_profile)], ["kl"],
                          {}, 10)


def test_kll_quantiles_equal_the_sorted_view_quantiles() -> None:
    """The KLL's own quantiles (used by the window evaluation) equal ``quantiles()`` read from
    the sorted view, exact and in estimation mode, with and without ties."""
    rng = np.random.default_rng(5)
    levels = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
    for trial in range(400):
        n = int(rng.choice([0, 1, 2, 7, 50, 167, 999, 5_000, 60_000]))
        sketch = NumericSketch(NumericSpec("x", k=int(rng.choice([8, 200, 800]))))
        values = rng.integers(0, 5, n).astype(float) if trial % 3 == 0 else rng.normal(size=n)
        sketch.update(values)
        ref = sketch.quantiles(levels)
        got = np.array(sketch.kll_quantiles(levels))
        assert np.array_equal(ref, got, equal_nan=True), (trial, n)


def test_native_cdf_kernel_equals_the_numpy_path() -> None:
    """The Rust KS / Wasserstein kernel gives the numpy path's statistics: the KS distance, its
    x and both CDFs there bit for bit, the integral's parts to 1e-12; with ties, constants,
    single items, sketches in estimation mode, and baselines shared by several series."""
    assert NATIVE, "the install builds driftline.sketches._native"
    rng = np.random.default_rng(17)

    def sketch(n: int, kind: int, shift: float) -> NumericSketch:
        s = NumericSketch(NumericSpec("x", k=int(rng.choice([8, 200]))))
        s.update(_numeric(rng, kind, n, shift))
        return s

    bases = [sketch(int(rng.choice([1, 5, 300, 40_000])), k % 4, 0.0) for k in range(12)]
    pairs = [(sketch(int(rng.choice([1, 2, 9, 167, 2_000, 50_000])), int(rng.integers(4)),
                     float(rng.choice([0.0, 0.4, 2.0]))), bases[int(rng.integers(12))])
             for _ in range(300)]
    native = cdf_stats(pairs, native=True)
    numpy = cdf_stats(pairs, native=False)
    assert native.shape == numpy.shape == (len(STATS), len(pairs))
    exact = [STATS.index(s) for s in ("d", "x", "fb", "fc", "lo", "hi")]
    assert np.array_equal(native[exact], numpy[exact])
    np.testing.assert_allclose(native, numpy, rtol=1e-12, atol=1e-12)
    assert (native[STATS.index("d")] > 0).sum() > 200  # not a run of identical samples


def _bits(rows: list[tuple[float, ...]]) -> bytes:
    return np.array(rows, dtype=np.float64).tobytes()


def _random_sketches(rng: np.random.Generator) -> list[NumericSketch]:
    """Empty, single-item, exact-mode and estimation-mode sketches (by updates and by merges
    of many sketches), with ties, negative values and signed zeros."""
    out = []
    for trial in range(240):
        k = int(rng.choice([8, 200, 800]))
        n = int(rng.choice([0, 1, 2, 5, 12, 16, 17, 40, 200, 201, 999, 100_000]))
        kind = trial % 4
        if kind == 0:
            values = rng.normal(-3.0, 10.0, n)
        elif kind == 1:
            values = rng.integers(-3, 4, n).astype(np.float64)  # ties around zero
        elif kind == 2:
            values = rng.choice([-0.0, 0.0, 0.0, 1.0, -2.5], n)  # signed zeros
        else:
            values = rng.lognormal(0.0, 2.0, n) * -1.0
        s = NumericSketch(NumericSpec("x", k=k))
        if trial % 5 == 4:  # estimation mode by merges of many sketches
            for part in np.array_split(values, int(rng.integers(2, 60))):
                piece = NumericSketch(NumericSpec("x", k=k))
                piece.update(part)
                s.merge(piece)
        else:
            s.update(values)
        out.append(s)
    return out


def test_native_kll_quantiles_equal_datasketches_bit_for_bit() -> None:
    """``kll_quantiles_many`` (one native call) gives datasketches' own inclusive quantiles
    (``kll_quantiles``) bit for bit, for every kind of sketch and at levels including 0 and
    1; the path without the kernel gives the same; the kernel leaves to datasketches only the
    sketches whose zero answers depend on the order of -0.0 and +0.0."""
    assert NATIVE, "the install builds driftline.sketches._native"
    rng = np.random.default_rng(23)
    sketches = _random_sketches(rng)
    assert sum(not s.is_exact for s in sketches) > 20
    for levels in [(0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0), tuple(rng.random(9).tolist())]:
        q = np.asarray(levels)
        blobs = [s._kll.serialize() for s in sketches]
        native_rows = kll_quantiles(blobs, q)
        got = NumericSketch.kll_quantiles_many(sketches, levels)
        fallback = NumericSketch.kll_quantiles_many(sketches, levels, native=False)
        # datasketches sorts level 0 in place when it answers: the kernel must agree with
        # either serialized order
        again = NumericSketch.kll_quantiles_many(sketches, levels)
        assert len(got) == len(sketches)
        for s, row, ref, row2 in zip(sketches, got, fallback, again, strict=True):
            if not s.n:
                assert all(math.isnan(v) for v in row + ref), "empty: NaN"
            else:
                assert _bits([row, row2]) == _bits([ref, ref]), (s, levels, row, ref)
        asked = [i for i, r in enumerate(native_rows) if r is None]
        for i in asked:  # a zero answer, and both signed zeros in the sketch
            items = kll_items(blobs[i])[0]
            zeros = np.signbit(items[items == 0.0])
            assert 0.0 in got[i] and zeros.any() and not zeros.all(), i
        assert 0 < len(asked) < len(sketches) // 4
        assert sum(1 for r in native_rows if r is not None and 0.0 in r) > 5


def test_native_kll_quantiles_refuse_malformed_bytes() -> None:
    """Malformed sketch bytes or levels raise a Python exception, never crash the process."""
    rng = np.random.default_rng(29)
    q = np.asarray(QUANTILE_LEVELS)
    good = []
    for n in (5, 300, 20_000):
        s = NumericSketch(NumericSpec("x"))
        s.update(rng.normal(size=n))
        good.append(s._kll.serialize())
    bad = [b"", b"\x05\x01\x0f", good[0][:19], b"\x05\x01\x0e" + good[0][3:],
           good[1][:-3], good[1][:-8] + struct.pack("<d", math.nan)]
    bad.append(good[2][:20] + struct.pack("<I", 2**31) + good[2][24:])  # level offsets
    for raw in bad:
        with pytest.raises(ValueError, match="corrupt KLL"):
            kll_quantiles([good[0], raw], q)
    with pytest.raises(TypeError):
        kll_quantiles([good[0], bytearray(good[1])], q)
    for levels in ([0.5, 1.5], [-0.1], [math.nan]):
        with pytest.raises(ValueError, match="within"):
            kll_quantiles(good, np.asarray(levels))
    raised = 0
    for _ in range(3_000):  # random corruptions: an answer or a ValueError
        raw = bytearray(good[int(rng.integers(3))])
        for at in rng.integers(0, len(raw), int(rng.integers(1, 4))):
            raw[at] = int(rng.integers(256))
        raw = raw[:int(rng.integers(len(raw) // 2, len(raw) + 1))]
        try:
            kll_quantiles([bytes(raw)], q)
        except ValueError:
            raised += 1
    assert raised > 100


def test_window_quantiles_are_datasketches_quantiles(baseline: Baseline) -> None:
    """The window evaluation's current quantiles (one native call) are datasketches' own, bit
    for bit, including small, single-item and empty series."""
    rng = np.random.default_rng(31)
    pairs = []
    for n in (0, 1, 3, 12, 12, 167, 5_000):
        prof = CohortProfile(baseline.schema)
        prof.update(_columns(rng, n, 0.3), n)
        pairs.append((prof, baseline.global_profile))
    got = evaluate_profiles(pairs, METRICS, THRESHOLDS, min_samples=5)
    for (cur, base), ev in zip(pairs, got, strict=True):
        for name, feat in ev.features.items():
            sketch = cur.features[name]
            if isinstance(sketch, NumericSketch):
                want = [sketch.kll_quantiles(QUANTILE_LEVELS)]
                assert feat.quantiles_current is not None
                assert _bits([feat.quantiles_current]) == _bits(want), (name, sketch.n)
                ref = base.features[name]
                assert isinstance(ref, NumericSketch)
                assert feat.quantiles_baseline == ref.kll_quantiles(QUANTILE_LEVELS)
