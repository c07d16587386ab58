"""Stdlib-only timing helpers shared by the peer scripts (they run in the peers' venvs).

>>> with Timer() as t:
...     _ = sum(range(1000))
>>> t.wall >= 0 and t.cpu >= 0
True
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


class Timer:
    """Wall-clock and process CPU seconds of a ``with`` block."""

    wall: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> Timer:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c


def rss_mib() -> float:
    """Resident set size of this process now, MiB (Linux /proc)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def emit(result: dict[str, Any]) -> None:
    """Print the result as the last stdout line (what the runner parses)."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def reference_and_analysis() -> tuple[Any, Any, int]:
    """The NannyML peers' command line ``REF ANA [--chunk N]``: the reference frame, the
    analysis frame without its labels (``y``) and the chunk size."""
    import argparse

    import pandas as pd

    ap = argparse.ArgumentParser()
    ap.add_argument("ref")
    ap.add_argument("ana")
    ap.add_argument("--chunk", type=int, default=1000)
    a = ap.parse_args()
    return pd.read_parquet(a.ref), pd.read_parquet(a.ana).drop(columns=["y"]), a.chunk


def fit_and_estimate(estimator: Any, ref: Any, ana: Any, metrics: tuple[str, ...]) -> None:
    """Fit a NannyML estimator on ``ref``, estimate ``ana`` and emit the per-chunk estimates of
    ``metrics`` with the fit and estimate seconds and NannyML's version."""
    import nannyml as nml

    with Timer() as fit:
        estimator.fit(ref)
    with Timer() as run:
        res = estimator.estimate(ana).filter(period="analysis").to_df()
    out: dict[str, Any] = {"version": nml.__version__, "fit_s": fit.wall, "estimate_s": run.wall}
    for metric in metrics:
        out[metric] = [float(v) for v in res[(metric, "value")].tolist()]
    emit(out)
