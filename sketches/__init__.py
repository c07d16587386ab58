"""driftline.sketches: pure, mergeable statistics (numpy + datasketches only, no I/O).

Feature sketches, cohort profiles, baselines, drift statistics and quality rates.

Example:
    >>> import numpy as np
    >>> import driftline.sketches as sk
    >>> rng = np.random.default_rng(0)
    >>> base = sk.Baseline.build([sk.NumericSpec("amount")],
    ...                          {"amount": sk.Column(rng.lognormal(3, 1, 50_000))})
    >>> live = sk.CohortProfile(base.schema)
    >>> live.update({"amount": sk.Column(rng.lognormal(3, 1, 5_000))}, events=5_000)
    >>> ev = sk.evaluate_profile(live, base.global_profile, ["psi", "ks"], {}, min_samples=500)
    >>> ev.features["amount"].scores["psi"].status
    'ok'
"""

from driftline.sketches.baseline import Baseline
from driftline.sketches.bins import BinTable, bin_table
from driftline.sketches.canonical import canonical_categories, canonical_numbers
from driftline.sketches.categorical import CategoricalSketch
from driftline.sketches.codec import FORMAT_VERSION, SketchFormatError
from driftline.sketches.column import Column
from driftline.sketches.drift import (
    DEFAULT_THRESHOLDS,
    DriftScore,
    chi2,
    compare,
    js,
    ks,
    metrics_for,
    psi,
    wasserstein,
)
from driftline.sketches.evaluate import (
    QUANTILE_LEVELS,
    FeatureEvaluation,
    ProfileEvaluation,
    evaluate_feature,
    evaluate_profile,
)
from driftline.sketches.fdr import bh_adjust
from driftline.sketches.numeric import NumericSketch
from driftline.sketches.profile import CohortProfile, FeatureSketch, new_sketch
from driftline.sketches.quality import QualityRates, quality_rates
from driftline.sketches.schema import CategoricalSpec, FeatureSpec, NumericSpec, ProfileSchema

__all__ = [
    "DEFAULT_THRESHOLDS", "FORMAT_VERSION", "QUANTILE_LEVELS", "Baseline", "BinTable",
    "CategoricalSketch", "CategoricalSpec", "CohortProfile", "Column", "DriftScore",
    "FeatureEvaluation", "FeatureSketch", "FeatureSpec", "NumericSketch", "NumericSpec",
    "ProfileEvaluation", "ProfileSchema", "QualityRates", "SketchFormatError", "bh_adjust",
    "bin_table", "canonical_categories", "canonical_numbers", "chi2", "compare",
    "evaluate_feature", "evaluate_profile", "js", "ks", "metrics_for", "new_sketch", "psi",
    "quality_rates", "wasserstein",
]
