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
from _measure import fit_and_estimate, reference_and_analysis

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)


def main() -> None:
    ref, ana, chunk = reference_and_analysis()
    est = nml.CBPE(y_pred_proba="score", y_pred="y_pred", y_true="y",
                   metrics=["roc_auc", "accuracy"], chunk_size=chunk,
                   problem_type="classification_binary")
    fit_and_estimate(est, ref, ana, ("roc_auc", "accuracy"))


if __name__ == "__main__":
    main()
