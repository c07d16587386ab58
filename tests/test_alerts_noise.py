"""Noise control at scale: 50 features × 40 cohorts, windows of 50-500 events, 100 windows.

No drift: zero pages and at most 1% warnings. A real shift in one feature of one cohort: paged
within 2 windows. The windows are simulated as the sketches see them: each feature's values
binned on the baseline's deciles (multinomial counts), PSI with the sketches' empty-bin rule
(pseudo-count 0.5) and the sketches' p-value (PSI·nm/(n+m) ~ χ²(B−1), Bartlett-corrected).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats

from driftline.alerts import Alerting, DriftConfig, Measurement

FEATURES, COHORTS, WINDOWS, BINS = 50, 40, 100, 10
BASELINE_M = 200_000
T0 = 1_790_000_000.0
EDGES = stats.norm.ppf(np.arange(1, BINS) / BINS)  # the baseline's deciles of N(0, 1)


def bin_probs(shift: float) -> NDArray[np.float64]:
    """Bin probabilities of N(shift, 1) on the baseline's decile bins."""
    cdf = np.concatenate([[0.0], stats.norm.cdf(EDGES - shift), [1.0]])
    return np.diff(cdf)


def psi_and_p(counts: NDArray[np.int64], n: NDArray[np.int64]
              ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """PSI and its p-value against the decile baseline, vectorized over all leading axes."""
    q = np.full(BINS, 1.0 / BINS)
    c = np.where(counts > 0, counts, 0.5).astype(np.float64)
    p = c / c.sum(axis=-1, keepdims=True)
    psi = ((p - q) * np.log(p / q)).sum(axis=-1)
    nn = n.astype(np.float64)[..., None].squeeze(-1)
    scale = nn * BASELINE_M / (nn + BASELINE_M)
    pooled = (counts + BASELINE_M * q) / (nn[..., None] + BASELINE_M)
    s = ((1 - pooled) / (2 * pooled)).sum(axis=-1)
    dof = BINS - 1
    bartlett = 1 + scale * (1 / nn**2 + 1 / BASELINE_M**2) * s / dof
    return psi, stats.chi2.sf(psi * scale / bartlett, dof)


Sim = tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]


def simulate(seed: int, shifted: tuple[int, int, int, float] | None = None) -> Sim:
    """Per window: n per cohort (50-500), PSI and p per cohort × feature.
    ``shifted`` = (feature, cohort, first window, mean shift in σ)."""
    rng = np.random.default_rng(seed)
    n = rng.integers(50, 501, size=(WINDOWS, COHORTS))
    counts = rng.multinomial(np.broadcast_to(n[:, :, None], (WINDOWS, COHORTS, FEATURES)),
                             bin_probs(0.0))
    if shifted is not None:
        f, c, w0, delta = shifted
        counts[w0:, c, f] = rng.multinomial(n[w0:, c], bin_probs(delta))
    psi, p = psi_and_p(counts, np.broadcast_to(n[:, :, None], counts.shape[:-1]))
    return n, psi, p


def windows(n: NDArray[np.int64], psi: NDArray[np.float64], p: NDArray[np.float64]
            ) -> Iterator[list[Measurement]]:
    for w in range(WINDOWS):
        start = T0 + 300 * w
        yield [
            Measurement("sim", "drift", "psi", f"f{f:02d}", "region", f"c{c:02d}", "5m",
                        start, start + 300, float(psi[w, c, f]), n=int(n[w, c]), m=BASELINE_M,
                        p_value=float(p[w, c, f]))
            for c in range(COHORTS) for f in range(FEATURES)
        ]


def run(seed: int, shifted: tuple[int, int, int, float] | None = None
        ) -> tuple[list[tuple[int, str, str, str, str]], float, int]:
    alerting = Alerting("sim", drift=DriftConfig(min_samples=50, for_windows=2), deliver=False)
    n, psi, p = simulate(seed, shifted)
    fired: list[tuple[int, str, str, str, str]] = []
    pending = 0
    for w, batch in enumerate(windows(n, psi, p)):
        for e in alerting.observe_window(batch):
            pending += e.state == "pending"
            if e.state == "firing":
                fired.append((w, e.severity, e.feature, e.cohort, e.transition))
    null_psi = psi[:, :, :] if shifted is None else psi[:, :, 1:]
    return fired, float((null_psi >= 0.1).mean()), pending


