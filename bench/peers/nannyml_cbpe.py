"""NannyML CBPE (confidence-based performance estimation) on reference vs analysis rows.

Usage: python nannyml_cbpe.py REF.parquet ANA.parquet --chunk N
Both files have columns score (P(y = 1)), y_pred (0/1) and y (0/1). CBPE is fitted on the
reference (NannyML calibrates the scores itself when needed) and estimates ROC AUC and accuracy
for consecutive chunks of N analysis rows, without looking at the analysis labels. Prints one
JSON object: the estimates per chunk, the fit and estimate seconds and the version.
"""

from __future__ import annotations

import logging
import warnings

import nannyml as nml
from _measure import Timer, emit, reference_and_analysis

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)


def main() -> None:
    ref, ana, chunk = reference_and_analysis()
    est = nml.CBPE(y_pred_proba="score", y_pred="y_pred", y_true="y",
                   metrics=["roc_auc", "accuracy"], chunk_size=chunk,
                   problem_type="classification_binary")
    with Timer() as fit:
        est.fit(ref)
    with Timer() as run:
        res = est.estimate(ana).filter(period="analysis").to_df()
    out = {"version": nml.__version__, "fit_s": fit.wall, "estimate_s": run.wall}
    for metric in ("roc_auc", "accuracy"):
        out[metric] = [float(v) for v in res[(metric, "value")].tolist()]
    emit(out)


if __name__ == "__main__":
    main()
