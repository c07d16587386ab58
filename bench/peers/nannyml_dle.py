"""NannyML DLE (direct loss estimation) on reference vs analysis rows of a regression model.

Usage: python nannyml_dle.py REF.parquet ANA.parquet --chunk N
Both files have columns x and z (features), pred (the prediction) and y (the target). DLE fits
its LightGBM loss models on the reference (features x, z and the prediction, default
hyperparameters) and estimates MAE and RMSE for consecutive chunks of N analysis rows, without
looking at the analysis targets. Prints one JSON object: the estimates per chunk, the fit and
estimate seconds and the version.
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
    est = nml.DLE(feature_column_names=["x", "z"], y_pred="pred", y_true="y",
                  metrics=["mae", "rmse"], chunk_size=a.chunk)
    with Timer() as fit:
        est.fit(ref)
    with Timer() as run:
        res = est.estimate(ana).filter(period="analysis").to_df()
    out = {"version": nml.__version__, "fit_s": fit.wall, "estimate_s": run.wall}
    for metric in ("mae", "rmse"):
        out[metric] = [float(v) for v in res[(metric, "value")].tolist()]
    emit(out)


if __name__ == "__main__":
    main()
