"""Size and opening time of the HTML report at scale (a benchmark, not a test).

A synthetic year of 5-minute windows (105,120 windows) for 50 features x 20 cohorts -- 105
million feature x cohort x window cells -- goes through the same accumulator, encoding and page
as ``driftline report`` (windows fed as numpy blocks: a report JSON of that size would be tens of
GB and is never written), with drift episodes, sparse quality problems, model-quality series,
alerts and the distributions the builder keeps (alert windows + top 3 per feature x cohort).
The page is then opened in headless Chromium (the test set-up installs it); the render time is
the page's own ``performance.now()`` when it has drawn every section, from navigation start.

    .venv/bin/python -m bench.bench_report            # the year
    .venv/bin/python -m bench.bench_report --quick    # a week
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench.section import emit, section_args
from driftline.sketches.allocation import paused_gc
from driftline.stream.report.build import assemble, build_payload
from driftline.stream.report.columns import Accumulator
from driftline.stream.report.html import load_report, render_html

ROOT = Path(__file__).resolve().parents[1]
STEP = 300.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00Z


def synthetic(windows: int, features: int, cohorts: int, columns: int, seed: int = 7
              ) -> tuple[dict[str, Any], float]:
    rng = np.random.default_rng(seed)
    cnames = ["all=all", *[f"region=r{i:02d}" for i in range(cohorts - 1)]]
    fnames = [(f"f{i:02d}", "numeric" if i % 5 else "categorical") for i in range(features)]
    starts = T0 + STEP * np.arange(windows)
    acc = Accumulator(cohorts=cnames, features=fnames, starts=starts, max_columns=columns)
    # drift episodes: (cohort, feature, first window, length)
    episodes = [(int(rng.integers(cohorts)), int(rng.integers(features)),
                 int(rng.integers(windows - 300)), int(rng.integers(12, 288)))
                for _ in range(40)]
    fold_s = 0.0
    block = 2048
    for lo in range(0, windows, block):
        k = min(block, windows - lo)
        n = rng.poisson(2000, (cohorts, k)).astype(np.float64)
        n[0] = n[1:].sum(axis=0)
        score = rng.gamma(2.0, 0.005, (cohorts, features, k))
        for c, f, a, length in episodes:
            hit = slice(max(a - lo, 0), max(min(a + length - lo, k), 0))
            score[c, f, hit] += 0.25
        p = np.where(score > 0.1, 1e-12, rng.random(score.shape))
        status = np.where(score >= 0.1, 3, 2).astype(np.uint8)
        nulls = np.zeros_like(score)
        nulls[:, 3, :] = rng.random((cohorts, k)) * 0.02  # one feature with a few nulls
        realized = 0.8 + rng.normal(0, 0.01, (cohorts, k))
        estimated = 0.81 + rng.normal(0, 0.005, (cohorts, k))
        t1 = time.perf_counter()
        acc.add(lo, score=score, p=p, status=status, n=n, feature_n=n[:, None, :] * 0.99,
                quality={"null_ratio": nulls})
        acc.add_series("perf:realized:auc", lo, realized)
        acc.add_series("perf:estimated:auc", lo, estimated)
        acc.add_series("perf:coverage", lo, np.full((cohorts, k), 0.6))
        fold_s += time.perf_counter() - t1
    alerts, dists = [], []
    labels = [[f"[{i}, {i + 1})" for i in range(10)]]
    for c, f, a, _ in episodes:
        w = a + 1
        alerts.append({"check": "drift", "metric": "psi", "feature": fnames[f][0],
                       "segment": cnames[c].split("=")[0], "cohort": cnames[c].split("=")[1],
                       "window": "5m", "severity": "critical", "state": "firing",
                       "transition": "new", "window_end": float(starts[w] + STEP),
                       "since": float(starts[a]), "value": 0.26, "threshold": 0.2, "n": 2000,
                       "p_value": 1e-12, "w": w, "col": acc.column(w), "ci": c, "fi": f})
    for c in range(cohorts):
        for f in range(features):
            for w in rng.choice(windows, 3, replace=False).tolist():
                b = rng.dirichlet(np.ones(10))
                dists.append({"c": c, "f": f, "w": w, "t": float(starts[w]), "l": 0,
                              "b": np.round(b, 4).tolist(),
                              "x": np.round(rng.dirichlet(b * 50), 4).tolist(), "e": 0.0,
                              "qb": [-1.6, -0.7, 0.0, 0.7, 1.6],
                              "qc": [-1.5, -0.6, 0.1, 0.8, 1.7]})
    payload = assemble(
        acc, source="bench", monitor="bench-year", tier="5m", tiers=["5m"],
        window_seconds=STEP, end=float(starts[-1] + STEP), metrics=["psi"] * features,
        thresholds=[{"warning": 0.1, "critical": 0.2, "clear": 0.05}] * features,
        drift={"metrics": ["psi"]}, input={"events": int(acc.n[0].sum()), "dead_letters": {}},
        alerts=alerts, distributions=dists, label_sets=labels, notes=[])
    return payload, fold_s


def json_report(windows: int, features: int, cohorts: int, seed: int = 3) -> dict[str, Any]:
    """A backtest-shaped report (what ``driftline backtest`` writes), with bins and quantiles."""
    rng = np.random.default_rng(seed)
    labels = [f"[{i}, {i + 1})" for i in range(10)]
    out = []
    for w in range(windows):
        cs = []
        for c in range(cohorts):
            feats = []
            for f in range(features):
                v = float(rng.gamma(2.0, 0.005))
                b = rng.dirichlet(np.ones(10))
                feats.append({
                    "name": f"f{f:02d}", "type": "numeric", "n": 2000, "m": 100_000,
                    "null_ratio": 0.0, "psi": v, "ks": v, "js": v / 4, "wasserstein": v,
                    "chi2": None, "p_value": float(rng.random()), "metric": "psi",
                    "status": "ok", "quality": {"null_ratio": 0.0, "nan_ratio": 0.0,
                                                "out_of_range_ratio": 0.0, "unseen_ratio": 0.0,
                                                "invalid_ratio": 0.0},
                    "quantiles": {"levels": [0.05, 0.25, 0.5, 0.75, 0.95],
                                  "current": sorted(rng.normal(size=5).tolist()),
                                  "baseline": sorted(rng.normal(size=5).tolist())},
                    "bins": {"labels": labels, "baseline": b.round(6).tolist(),
                             "current": rng.dirichlet(b * 50).round(6).tolist(),
                             "exact": True, "share_error": 0.0}})
            cs.append({"segment": "all" if c == 0 else "region",
                       "cohort": "all" if c == 0 else f"r{c}", "n": 2000, "features": feats})
        out.append({"start_ts": T0 + STEP * w, "end_ts": T0 + STEP * (w + 1), "tier": "5m",
                    "cohorts": cs})
    return {"monitor": "bench-week", "windows": out, "alerts": []}


def open_in_chromium(page: Path) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.chromium import Chromium

    with tempfile.TemporaryDirectory() as profile, Chromium(Path(profile)) as browser:
        browser.open(page.as_uri())
        browser.wait_for("document.body.dataset.rendered === 'true'", timeout=600)
        render_ms = float(browser.evaluate("document.body.dataset.renderMs"))
        switch_ms = float(browser.evaluate(
            "(() => { const t = performance.now(); driftlineSetCohort(5); "
            "return performance.now() - t; })()"))
        heap = float(browser.evaluate("performance.memory.usedJSHeapSize"))
        assert browser.errors == [], browser.errors
    return {"render_ms": render_ms, "cohort_switch_ms": switch_ms, "js_heap_mb": heap / 2**20}


def main() -> None:
    ap = section_args(__doc__)
    ap.add_argument("--columns", type=int, default=1000)
    args = ap.parse_args()
    windows = 7 * 288 if args.quick else 365 * 288
    features, cohorts = 50, 20
    t0 = time.perf_counter()
    payload, fold_s = synthetic(windows, features, cohorts, args.columns)
    t1 = time.perf_counter()
    html = render_html(payload)
    build_s = fold_s + time.perf_counter() - t1
    generate_s = t1 - t0 - fold_s
    with tempfile.TemporaryDirectory() as d:
        page = Path(d) / "report.html"
        page.write_text(html)
        size = page.stat().st_size
        browser = open_in_chromium(page)
    columns, kept = payload["columns"], len(payload["distributions"])
    del payload, html
    jw = 288 if args.quick else 7 * 288
    data = orjson.dumps(json_report(jw, 10, 5))
    json_bytes = len(data)
    t0 = time.perf_counter()
    report = load_report(data)
    t1 = time.perf_counter()
    with paused_gc():  # as write_report does
        small = render_html(build_payload(report))
    parse_s, json_s = t1 - t0, time.perf_counter() - t1
    rows = [
        ["windows (5m)", f"{windows:,}"], ["features x cohorts", f"{features} x {cohorts}"],
        ["cells (window x feature x cohort)", f"{windows * features * cohorts:,}"],
        ["time columns in the page", f"{columns:,}"],
        ["distributions kept", f"{kept:,}"],
        ["HTML file size", f"{size / 2**20:.1f} MiB"],
        ["fold the windows into columns, s", f"{fold_s:.1f}"],
        ["fold + encode + render the page, s", f"{build_s:.1f}"],
        ["(generating the synthetic numbers, not part of it), s", f"{generate_s:.1f}"],
        ["open in Chromium until every section is drawn, ms", f"{browser['render_ms']:.0f}"],
        ["switch cohort (redraw everything), ms", f"{browser['cohort_switch_ms']:.0f}"],
        ["JS heap after rendering, MiB", f"{browser['js_heap_mb']:.0f}"],
        [f"a report JSON of {jw:,} windows x 10 features x 5 cohorts",
         f"{json_bytes / 2**20:.0f} MiB"],
        ["  parse it, s", f"{parse_s:.1f}"],
        ["  build the page from it, s", f"{json_s:.1f} ({len(small) / 2**20:.1f} MiB)"],
    ]
    section = {"title": "HTML report at scale", "text": [
        f"A {'week' if args.quick else 'year'} of 5-minute windows, {features} features x "
        f"{cohorts} cohorts, folded into at most {args.columns} columns per row."],
        "tables": [{"headers": ["", "value"], "rows": rows}],
        "numbers": {"size_bytes": size, "build_s": build_s, "fold_s": fold_s,
                    "json_parse_s": parse_s, "json_build_s": json_s, **browser}}
    if args.json:
        emit(section, True)
        return
    print(section["text"][0])
    for name, value in rows:
        print(f"  {name:<52} {value}")


if __name__ == "__main__":
    main()
