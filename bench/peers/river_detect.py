"""River's online drift detectors (ADWIN, KSWIN, Page-Hinkley) over per-event series.

Usage: python river_detect.py SERIES.npz [--kswin-max N]
The npz holds named 1-D float arrays (one per scenario). Every detector sees every value in order
(River's API is one ``update(x)`` per value). Prints one JSON object: per series and detector,
the indices where ``drift_detected`` was set, the number of values seen and the CPU seconds.
KSWIN runs a scipy KS test per value, so it sees at most ``--kswin-max`` values of a series.
"""

from __future__ import annotations

import argparse

import numpy as np
from _measure import Timer, emit
from river import __version__ as river_version
from river import drift


def detectors() -> dict[str, object]:
    return {
        "ADWIN": drift.ADWIN(),
        "KSWIN": drift.KSWIN(seed=1),
        "PageHinkley": drift.PageHinkley(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("series")
    ap.add_argument("--kswin-max", type=int, default=200_000)
    a = ap.parse_args()
    data = np.load(a.series)
    out: dict[str, dict[str, object]] = {}
    for name in data.files:
        values = data[name].astype(float).tolist()
        per: dict[str, object] = {}
        for det_name, det in detectors().items():
            limit = a.kswin_max if det_name == "KSWIN" else len(values)
            seen = values[:limit]
            hits: list[int] = []
            with Timer() as t:
                for i, x in enumerate(seen):
                    det.update(x)
                    if det.drift_detected:
                        hits.append(i)
            per[det_name] = {"detections": hits, "seen": len(seen), "cpu_s": t.cpu}
        out[name] = per
    emit({"peer": "river", "version": river_version, "series": out})


if __name__ == "__main__":
    main()
