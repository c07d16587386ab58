"""Categorical sketches past their cap keep the baseline bins exact; BH adjustment."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from driftline.sketches import (
    Baseline,
    CategoricalSketch,
    CategoricalSpec,
    CohortProfile,
    Column,
    bh_adjust,
    psi,
)


def test_drift_over_the_vocabulary_stays_exact_past_the_cap() -> None:
    rng = np.random.default_rng(4)
    ids = np.array([f"m{i:05d}" for i in range(20_000)], dtype=object)
    train = ids[rng.zipf(1.4, 100_000) % 20_000]
    b = Baseline.build([CategoricalSpec("merchant", cap=200)], {"merchant": Column(train)})
    vocab = b.schema["merchant"].vocabulary
    assert vocab is not None and len(vocab) == 200
    serving = ids[(rng.zipf(1.35, 50_000) + 7) % 20_000]
    live = CohortProfile(b.schema)
    live.update({"merchant": Column(serving)}, len(serving))
    cur, base = live["merchant"], b.global_profile["merchant"]
    assert isinstance(cur, CategoricalSketch) and isinstance(base, CategoricalSketch)
    assert not cur.is_exact and not base.is_exact  # both switched to frequent items + HLL

    labels = sorted(vocab)
    def shares(x: np.ndarray) -> np.ndarray:
        counts = dict(zip(*np.unique(x, return_counts=True), strict=True))
        c = np.array([counts.get(v, 0) for v in labels] + [0], float)
        c[-1] = len(x) - c.sum()
        return c
    c, q = shares(serving), shares(train)
    keep = (c + q) > 0
    c, q = c[keep], q[keep]
    p_, q_ = np.where(c > 0, c, 0.5), np.where(q > 0, q, 0.5)
    p_, q_ = p_ / p_.sum(), q_ / q_.sum()
    exact_psi = float(np.sum((p_ - q_) * np.log(p_ / q_)))
    got = psi(cur, base)
    assert got.error_bound == 0.0
    assert got.value == pytest.approx(exact_psi, rel=1e-12)
    assert cur.unseen == int(np.sum(~np.isin(serving, labels)))
    assert abs(cur.distinct - len(set(serving.tolist()))) <= 0.05 * len(set(serving.tolist()))


def test_bh_adjust_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(size=200), rng.uniform(0, 1e-3, 20)])
    np.testing.assert_allclose(bh_adjust(p), stats.false_discovery_control(p), rtol=1e-12)
    with_nan = bh_adjust([0.01, np.nan, 0.04])
    assert np.isnan(with_nan[1]) and with_nan[[0, 2]].tolist() == [0.02, 0.04]


def test_update_groups_equals_update_counts_per_sketch() -> None:
    """Counts of many cohorts at once give every sketch the state ``update_counts`` gives it
    alone: exact and past the cap, with a vocabulary, nulls, invalid rows and empty rows."""
    rng = np.random.default_rng(8)
    labels = [f"v{i}" for i in range(40)]
    spec = CategoricalSpec("c", cap=25, vocabulary=frozenset(labels[:10]))
    grouped = [CategoricalSketch(spec) for _ in range(30)]
    alone = [CategoricalSketch(spec) for _ in range(30)]
    for _ in range(3):
        counts = rng.integers(0, 4, (30, 40)) * (rng.random((30, 40)) < 0.3)
        counts[:15, 12:] = 0  # half the sketches stay within the cap, half pass it
        counts[15:, :30] += 1
        counts[5] = 0
        nulls, invalid = rng.integers(0, 3, 30), rng.integers(0, 2, 30)
        CategoricalSketch.update_groups(grouped, labels, counts, nulls, invalid)
        for g, s in enumerate(alone):
            s.update_counts(labels, counts[g], int(nulls[g]), int(invalid[g]))
    assert [s.to_bytes() for s in grouped] == [s.to_bytes() for s in alone]
    assert sum(not s.is_exact for s in grouped) > 5 and sum(s.is_exact for s in grouped) > 5
    with pytest.raises(ValueError, match="must be >= 0"):
        CategoricalSketch.update_groups(grouped[:1], labels[:2], np.array([[1, 0]]), [-1])
    with pytest.raises(ValueError, match="same length"):
        CategoricalSketch.update_groups(grouped[:2], labels[:2], np.array([[1, 0]]))
