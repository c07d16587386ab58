"""``driftline demo``: the whole product on an embedded payments stream, no Kafka needed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from driftline.stream.cli import EXIT_CHECK_FAILED, EXIT_OK

if TYPE_CHECKING:
    from driftline.alerts.model import AlertEvent
    from driftline.stream.demo.runner import Demo

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow"}


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("demo-out"), help="Folder for the baseline, dashboards, "
                                 "provisioning files and alert state."),
        short: bool = typer.Option(False, "--short", help="A quick run (~10 s) for CI and tests."),
        forever: bool = typer.Option(False, "--forever", help="After the scripted story, keep "
                                     "producing live windows in real time (a source for "
                                     "Prometheus/Grafana). Stop with Ctrl-C."),
        metrics: str = typer.Option("127.0.0.1:9108", help="Where to serve /metrics "
                                    "(host:port; port 0 picks a free one; '' disables)."),
        summary_json: Path | None = typer.Option(None, help="Also write the summary as JSON."),
        plain: bool = typer.Option(False, "--plain", help="Plain log lines instead of a live "
                                   "progress display."),
    ) -> None:
        """Run the whole product on a generated stream, no Kafka needed.

        Problems are injected on purpose: drift in one cohort, a category that never existed,
        a stalled feature source and malformed events. Ends with what was injected, what was
        detected, when, and where to look; then a model whose inputs shift: its estimated
        performance drops when the window closes, the realized one when the labels come."""
        from driftline.stream.demo.runner import Demo, DemoOptions

        console = Console(highlight=False, force_terminal=None if not plain else False)
        windows, pace = (28, 0.25) if short else (40, 1.0)
        opts = DemoOptions(out=out, windows=windows, pace=pace, metrics=metrics or None,
                           events_per_window=3000 if short else 4000)
        d = Demo(opts, log=lambda s: console.print(s))
        d.prepare()
        if d.exporter_url:
            console.print(f"metrics: {d.exporter_url}")
        console.print(f"streaming {windows} one-minute windows of payments events "
                      f"({opts.events_per_window} per window) through the engine...")
        try:
            _run_story(d, console, plain)
            d.finish()
            summary = d.summary()
            _print_summary(summary, console)
            from driftline.stream.demo.quality import run_quality_story

            summary["model_quality"] = run_quality_story(
                opts.out / "model-quality", log=lambda s: console.print(s, markup=False))
            if summary_json:
                summary_json.write_text(json.dumps(summary, indent=2))
            if forever:
                _run_live(d, console)
        finally:
            d.close()
        ok = all(x["detected"] for x in summary["detections"])
        raise typer.Exit(EXIT_OK if ok else EXIT_CHECK_FAILED)


def _alert_lines(events: list[AlertEvent], window_of: Callable[[AlertEvent], int]) -> list[str]:
    """One line per (state, severity, check, feature) with the cohorts it hit, like a digest."""
    groups: dict[tuple[str, str, str, str, str], list[AlertEvent]] = {}
    for e in events:
        if e.state in ("firing", "resolved") and e.window in ("1m", ""):
            groups.setdefault((e.state, e.severity, e.check, e.metric, e.feature), []).append(e)
    lines = []
    for (state, sev, check, metric, feature), group in groups.items():
        style = SEVERITY_STYLE.get(sev, "") if state == "firing" else "green"
        where = sorted({"all" if e.segment == "all" else f"{e.segment}={e.cohort}"
                        for e in group})
        shown = ", ".join(where[:4]) + (f" +{len(where) - 4} more" if len(where) > 4 else "")
        top = max(group, key=lambda e: abs(e.value))
        vs = f" (threshold {top.threshold:.3g})" if top.threshold is not None else ""
        when = f"window {window_of(top):>2}" if top.window else "freshness"
        lines.append(f"{when}: [{style}]{state.upper():8} {sev:8}[/] {check}.{metric} "
                     f"[bold]{feature or '(volume)'}[/] @ {shown}: "
                     f"value up to {top.value:.3g}{vs}")
    return lines


def _run_story(d: Demo, console: Console, plain: bool) -> None:
    seen = 0
    cols = (TextColumn("window"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"))
    with Progress(*cols, console=console, disable=plain, transient=True) as progress:
        task = progress.add_task("windows", total=d.opts.windows, status="")
        for _ in range(d.opts.windows):
            t0 = time.monotonic()
            d.step()
            for line in _alert_lines(d.alerts[seen:], d.window_of):
                console.print(line)
            seen = len(d.alerts)
            firing = d.alerting.firing()
            progress.update(task, advance=1, status=f"{d.events:,} events  firing: "
                            f"{firing['critical']} critical, {firing['warning']} warning")
            if plain:
                console.print(f"window {d.index}/{d.opts.windows}: {d.events:,} events")
            rest = d.opts.pace - (time.monotonic() - t0)
            if rest > 0:
                time.sleep(rest)  # pacing of the live display, not a wait for a condition


def _run_live(d: Demo, console: Console) -> None:
    console.print("live: one window per minute of wall time; Ctrl-C stops")
    try:
        while True:
            due = d.start + (d.index + 1) * d.config.windows.size
            wait = due - time.time()
            if wait > 0:
                time.sleep(min(wait, 1.0))
                continue
            d.step()
    except KeyboardInterrupt:
        console.print("stopped")


def _print_summary(summary: dict[str, Any], console: Console) -> None:
    table = Table(title=f"driftline demo — {summary['events']:,} events in "
                  f"{summary['windows']} windows")
    for col in ("injected", "where", "detected", "when"):
        table.add_column(col)
    look = {
        "drift": "Grafana 'feature drill-down' (feature=amount, cohort=eu), or "
                 'driftline_drift_score{feature="amount",cohort="eu"}',
        "new_category": 'driftline_quality_ratio{kind="unseen",feature="merchant_category"}',
        "stalled_feature": "Grafana 'data quality & freshness', or driftline_staleness_seconds",
        "malformed": "driftline_events_invalid_total (with Kafka: the dead-letter topic)",
    }
    for det in summary["detections"]:
        p = det["problem"]
        where = det.get("feature", "")
        if det.get("cohort"):
            where += f" @ {det['segment']}={det['cohort']}"
        if p == "malformed":
            where = f"{det['injected']} records"
            when = f"{det['counted']} counted"
        else:
            when = ("—" if not det["detected"] else
                    f"window {det['detected_at_window']} (+{det['delay_windows']}), "
                    f"{det['severity']}")
        mark = "[green]yes[/]" if det["detected"] else "[red]NO[/]"
        table.add_row(p.replace("_", " "), where, mark, when)
    console.print(table)
    console.print("where to look:")
    for det in summary["detections"]:
        console.print(f"  {det['problem'].replace('_', ' ')}: {look[det['problem']]}")
    console.print(f"dashboards and provisioning files: {summary['out']}")
    if summary.get("report"):
        console.print(f"HTML report (open it in a browser, works offline): {summary['report']}")
    if summary.get("metrics_url"):
        console.print(f"metrics were served at {summary['metrics_url']} "
                      f"({summary['metrics_scrapes']} scrapes)")