@pytest.mark.parametrize("seed", [1, 2])
def test_no_drift_means_no_page_and_at_most_one_percent_warnings(seed: int) -> None:
    fired, raw_over_threshold, pending = run(seed)
    # Without significance control, a fixed 0.1 threshold would fire on a large share of tests.
    assert raw_over_threshold > 0.05  # ~200 of the 2000 tests of every window
    pages = [f for f in fired if f[1] == "critical"]
    warnings = [f for f in fired if f[1] == "warning"]
    assert pages == []
    assert len(warnings) <= 0.01 * WINDOWS
    print(f"seed {seed}: raw PSI >= 0.1 in {raw_over_threshold:.0%} of tests; "
          f"{pending} significant breaches (pending), {len(pages)} pages, "
          f"{len(warnings)} warnings in {WINDOWS} windows")


def test_a_real_shift_in_one_feature_of_one_cohort_pages_within_two_windows() -> None:
    shift_window = 60
    fired, _, _ = run(3, shifted=(7, 13, shift_window, 1.0))
    pages = [f for f in fired if f[1] == "critical"]
    assert pages, "the shifted feature was never paged"
    first = pages[0]
    assert (first[2], first[3]) == ("f07", "c13")
    assert first[0] - shift_window + 1 <= 2  # the 1st or 2nd window of the shift
    assert {(f[2], f[3]) for f in fired} == {("f07", "c13")}  # nothing else fires
    print(f"shift at window {shift_window}: paged at window {first[0]}")


def test_with_real_sketches_noise_stays_quiet_and_a_shift_pages_fast() -> None:
    """The same chain with driftline's own sketches and drift tests (PSI and KS p-values from
    ``sketches.drift.compare``), on a smaller grid: real sketches cost ~1 ms per comparison."""
    from driftline.sketches.drift import compare
    from driftline.sketches.numeric import NumericSketch
    from driftline.sketches.schema import NumericSpec

    features, cohorts, n_windows, shift_window = 6, 8, 30, 20
    rng = np.random.default_rng(11)
    specs = [NumericSpec(f"g{f}", edges=tuple(EDGES)) for f in range(features)]
    baselines = []
    for spec in specs:
        base = NumericSketch(spec)
        base.update(rng.standard_normal(BASELINE_M))
        baselines.append(base)
    alerting = Alerting("real", drift=DriftConfig(metrics=["psi", "ks"], min_samples=50,
                                                  for_windows=2), deliver=False)
    fired = []
    for w in range(n_windows):
        start = T0 + 300 * w
        batch = []
        for c in range(cohorts):
            n = int(rng.integers(50, 501))
            for f, spec in enumerate(specs):
                shift = 1.0 if (f, c, w >= shift_window) == (2, 5, True) else 0.0
                cur = NumericSketch(spec)
                cur.update(rng.normal(shift, 1.0, size=n))
                for metric, s in compare(cur, baselines[f], ["psi", "ks"], {}, 50).items():
                    batch.append(Measurement(
                        "real", "drift", metric, spec.name, "region", f"c{c}", "5m", start,
                        start + 300, s.value, n=s.n, m=s.m, p_value=s.p_value, status=s.status,
                        details={"contributions": [list(x) for x in s.contributions]}))
        fired += [(w, e.feature, e.cohort, e.severity)
                  for e in alerting.observe_window(batch) if e.state == "firing"]
    assert fired, "the real shift was never alerted"
    assert {(f, c) for _, f, c, _ in fired} == {("g2", "c5")}
    first_page = min(w for w, _, _, sev in fired if sev == "critical")
    assert first_page - shift_window + 1 <= 2
