"""Evidently column drift (PSI, KS, JS, Wasserstein, chi-square) on reference vs current.

Usage: python evidently_drift.py REF.parquet CUR.parquet --numeric a b --categorical c d
    [--repeat R]
Prints one JSON object: per method, the wall/CPU seconds of one Report over all its columns
(best of R) and the value per column. Evidently's values are what its ValueDrift reports:
PSI (its own binning), KS p-value, Jensen-Shannon distance, Wasserstein / std(reference),
chi-square p-value.
"""

from __future__ import annotations

import argparse
import logging
import warnings

import numpy as np
import pandas as pd
from _measure import Timer, emit
from evidently import Report
from evidently import __version__ as evidently_version
from evidently.metrics import ValueDrift

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
np.seterr(all="ignore")

NUMERIC_METHODS = ("psi", "ks", "jensenshannon", "wasserstein")
CATEGORICAL_METHODS = ("psi", "jensenshannon", "chisquare")


def run_report(ref: pd.DataFrame, cur: pd.DataFrame, cols: list[str], method: str,
               repeat: int) -> tuple[Timer, dict[str, float]]:
    best: Timer | None = None
    values: dict[str, float] = {}
    for _ in range(repeat):
        metrics = [ValueDrift(column=c, method=method) for c in cols]
        with Timer() as t:
            snap = Report(metrics).run(current_data=cur, reference_data=ref)
            out = snap.dict()["metrics"]
        values = {m["config"]["column"]: float(m["value"]) for m in out}
        if best is None or t.cpu < best.cpu:
            best = t
    assert best is not None
    return best, values


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("reference")
    ap.add_argument("current")
    ap.add_argument("--numeric", nargs="*", default=[])
    ap.add_argument("--categorical", nargs="*", default=[])
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    cols = a.numeric + a.categorical
    ref = pd.read_parquet(a.reference, columns=cols)
    cur = pd.read_parquet(a.current, columns=cols)
    run_report(ref.head(500), cur.head(500), cols[:1], "psi", 1)  # warm-up
    res: dict[str, dict[str, object]] = {}
    for kind, names, methods in (("numeric", a.numeric, NUMERIC_METHODS),
                                 ("categorical", a.categorical, CATEGORICAL_METHODS)):
        for method in methods if names else ():
            t, values = run_report(ref, cur, names, method, a.repeat)
            res[f"{kind}:{method}"] = {"wall_s": t.wall, "cpu_s": t.cpu, "columns": len(names),
                                       "values": values}
    emit({"peer": "evidently", "version": evidently_version, "n_ref": len(ref),
          "n_cur": len(cur), "methods": res})


if __name__ == "__main__":
    main()
