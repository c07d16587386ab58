"""The HTML report: built from a real backtest, opened in headless Chromium (no console error,
every section, the drifted feature's alert marker), the distribution data exact, model quality
when present, and the same page from a time range of a real results topic."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from driftline.stream.cli import EXIT_OK, app
from driftline.stream.report import build_payload, write_report
from driftline.stream.report.columns import decode
from driftline.stream.sources.baselines import load_baseline
from tests.fixtures.chromium import Chromium, chromium_binary
from tests.fixtures.kafka import KafkaBroker
from tests.test_backtest import SHIFT_AT, workdir  # noqa: F401  (the module's fixture)
from tests.test_engine_support import T0, columns

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ["summary", "heatmap", "features", "quality", "freshness", "model-quality"]
RENDERED = "document.body.dataset.rendered === 'true'"
needs_chromium = pytest.mark.skipif(chromium_binary() is None,
                                    reason="chromium missing: run scripts/setup-test-env.sh")


def _cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


def _payload(page: Path) -> dict[str, Any]:
    m = re.search(r'<script id="driftline-data" type="application/json">(.*?)</script>',
                  page.read_text(), re.S)
    assert m is not None
    return dict(json.loads(m.group(1).replace("<\\/", "</")))


@pytest.fixture(scope="module")
def backtest(workdir: Path) -> tuple[dict[str, Any], Path]:  # noqa: F811
    out, page = workdir / "report.json", workdir / "report.html"
    code, text = _cli("backtest", "-c", str(workdir / "driftline.yaml"), "--baseline",
                      str(workdir / "b.dlb"), "--events", str(workdir / "events.jsonl"),
                      "--out", str(out), "--html", str(page))
    assert code == 1 or code == EXIT_OK, text
    assert f"html report -> {page}" in text
    return json.loads(out.read_text()), page


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    with Chromium(tmp_path_factory.mktemp("chromium-profile")) as b:
        yield b


def test_backtest_report_carries_exact_bin_shares_and_the_drift_rules(
        backtest: tuple[dict[str, Any], Path], workdir: Path) -> None:  # noqa: F811
    report, _ = backtest
    assert report["drift"]["thresholds"]["x"] == {"psi": {"warning": 0.1, "critical": 0.2,
                                                          "clear": 0.05}}
    window = next(w for w in report["windows"] if w["start_ts"] == SHIFT_AT and w["tier"] == "1m")
    latam = next(c for c in window["cohorts"] if c["cohort"] == "latam")
    rec = next(f for f in latam["features"] if f["name"] == "x")
    events = columns(18_000, seed=2, rate=50.0, shift=1.0, shift_from=SHIFT_AT,
                     shift_region="latam")
    hit = ((events["ts"] >= SHIFT_AT) & (events["ts"] < SHIFT_AT + 60)
           & (events["region"] == "latam"))
    edges = load_baseline(workdir / "b.dlb").profile_for("region", "latam").features["x"].spec.edges
    bounds = np.r_[-np.inf, edges, np.inf]
    exact = np.histogram(events["x"][hit], bins=bounds)[0] / hit.sum()
    assert rec["bins"]["exact"] is True
    assert len(rec["bins"]["labels"]) == len(edges) + 1
    np.testing.assert_allclose(rec["bins"]["current"], exact, atol=1e-6)
    assert sum(rec["bins"]["baseline"]) == pytest.approx(1.0, abs=1e-5)


def test_the_page_names_the_baseline_of_every_window_and_alert(
        backtest: tuple[dict[str, Any], Path], workdir: Path) -> None:  # noqa: F811
    report, page = backtest
    base = load_baseline(workdir / "b.dlb")
    want = {"version": base.version, "built_at": base.created_at.isoformat(),
            "location": str(workdir / "b.dlb")}
    assert all(w["baseline"] == want for w in report["windows"])
    assert report["alerts"] and all(a["baseline_version"] == base.version
                                    for a in report["alerts"])
    payload = _payload(page)
    assert payload["baselines"] == [{"w": 0, **want}]  # one run: no swap in this backtest
    assert [a["baseline"] for a in payload["alerts"]] == [base.version] * len(report["alerts"])
    # a swap mid-range is a second run; an alert without its own version takes its window's
    windows = [w for w in report["windows"] if w["tier"] == "1m"]
    swapped = [w | {"baseline": want | {"version": "b2"}} if i >= 3 else w
               for i, w in enumerate(windows)]
    late = [{"check": "drift", "state": "firing", "window_start": windows[4]["start_ts"]}]
    data = build_payload({"monitor": "m", "windows": swapped, "alerts": late})
    assert [(r["w"], r["version"]) for r in data["baselines"]] == [(0, base.version), (3, "b2")]
    assert [a["baseline"] for a in data["alerts"]] == ["b2"]


@needs_chromium
def test_backtest_report_renders_in_chromium_with_its_alert_marker(
        backtest: tuple[dict[str, Any], Path], browser: Chromium, tmp_path: Path) -> None:
    report, page = backtest
    text = page.read_text()
    assert "<script src" not in text and 'href="http' not in text  # nothing to fetch
    browser.open(page.as_uri())
    browser.wait_for(RENDERED)
    assert browser.errors == []
    assert browser.evaluate("[...document.querySelectorAll('section')].map(s => s.id)") == SECTIONS
    fired = [a for a in report["alerts"] if a["state"] == "firing"]
    drift = [a for a in fired if a["check"] == "drift"]
    assert {(a["feature"], a["segment"], a["cohort"]) for a in drift} == {("x", "region", "latam")}
    assert browser.evaluate("document.querySelectorAll('.alert-row').length") == len(fired)
    version = report["windows"][0]["baseline"]["version"]
    built = report["windows"][0]["baseline"]["built_at"][:19].replace("T", " ")
    assert browser.evaluate("[...document.querySelectorAll('.alert-baseline')]"
                            ".map(e => e.textContent)") == [version] * len(fired)
    assert browser.evaluate("document.getElementById('window-baseline').textContent"
                            ) == f"Baseline {version} (built {built})"
    # the page opens on the cohort of the first drift alert: its marker is on x's chart only
    assert browser.evaluate("document.getElementById('cohort-select').selectedOptions[0].text"
                            ) == "region=latam"
    markers = browser.evaluate("[...document.querySelectorAll('.feature-chart')].map(e => "
                               "[e.dataset.feature, e.querySelectorAll('.alert-marker').length])")
    assert markers == [["amount", 0], ["x", len(drift)], ["score", 0], ["merchant", 0],
                       ["channel", 0]]
    bins = len(next(f for w in report["windows"] for c in w["cohorts"] if c["cohort"] == "latam"
                    for f in c["features"] if f["name"] == "x")["bins"]["labels"])
    assert browser.evaluate("document.querySelectorAll('#distribution-chart .bar-baseline')"
                            ".length") == bins
    assert browser.evaluate("document.querySelectorAll('#distribution .quantiles tr').length") == 3
    # hovering the drifted window of x's timeline shows its score and p-value
    tip = browser.evaluate(
        "(() => { const a = document.querySelector('[data-feature=\"x\"] .alert-marker');"
        " const r = a.getBoundingClientRect(); const svg = a.ownerSVGElement;"
        " svg.dispatchEvent(new MouseEvent('mousemove', {clientX: r.x + r.width / 2,"
        " clientY: r.y - 20, bubbles: true}));"
        " return document.getElementById('tip').textContent; })()")
    alert = drift[0]
    assert f"psi {alert['value']:.4f}".rstrip("0") in tip and "p-value ≈" in tip, tip
    shots = tmp_path / "screenshots"
    browser.screenshot(shots / "report-full.png", full=True)
    browser.screenshot(shots / "report-heatmap.png", selector="#heatmap")
    browser.screenshot(shots / "report-features.png", selector="#features")
    # another cohort: no drift alert there, no marker
    browser.evaluate("(() => { const s = document.getElementById('cohort-select'); "
                     "s.value = String([...s.options].find(o => o.text === 'all=all').value); "
                     "s.dispatchEvent(new Event('change')); })()")
    assert browser.evaluate("document.querySelectorAll('.alert-marker').length") == 0
    assert browser.errors == []
    for png in shots.iterdir():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("DRIFTLINE_UPDATE_SCREENSHOTS"):  # refresh the README's pictures
        for png in shots.iterdir():
            shutil.copy(png, ROOT / "docs" / "img" / png.name)


def _performance_report() -> dict[str, Any]:
    """Three windows of one cohort with the model-quality entry another part of driftline adds
    to results and reports: ``performance: {predictions, labeled, coverage, realized,
    estimated, status}``."""
    windows = []
    for i, (acc, est) in enumerate([(0.91, 0.9), (0.88, 0.89), (0.74, 0.86)]):
        windows.append({"start_ts": T0 + 60 * i, "end_ts": T0 + 60 * (i + 1), "tier": "1m",
                        "cohorts": [{"segment": "all", "cohort": "all", "n": 1000, "features": [
                            {"name": "x", "type": "numeric", "n": 1000, "metric": "psi",
                             "psi": 0.01, "p_value": 0.5, "status": "ok",
                             "quality": {"null_ratio": 0.0}}],
                            "performance": {"predictions": 1000, "labeled": 800 - 100 * i,
                                            "coverage": (800 - 100 * i) / 1000,
                                            "realized": {"accuracy": acc},
                                            "estimated": {"accuracy": est},
                                            "status": "ok" if i < 2 else "degraded"}}]})
    return {"monitor": "perf", "windows": windows, "alerts": []}


def test_model_quality_series_come_from_the_performance_entries() -> None:
    payload = build_payload(_performance_report())
    arrays = decode(payload["spec"], payload["blob"])
    assert arrays["s:perf:realized:accuracy"].tolist() == pytest.approx([0.91, 0.88, 0.74])
    assert arrays["s:perf:estimated:accuracy"].tolist() == pytest.approx([0.9, 0.89, 0.86])
    assert arrays["s:perf:coverage"].tolist() == pytest.approx([0.8, 0.7, 0.6])
    plain = _performance_report()
    for w in plain["windows"]:
        for c in w["cohorts"]:
            del c["performance"]
    without = build_payload(plain)
    assert not any(k.startswith("s:perf:") for k in without["spec"])


@needs_chromium
def test_model_quality_section_renders_realized_and_estimated(browser: Chromium,
                                                              tmp_path: Path) -> None:
    page = write_report(_performance_report(), tmp_path / "perf.html")
    browser.open(page.as_uri())
    browser.wait_for(RENDERED)
    assert browser.errors == []
    assert browser.evaluate("document.querySelectorAll('#model-quality .perf-chart path')"
                            ".length") == 2  # realized and estimated accuracy
    assert browser.evaluate("[...document.querySelectorAll('#model-quality h3')]"
                            ".map(h => h.textContent)") == ["accuracy", "label coverage"]


def test_folding_windows_into_columns_keeps_the_worst_of_each() -> None:
    report = _performance_report()
    scores = [0.05, 0.3, 0.02, 0.01]
    report["windows"] = [{"start_ts": T0 + 60 * i, "end_ts": T0 + 60 * (i + 1), "tier": "1m",
                          "cohorts": [{"segment": "all", "cohort": "all", "n": 10, "features": [
                              {"name": "x", "type": "numeric", "n": 10, "metric": "psi",
                               "psi": s, "p_value": 10.0 ** -(i + 1),
                               "status": "drift" if s > 0.2 else "ok", "quality": {}}]}]}
                         for i, s in enumerate(scores)]
    payload = build_payload(report, max_columns=2)
    a = decode(payload["spec"], payload["blob"])
    assert payload["columns"] == 2 and payload["windows"] == 4
    assert (a["score"] * 1e-4).tolist() == pytest.approx([0.3, 0.02])
    assert a["status"].tolist() == [3, 2]
    assert a["p"].tolist() == [20, 40]  # -10 log10 of the smallest p-value of each column
    assert a["n"].tolist() == [20.0, 20.0]


@pytest.mark.kafka
def test_report_of_a_time_range_of_the_results_topic(
        kafka: KafkaBroker, backtest: tuple[dict[str, Any], Path], tmp_path: Path,
        workdir: Path) -> None:  # noqa: F811
    report, _ = backtest
    topic = kafka.create_topic(kafka.unique_topic("results"))
    cfg = yaml.safe_load((workdir / "driftline.yaml").read_text())
    cfg["source"]["kafka"] = {"bootstrap_servers": kafka.bootstrap, "topics": ["events"],
                              "results_topic": topic}
    cfg["baseline"] = str(workdir / "b.dlb")
    (tmp_path / "driftline.yaml").write_text(yaml.safe_dump(cfg))
    base = [w for w in report["windows"] if w["tier"] == "1m"]
    records = [{k: v for k, v in w.items() if k != "cohorts"} | c
               for w in base for c in w["cohorts"]]
    for rec in records:  # produced when each window closed
        kafka.produce(topic, [rec], timestamp_ms=int(rec["end_ts"] * 1000))
    kafka.produce(topic, [b"not json"], timestamp_ms=int(base[-1]["end_ts"] * 1000))
    frm, to = base[1]["start_ts"], base[-1]["start_ts"]  # windows 1 .. n-2
    code, out = _cli("report", "-c", str(tmp_path / "driftline.yaml"), "--from", str(frm),
                     "--to", str(to), "-o", str(tmp_path / "range.html"))
    assert code == EXIT_OK, out
    payload = _payload(tmp_path / "range.html")
    assert payload["windows"] == len(base) - 2
    assert payload["source"] == f"results topic {topic}"
    assert any("1 results-topic records could not be read" in n for n in payload["notes"])
    arrays = decode(payload["spec"], payload["blob"])
    ci, fi = payload["cohorts"].index("region=latam"), [f[0] for f in
                                                       payload["features"]].index("x")
    status = arrays["status"].reshape(len(payload["cohorts"]), len(payload["features"]), -1)
    expected = [3 if w["start_ts"] >= SHIFT_AT else 2 for w in base[1:-1]]
    assert status[ci, fi].tolist() == expected
    assert payload["baselines"] == [{"w": 0, **base[0]["baseline"]}]  # from the records


@needs_chromium
def test_a_report_without_windows_says_so_in_every_section(browser: Chromium,
                                                          tmp_path: Path) -> None:
    page = write_report({"monitor": "m", "windows": [], "alerts": [],
                         "input": {"events": 3, "dead_letters": {"not_json": 3}}},
                        tmp_path / "empty.html")
    browser.open(page.as_uri())
    browser.wait_for(RENDERED)
    assert browser.errors == []
    assert browser.evaluate("[...document.querySelectorAll('section')].map(s => s.id)") == SECTIONS
    assert browser.evaluate("document.querySelectorAll('section .empty').length") == 6
    assert "Dead letters by reason: not_json 3" in browser.evaluate(
        "document.getElementById('summary').innerText")
