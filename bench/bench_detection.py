"""Detection: delay to the first warning / critical alert per drift scenario, false alarms per
1,000 windows on stationary data; River's ADWIN, KSWIN and Page-Hinkley on the same series.

driftline runs as a user would run it: ``driftline backtest``'s code path (stream.sources.backtest:
engine + alerting in evaluate-only mode) with the default drift rule (PSI, warning 0.1,
critical 0.2, for 2 windows, Benjamini-Hochberg across the window's tests) over 1-minute windows
of the 25-field workload, 14 cohorts (all, 8 regions, 5 devices), against a 100k-event training
baseline. River's detectors are univariate per-event detectors: they get the drifted feature's
values in event order (the global stream; for the hidden-cohort scenario also the cohort's own
stream), default parameters. Then the false alarms of a stationary stream with all four
references on (training, trailing, seasonal, a live reference cohort):
:mod:`bench.bench_references`, which also runs alone.

    python -m bench.bench_detection [--quick] [--json]
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_ingest import build_baseline
from bench.bench_references import run as references_run
from bench.peers import CACHE, Peer, PeerUnavailable
from bench.peers._measure import Timer
from bench.section import run_section
from driftline.stream.config.model import parse_config
from driftline.stream.demo.workloads import (
    DRIFT_FEATURE,
    HIDDEN_COHORT,
    SEGMENTS,
    generate,
    monitor_config,
)
from driftline.stream.demo.workloads import write_jsonl as _write_jsonl
from driftline.stream.sources.backtest import run_backtest

WINDOW_S = 60.0
SCENARIOS: dict[str, dict[str, Any]] = {
    "abrupt_shift": {"magnitude": 0.5, "what": "mean +0.5 sd at once"},
    "gradual_drift": {"magnitude": 1.0, "what": "mean ramps 0 -> +1 sd over 12 windows"},
    "variance_only": {"magnitude": 0.5, "what": "sd x1.5, same mean"},
    "new_category": {"magnitude": 0.05, "what": "unseen merchant_category, 5 % of events"},
    "cohort_drift": {"magnitude": 1.0, "what": "mean +1 sd in region r7 (4 % of events) only"},
}


def _first(alerts: list[dict[str, Any]], feature: str, severities: tuple[str, ...],
           cohort: tuple[str, str] | None, after: float) -> dict[str, Any] | None:
    for a in sorted(alerts, key=lambda a: a["window_end"]):
        if a["state"] != "firing" or a["severity"] not in severities or a["feature"] != feature:
            continue
        if cohort is not None and (a["segment"], a["cohort"]) != cohort:
            continue
        if a["window_end"] > after:
            return a
    return None


def _fired(alerts: list[dict[str, Any]], before: float) -> int:
    """Distinct alerts that started firing in windows ending at or before ``before``."""
    keys = {(a["check"], a["metric"], a["feature"], a["segment"], a["cohort"])
            for a in alerts if a["state"] == "firing" and a["transition"] == "new"
            and a["window_end"] <= before}
    return len(keys)


def _first_drift_window(windows: list[dict[str, Any]], feature: str, cohort: tuple[str, str],
                        after: float) -> dict[str, Any] | None:
    """The first window after the change whose primary drift status for ``feature`` in
    ``cohort`` is ``drift`` (the statistic alone, before the alert rule's pending windows)."""
    for w in sorted(windows, key=lambda w: w["end"]):
        if _ts(w["end"]) <= after:
            continue
        for c in w["cohorts"]:
            if (c["segment"], c["cohort"]) != cohort:
                continue
            if any(f["name"] == feature and f["status"] == "drift" for f in c["features"]):
                return {"window_end": _ts(w["end"])}
    return None


def _drift_statuses(windows: list[dict[str, Any]], before: float) -> tuple[int, int]:
    """(series with status drift, series evaluated) in windows ending at or before ``before``."""
    hits = total = 0
    for w in windows:
        if _ts(w["end"]) > before:
            continue
        for c in w["cohorts"]:
            for f in c["features"]:
                total += 1
                hits += f["status"] == "drift"
    return hits, total


def _ts(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _delay(alert: dict[str, Any] | None, change_ts: float, eps: float) -> tuple[str, str]:
    if alert is None:
        return "not detected", ""
    seconds = alert["window_end"] - change_ts
    return f"{math.ceil(seconds / WINDOW_S - 1e-9)}", f"{seconds * eps:,.0f}"


def run(quick: bool = False) -> dict[str, object]:
    per_window = 2_000 if quick else 6_000
    before, after = (3, 5) if quick else (12, 18)
    stationary_windows = 10 if quick else 200
    eps = per_window / WINDOW_S
    data = CACHE / "data"
    drift_rule = {"metric": "psi", "warning": 0.1, "critical": 0.2, "min_samples": 200,
                  "for_windows": 2}
    config = parse_config(monitor_config(window="1m", drift=drift_rule))
    baseline = build_baseline(config, generate(100_000, seed=30).columns, SEGMENTS)
    n = per_window * (before + after)
    change_at = per_window * before
    rows: list[list[object]] = []
    river_series: dict[str, np.ndarray] = {}
    raw: dict[str, Any] = {}
    cpu = 0.0
    windows_seen, false_pre = 0, 0
    stat_hits = stat_total = 0
    for k, (name, spec) in enumerate(SCENARIOS.items()):
        w = generate(n, seed=40 + k, scenario=name, change_at=change_at,
                     ramp=12 * per_window, magnitude=spec["magnitude"], events_per_second=eps)
        path = _write_jsonl(w, data / f"detect-{name}-{n}.jsonl")
        with Timer() as t:
            rep = run_backtest(config, baseline, path)
        cpu += t.cpu
        change_ts = float(w.columns["ts"][change_at])
        feature = "merchant_category" if name == "new_category" else DRIFT_FEATURE
        where = HIDDEN_COHORT if name == "cohort_drift" else ("all", "all")
        alerts = rep["alerts"]
        warn = _first(alerts, feature, ("warning", "critical"), where, change_ts)
        crit = _first(alerts, feature, ("critical",), where, change_ts)
        glob = _first(alerts, feature, ("warning", "critical"), ("all", "all"), change_ts)
        false_pre += _fired(alerts, change_ts)
        hits, total = _drift_statuses(rep["windows"], change_ts)
        stat_hits += hits
        stat_total += total
        first_stat = _first_drift_window(rep["windows"], feature, where, change_ts)
        sw, _se = _delay(first_stat, change_ts, eps)
        windows_seen += before
        dw, de = _delay(warn, change_ts, eps)
        cw, ce = _delay(crit, change_ts, eps)
        target = f"{where[0]}={where[1]}"
        note = "" if name != "cohort_drift" else (
            "global cohort: " + ("alerted too" if glob else "no alert (drift hidden)"))
        rows.append([name, spec["what"], f"{feature} @ {target}", sw, dw, de, cw, ce, note])
        raw[name] = {"alerts": alerts, "change_ts": change_ts, "windows": len(rep["windows"])}
        if name != "new_category":
            river_series[name] = w.columns[DRIFT_FEATURE]
            river_series[f"{name}.change"] = np.array(change_at)
        if name == "cohort_drift":
            mask = w.columns[HIDDEN_COHORT[0]] == HIDDEN_COHORT[1]
            river_series["cohort_drift_r7_only"] = w.columns[DRIFT_FEATURE][mask]
            river_series["cohort_drift_r7_only.change"] = np.array(int(mask[:change_at].sum()))
    stat = generate(per_window * stationary_windows, seed=60, events_per_second=eps)
    path = _write_jsonl(stat, data / f"detect-stationary-{stat.n}.jsonl")
    with Timer() as t:
        rep = run_backtest(config, baseline, path)
    cpu += t.cpu
    false_stat = _fired(rep["alerts"], math.inf)
    hits, total = _drift_statuses(rep["windows"], math.inf)
    stat_hits += hits
    stat_total += total
    total_windows = windows_seen + stationary_windows
    false_alarms = false_pre + false_stat
    river_series["stationary"] = stat.columns[DRIFT_FEATURE]
    river = _river(data / "detect-river.npz", river_series, per_window, quick)
    series = 14 * len(config.features)
    text = [
        f"{per_window:,} events per 1-minute window; each drift scenario has {before} clean "
        f"windows then {after} drifted ones (change at a window boundary); delay = windows "
        "(and events) from the change to the end of the window in which the alert *fires* "
        "(after the rule's 2 windows pending), so 2 is the fastest possible for a firing alert.",
        f"False alarms on stationary data: {false_alarms} alerts fired over {total_windows} "
        f"clean windows ({stationary_windows} of a stationary stream + the clean windows before "
        f"each change), each window testing {series} feature x cohort series: "
        f"{1000 * false_alarms / total_windows:.1f} per 1,000 windows. Before the alert rule, "
        f"the statistic alone (status `drift`: PSI over the threshold and significant after "
        f"Benjamini-Hochberg) flagged {stat_hits} of {stat_total:,} clean series-windows "
        f"({100 * stat_hits / max(1, stat_total):.3f} %). backtest CPU total: {cpu:.0f} s.",
    ]
    tables = [{"headers": ["scenario", "change", "watched", "first `drift` status: windows",
                           "warning fires: windows", "events", "critical fires: windows",
                           "events", "note"], "rows": rows}]
    if river.get("rows"):
        tables.append({"headers": ["series", "detector", "first detection after change: "
                                   "windows", "events", "false alarms per 1,000 windows"],
                       "rows": river["rows"]})
    text.append(river.get("text", ""))
    # the same stationary workload with the trailing, seasonal and cohort references on too
    refs = references_run(quick)
    text.extend(refs["text"])
    tables.extend(refs["tables"])
    raw["references"] = refs["raw"]
    found = ", ".join(f"{r[0]} {r[4]}" for r in rows)
    summary = [f"Detection, windows from the change to the first firing warning: {found}; "
               f"{false_alarms} false alarms in {total_windows} clean windows of {series} "
               f"series each ({1000 * false_alarms / total_windows:.1f} per 1,000 windows); "
               "River's detectors on the same series: see section 4.", *refs["summary"]]
    return {
        "summary": summary,
        "title": "Detection delay and false alarms (driftline vs River)", "text": text,
            "tables": tables, "raw": {"driftline": raw, "river": river.get("raw"),
                                      "false_alarms": false_alarms,
                                      "clean_windows": total_windows}}


def _river(path: Path, series: dict[str, np.ndarray], per_window: int, quick: bool
           ) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **series)
    try:
        peer = Peer("river")
        peer.ensure()
        res = peer.run("river_detect.py", [str(path), "--kswin-span",
                                           "6000" if quick else "30000"])
    except (PeerUnavailable, RuntimeError) as exc:
        return {"text": f"River could not run here: {exc}"}
    rows: list[list[object]] = []
    for name, dets in res["series"].items():
        change = int(series[f"{name}.change"]) if f"{name}.change" in series else None
        # values per window of this series (the cohort's own stream has its share of events)
        scale = per_window * len(series["cohort_drift_r7_only"]) / len(
            series["cohort_drift"]) if name.endswith("r7_only") else per_window
        for det, r in dets.items():
            hits = np.asarray(r["detections"], dtype=np.int64)
            lo, hi = int(r["first"]), int(r["last"])
            stop = change if change is not None else hi + 1
            clean = hits[hits < stop] if change is not None else hits
            clean_values = max(1, stop - lo)
            fa = 1000 * len(clean) / (clean_values / scale)
            after = hits[hits >= change] if change is not None else np.array([], np.int64)
            if change is None:
                dw, de = "-", "-"
            elif after.size:
                de_n = int(after[0] - change)
                dw, de = f"{math.ceil((de_n + 1) / scale)}", f"{de_n:,}"
            else:
                dw, de = "not detected", ""
            rows.append([name, det, dw, de, f"{fa:,.0f}"])
    text = (f"River {res.get('version')}: default detector parameters, one update per value of "
            f"{DRIFT_FEATURE} (new_category: no numeric series, River's detectors do not take "
            "categories). False alarms = detections before the change (or anywhere in the "
            "stationary series) per 1,000 windows' worth of values; KSWIN sees a span around the "
            "change only (its memory is its 100-value window). The r7-only series is that "
            "cohort's own stream (windows counted in the cohort's events per window).")
    return {"rows": rows, "text": text, "raw": res}


def main() -> None:
    run_section(__doc__, run)


if __name__ == "__main__":
    main()
