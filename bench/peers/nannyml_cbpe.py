"""NannyML CBPE (confidence-based performance estimation) on reference vs analysis rows.

Usage: python nannyml_cbpe.py REF.parquet ANA.parquet --chunk N
Both files have columns score (P(y = 1)), y_pred (0/1) and y (0/1). CBPE is fitted on the
reference (NannyML calibrates the scores itself when needed) and estimates ROC AUC and accuracy
for consecutive chunks of N analysis rows, without looking at the analysis labels. Prints one
JSON object: the estimates per chunk, the fit and estimate seconds and the version.
"""

from __future__ import annotations

import argparse
import logging
import warnings

import nannyml as nml
import pandas as pd
from _measure import Timer, emit

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("ref")
    ap.add_argument("ana")
    ap.add_argument("--chunk", type=int, default=1000)
    a = ap.parse_args()
    ref = pd.read_parquet(a.ref)
    ana = pd.read_parquet(a.ana).drop(columns=["y"])
    est = nml.CBPE(y_pred_proba="score", y_pred="y_pred", y_true="y",
                   metrics=["roc_auc", "accuracy"], chunk_size=a.chunk,
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
