"""NannyML DLE (direct loss estimation) on reference vs analysis rows of a regression model.

Usage: python nannyml_dle.py REF.parquet ANA.parquet --chunk N
Both files have columns x and z (features), pred (the prediction) and y (the target). DLE fits
its LightGBM loss models on the reference (features x, z and the prediction, default
hyperparameters) and estimates MAE and RMSE for consecutive chunks of N analysis rows, without
looking at the analysis targets. Prints one JSON object: the estimates per chunk, the fit and
estimate seconds and the version.
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
    est = nml.DLE(feature_column_names=["x", "z"], y_pred="pred", y_true="y",
                  metrics=["mae", "rmse"], chunk_size=chunk)
    fit_and_estimate(est, ref, ana, ("mae", "rmse"))


if __name__ == "__main__":
    main()
