"""`driftline demo` as a user runs it: every injected problem is detected, /metrics answers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from tests.fixtures.waiting import wait_until


def test_demo_detects_every_injected_problem(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftline.stream", "demo", "--short",
         "--out", str(tmp_path / "out"),
         "--metrics", "127.0.0.1:0", "--summary-json", str(summary_path), "--plain"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        url = wait_until(
            lambda: next((m.group(0) for line in lines
                          if (m := re.search(r"http://127\.0\.0\.1:\d+/metrics", line))), None),
            timeout=60, message="the demo announces its /metrics URL",
        )

        def scrape() -> str | None:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = resp.read().decode()
            has_windows = re.search(r"^driftline_window_events\{", body, re.M)
            return body if has_windows else None

        exposition = wait_until(scrape, timeout=90, interval=0.2,
                                message="/metrics serves window results during the run")
        assert re.search(r'^driftline_drift_score\{.*feature="amount"', exposition, re.M)
        assert proc.wait(timeout=180) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=5)

    summary = json.loads(summary_path.read_text())
    quality = summary["model_quality"]  # estimated drop first, realized when labels come
    assert quality["estimated_alert_window"] == quality["realized_alert_window"] == 4
    assert quality["estimated_before_labels"]
    by_problem = {d["problem"]: d for d in summary["detections"]}
    assert set(by_problem) == {"drift", "new_category", "stalled_feature", "malformed"}
    drift = by_problem["drift"]
    assert drift["detected"], drift
    assert (drift["feature"], drift["segment"], drift["cohort"]) == ("amount", "region", "eu")
    assert 0 <= drift["delay_windows"] <= 3
    assert by_problem["new_category"]["detected"]
    assert by_problem["new_category"]["feature"] == "merchant_category"
    assert by_problem["stalled_feature"]["detected"]
    malformed = by_problem["malformed"]
    assert malformed["detected"] and malformed["counted"] == malformed["injected"] > 0
    # Drift pages only where something was injected (amount in eu; the new category moves
    # merchant_category); the other features are stationary and must stay quiet.
    pages = [a for a in summary["alerts"] if a["severity"] == "critical" and a["check"] == "drift"]
    assert pages and {a["feature"] for a in pages} <= {"amount", "merchant_category"}, pages
    regions = {a["cohort"] for a in pages if a["feature"] == "amount" and a["segment"] == "region"}
    assert regions == {"eu"}, regions
    assert summary["metrics_scrapes"] >= 1
    out = tmp_path / "out"
    assert any((out / "dashboards").glob("*.json")), "the demo writes the Grafana dashboards"
    # the HTML report is in the output folder, and the summary says where
    assert summary["report"] == str(out / "report.html")
    printed = "".join(lines).replace("\n", "")
    assert "HTML report" in printed and str(out / "report.html") in printed
    page = (out / "report.html").read_text()
    assert page.startswith("<!doctype html>") and 'id="driftline-data"' in page
    data = json.loads(page.split('type="application/json">', 1)[1].split("</script>", 1)[0]
                      .replace("<\\/", "</"))
    assert len(data["alerts"]) == len(summary["alerts"])
    assert data["windows"] == summary["windows"]
