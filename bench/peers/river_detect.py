"""River's online drift detectors (ADWIN, KSWIN, Page-Hinkley) over per-event series.

Usage: python river_detect.py SERIES.npz [--kswin-span N]
The npz holds named 1-D float arrays (one per scenario) and, optionally, ``<name>.change``: the
index where the change starts. ADWIN and Page-Hinkley see every value in order (River's API is
one ``update(x)`` per value). KSWIN runs a scipy KS test per value (~0.25 ms), so it sees a span
of at most ``--kswin-span`` values starting a third of the span before the change; its memory is
its 100-value window, so the values before the span do not change what it can detect.
Prints one JSON object: per series and detector, the (whole-series) indices where
``drift_detected`` was set, the first and last index seen and the CPU seconds.
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
    ap.add_argument("--kswin-span", type=int, default=30_000)
    a = ap.parse_args()
    data = np.load(a.series)
    out: dict[str, dict[str, object]] = {}
    for name in (f for f in data.files if not f.endswith(".change")):
        values = data[name].astype(float).tolist()
        change = int(data[f"{name}.change"]) if f"{name}.change" in data.files else 0
        per: dict[str, object] = {}
        for det_name, det in detectors().items():
            lo, hi = 0, len(values)
            if det_name == "KSWIN" and hi > a.kswin_span:
                lo = min(max(0, change - a.kswin_span // 3), hi - a.kswin_span)
                hi = lo + a.kswin_span
            hits: list[int] = []
            with Timer() as t:
                for i, x in enumerate(values[lo:hi], start=lo):
                    det.update(x)
                    if det.drift_detected:
                        hits.append(i)
            per[det_name] = {"detections": hits, "first": lo, "last": hi - 1, "cpu_s": t.cpu}
        out[name] = per
    emit({"peer": "river", "version": river_version, "series": out})


if __name__ == "__main__":
    main()
