"""From a backtest report (the DESIGN.md shape, see ``stream.sources.backtest``) to the page's
data: the finest window tier as columns (:mod:`~stream.report.columns`), the alerts, the
distributions of a bounded set of windows, and the summary numbers. Only the report's aggregated
numbers are used, never events.

Distributions (the binned shares of both sides and the quantiles) are kept for every window when
there are at most ``max_distributions`` feature x cohort x window records; beyond that, per
feature and cohort, for the windows an alert fired in and the ``top`` windows with the highest
score, so the "what moved" of every alert is always there.

The windows' baseline versions (their ``baseline: {version, built_at, location}``) are kept as
runs, ``baselines: [{w, version, built_at, location}]`` (``w``: the first window of the run), so
a baseline swapped mid-range shows where it changed; each alert names the ``baseline`` version
it was evaluated against (its own ``baseline_version``, else its window's).

A cohort evaluated against other references than the training baseline (its ``references``)
gets one more row per reference, named ``segment=cohort vs <reference>`` (drift only: quality
and events are the cohort's own row), and an alert against such a reference points at that row.

>>> rep = {"monitor": "m", "windows": [{"start_ts": 0.0, "end_ts": 60.0, "tier": "1m",
...     "cohorts": [{"segment": "all", "cohort": "all", "n": 10, "features": [
...         {"name": "x", "type": "numeric", "n": 10, "metric": "psi", "psi": 0.3,
...          "p_value": 0.001, "status": "drift", "quality": {"null_ratio": 0.0}}]}]}],
...     "alerts": []}
>>> data = build_payload(rep)
>>> data["tier"], data["features"], data["cohorts"], data["windows"]
('1m', [['x', 'numeric', 'psi']], ['all=all'], 1)
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from driftline.sketches.evaluate import QUANTILE_LEVELS
from driftline.stream.report.columns import STATUS, Accumulator, encode

BLOCK = 256


def _finest_tier(windows: list[dict[str, Any]]) -> str | None:
    spans: dict[str, float] = {}
    for w in windows:
        spans.setdefault(w["tier"], float(w["end_ts"]) - float(w["start_ts"]))
    return min(spans, key=lambda t: spans[t]) if spans else None


def _r(x: Any, digits: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


class _Distributions:
    """The distribution records kept for the page (see the module docstring)."""

    def __init__(self, *, keep_all: bool, top: int, alert_cells: set[tuple[int, int, int]]):
        self.keep_all, self.top, self.alert_cells = keep_all, top, alert_cells
        self.kept: dict[tuple[int, int, int], dict[str, Any]] = {}
        self.best: dict[tuple[int, int], list[tuple[float, int]]] = {}
        self.labels: dict[tuple[str, ...], int] = {}

    def offer(self, c: int, f: int, w: int, score: float, rec: dict[str, Any],
              start: float) -> None:
        if "bins" not in rec and "quantiles" not in rec:
            return
        key = (c, f, w)
        if not (self.keep_all or key in self.alert_cells):
            heap = self.best.setdefault((c, f), [])
            s = score if math.isfinite(score) else -1.0
            if len(heap) >= self.top and s <= heap[0][0]:
                return
            if len(heap) >= self.top:
                _, dropped = heapq.heapreplace(heap, (s, w))
                if (c, f, dropped) not in self.alert_cells:
                    self.kept.pop((c, f, dropped), None)
            else:
                heapq.heappush(heap, (s, w))
        self.kept[key] = self._compact(c, f, w, rec, start)

    def _compact(self, c: int, f: int, w: int, rec: dict[str, Any], start: float
                 ) -> dict[str, Any]:
        out: dict[str, Any] = {"c": c, "f": f, "w": w, "t": start}
        bins = rec.get("bins")
        if bins:
            labels = tuple(bins["labels"])
            out["l"] = self.labels.setdefault(labels, len(self.labels))
            out["b"] = [_r(v) for v in bins["baseline"]]
            out["x"] = [_r(v) for v in bins["current"]]
            out["e"] = _r(bins.get("share_error"))
        q = rec.get("quantiles")
        if q:
            out["qb"] = [_r(v, 6) for v in q["baseline"]]
            out["qc"] = [_r(v, 6) for v in q["current"]]
        return out

    def label_sets(self) -> list[list[str]]:
        return [list(k) for k in sorted(self.labels, key=lambda k: self.labels[k])]


def _rows(c: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]], bool]]:
    """(row name, feature records, against the training baseline?) of one cohort record."""
    name = f"{c['segment']}={c['cohort']}"
    return [(name, c["features"], True)] + [
        (row_name(c["segment"], c["cohort"], r["reference"]), r["features"], False)
        for r in c.get("references") or ()]


def row_name(segment: str | None, cohort: str | None, reference: str | None) -> str:
    """``region=eu``, or ``region=eu vs trailing`` against another reference than training."""
    name = f"{segment}={cohort}"
    return name if reference in (None, "training") else f"{name} vs {reference}"


def _index(names: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in names:
        out.setdefault(n, len(out))
    return out


def build_payload(report: dict[str, Any], *, max_columns: int = 1000,
                  max_distributions: int = 5_000, top: int = 3,
                  source: str = "backtest") -> dict[str, Any]:
    """The page's data for ``report``; see the module docstring."""
    all_windows = report.get("windows") or []
    tier = _finest_tier(all_windows)
    by_start: dict[float, dict[str, Any]] = {}
    for w in all_windows:
        if w["tier"] == tier:
            by_start[float(w["start_ts"])] = w  # a re-evaluated window replaces the first
    windows = [by_start[k] for k in sorted(by_start)]
    cohorts = _index(["all=all", *(row for w in windows for c in w["cohorts"]
                                    for row, _, _ in _rows(c))])
    if not windows:
        cohorts = {}
    features: dict[str, int] = {}
    ftype: dict[str, str] = {}
    fmetric: dict[str, str] = {}
    for w in windows:
        for c in w["cohorts"]:
            for rec in c["features"]:  # the references' records have the same features
                features.setdefault(rec["name"], len(features))
                ftype.setdefault(rec["name"], rec.get("type", "numeric"))
                if rec.get("metric"):
                    fmetric.setdefault(rec["name"], rec["metric"])
    starts = np.array([float(w["start_ts"]) for w in windows])
    acc = Accumulator(cohorts=list(cohorts), features=[(f, ftype[f]) for f in features],
                      starts=starts, max_columns=max_columns)
    baselines = _baselines(windows)
    alerts = _alerts(report.get("alerts") or [], starts, cohorts, features, acc, baselines)
    cells = {(a["ci"], a["fi"], a["w"]) for a in alerts
             if a["check"] == "drift" and a["state"] == "firing" and a["ci"] >= 0
             and a["fi"] >= 0}
    records = sum(len(recs) for w in windows for c in w["cohorts"] for _, recs, _ in _rows(c))
    dists = _Distributions(keep_all=records <= max_distributions, top=top, alert_cells=cells)
    c_n, f_n = len(cohorts), len(features)
    for lo in range(0, len(windows), BLOCK):
        block = windows[lo:lo + BLOCK]
        k = len(block)
        score = np.full((c_n, f_n, k), np.nan)
        p = np.full((c_n, f_n, k), np.nan)
        status = np.zeros((c_n, f_n, k), np.uint8)
        n = np.zeros((c_n, k))
        fn = np.zeros((c_n, f_n, k))
        quality: dict[str, np.ndarray] = {}
        for j, w in enumerate(block):
            perf: dict[str, np.ndarray] = {}
            for c, (row, recs, own) in ((co, r) for co in w["cohorts"] for r in _rows(co)):
                ci = cohorts[row]
                n[ci, j] = c.get("n") or 0
                for rec in recs:
                    fi = features[rec["name"]]
                    metric = rec.get("metric") or fmetric.get(rec["name"], "psi")
                    v = rec.get(metric)
                    score[ci, fi, j] = np.nan if v is None else v
                    pv = rec.get("p_value")
                    p[ci, fi, j] = np.nan if pv is None else pv
                    status[ci, fi, j] = STATUS.get(rec.get("status") or "", 0)
                    fn[ci, fi, j] = rec.get("n") or 0
                    for name, ratio in (rec.get("quality") or {}).items():
                        if ratio and own:
                            arr = quality.setdefault(name, np.zeros((c_n, f_n, k)))
                            arr[ci, fi, j] = ratio
                    dists.offer(ci, fi, lo + j, score[ci, fi, j], rec, float(w["start_ts"]))
                for name, value in _performance(c.get("performance") if own else None):
                    perf.setdefault(name, np.full((c_n, 1), np.nan))[ci, 0] = value
            for name, values in perf.items():
                acc.add_series(name, lo + j, values)
        acc.add(lo, score=score, p=p, status=status, n=n, feature_n=fn, quality=quality)
    drift = report.get("drift") or {}
    thresholds = drift.get("thresholds") or {}
    return assemble(
        acc, source=source, monitor=report.get("monitor", ""), tier=tier,
        tiers=sorted({w["tier"] for w in all_windows}),
        window_seconds=(float(windows[0]["end_ts"]) - float(windows[0]["start_ts"])
                        if windows else 0.0),
        end=float(windows[-1]["end_ts"]) if windows else None,
        metrics=[fmetric.get(f, "psi") for f in features],
        thresholds=[thresholds.get(f, {}).get(fmetric.get(f, "psi")) for f in features],
        drift={k: v for k, v in drift.items() if k != "thresholds"},
        input=report.get("input"), alerts=alerts, distributions=list(dists.kept.values()),
        label_sets=dists.label_sets(), notes=report.get("notes") or [], baselines=baselines)


def assemble(acc: Accumulator, *, source: str, monitor: str, tier: str | None,
             tiers: list[str], window_seconds: float, end: float | None, metrics: list[str],
             thresholds: list[Any], drift: dict[str, Any], input: Any,
             alerts: list[dict[str, Any]], distributions: list[dict[str, Any]],
             label_sets: list[list[str]], notes: list[str],
             baselines: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The page's data: the encoded columns of ``acc`` and the rest as plain JSON."""
    spec, blob = encode(acc)
    return {
        "format": 1, "source": source, "monitor": monitor, "tier": tier, "tiers": tiers,
        "windows": len(acc.starts), "window_seconds": window_seconds,
        "start": float(acc.starts[0]) if len(acc.starts) else None, "end": end,
        "columns": acc.columns,
        "features": [[f, t, m] for (f, t), m in zip(acc.features, metrics, strict=True)],
        "cohorts": acc.cohorts, "thresholds": thresholds, "drift": drift, "input": input,
        "alerts": alerts, "last_seen": acc.last_seen.tolist(),
        "empty_windows": acc.empty_windows.tolist(), "distributions": distributions,
        "label_sets": label_sets, "quantile_levels": list(QUANTILE_LEVELS),
        "spec": spec, "blob": blob, "notes": notes, "baselines": baselines or [],
    }


def _baselines(windows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs of consecutive windows with one baseline version (none when no window has one)."""
    runs: list[dict[str, Any]] = []
    for i, w in enumerate(windows):
        b = w.get("baseline") or {}
        if not runs or runs[-1]["version"] != b.get("version"):
            runs.append({"w": i, "version": b.get("version"), "built_at": b.get("built_at"),
                         "location": b.get("location")})
    return runs if any(r["version"] for r in runs) else []


def _performance(perf: dict[str, Any] | None) -> Iterable[tuple[str, float]]:
    """Model-quality numbers of one cohort as (series name, value)."""
    if not perf:
        return
    for key in ("coverage", "predictions", "labeled"):
        if isinstance(perf.get(key), int | float):
            yield f"perf:{key}", float(perf[key])
    for side in ("realized", "estimated"):
        for name, value in (perf.get(side) or {}).items():
            if isinstance(value, int | float) and math.isfinite(value):
                yield f"perf:{side}:{name}", float(value)


def _alerts(alerts: list[dict[str, Any]], starts: np.ndarray, cohorts: dict[str, int],
            features: dict[str, int], acc: Accumulator,
            baselines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    run_starts = [r["w"] for r in baselines]
    for a in alerts:
        start = a.get("window_start", a.get("window_end", 0.0))
        w = int(np.clip(np.searchsorted(starts, float(start), side="right") - 1, 0,
                        max(len(starts) - 1, 0))) if len(starts) else 0
        run = baselines[int(np.searchsorted(run_starts, w, side="right")) - 1] if baselines \
            else {}
        out.append({
            "check": a.get("check"), "metric": a.get("metric"), "feature": a.get("feature"),
            "segment": a.get("segment"), "cohort": a.get("cohort"), "window": a.get("window"),
            "severity": a.get("severity"), "state": a.get("state"),
            "transition": a.get("transition"), "window_end": a.get("window_end"),
            "since": a.get("since"), "value": _r(a.get("value"), 6),
            "threshold": _r(a.get("threshold"), 6), "n": a.get("n"),
            "p_value": a.get("p_value"), "w": w, "col": acc.column(w) if len(starts) else 0,
            "reference": a.get("reference", "training"),
            "baseline": a.get("baseline_version") or run.get("version"),
            "ci": cohorts.get(row_name(a.get("segment"), a.get("cohort"), a.get("reference")),
                              -1),
            "fi": features.get(a.get("feature") or "", -1),
        })
    return out
