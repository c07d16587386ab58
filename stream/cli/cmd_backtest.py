"""``driftline backtest``: replay an event file through the engine and write a JSON report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from driftline.stream.cli import EXIT_CHECK_FAILED, EXIT_CONFIG, EXIT_RUNTIME
from driftline.stream.cli.engine_common import (
    load_or_exit,
    progress_bar,
    report_preflight,
    write_report,
)


def register(app: typer.Typer) -> None:
    @app.command("backtest")
    def backtest_cmd(
        config: Annotated[Path, typer.Option("--config", "-c", help="driftline.yaml")],
        events: Annotated[Path, typer.Option("--events", help="events .jsonl/.csv/.parquet/.avro")],
        out: Annotated[Path, typer.Option("--out", "-o", help="report.json to write")],
        baseline: Annotated[Path | None, typer.Option(
            "--baseline", help="baseline.dlb (default: the config's baseline)")] = None,
        labels: Annotated[Path | None, typer.Option(
            "--labels", help="label events .jsonl/.csv/.parquet joined to the predictions")
        ] = None,
        fail_on: Annotated[str | None, typer.Option(
            "--fail-on", help="exit 1 if an alert of this severity (critical|warning) fired")
        ] = None,
        html: Annotated[Path | None, typer.Option(
            "--html", help="also write the self-contained HTML report to this file")] = None,
        quiet: Annotated[bool, typer.Option(
            "--quiet", "-q", help="no progress bar (it is shown on stderr for inputs of 20 MB "
                                  "or more, only when stderr is a terminal)")] = False,
    ) -> None:
        """Replay EVENTS in event-time order through the same engine and alert rules."""
        from driftline.stream.cli.preflight import preflight
        from driftline.stream.sources.backtest import run_backtest
        from driftline.stream.sources.files import file_format

        if fail_on not in (None, "critical", "warning"):
            typer.echo(f"--fail-on must be critical or warning, got {fail_on!r}", err=True)
            raise typer.Exit(EXIT_CONFIG)
        cfg = load_or_exit(config)
        if (baseline or cfg.baseline) is None:
            typer.echo("no baseline: pass --baseline or set `baseline:` in the config", err=True)
            raise typer.Exit(EXIT_CONFIG)
        found = preflight(cfg, command="backtest", baseline_path=baseline)
        try:
            file_format(events)
            if not events.is_file():
                raise ValueError(f"{events}: no such file")
        except ValueError as exc:
            found.problems.append(f"--events: {exc}")
        if not report_preflight(found, config):
            raise typer.Exit(EXIT_CONFIG)
        assert found.baseline is not None
        from driftline.stream.engine.heap import settle

        settle()
        try:
            with progress_bar(f"replaying {events.name}", quiet=quiet) as progress:
                report = run_backtest(cfg, found.baseline, events, progress=progress,
                                      labels=labels)
        except Exception as exc:  # one line; the traceback only with --log-level debug
            logging.getLogger(__name__).debug("backtest failed", exc_info=True)
            found.baseline = None  # nothing native left alive at exit
            typer.echo(f"backtest failed: {type(exc).__name__}: {exc} (the traceback: "
                       "driftline --log-level debug backtest ...)", err=True)
            raise typer.Exit(EXIT_RUNTIME) from None
        write_report(report, out)
        fired = [a for a in report["alerts"] if a["state"] == "firing"]
        crit = sum(1 for a in fired if a["severity"] == "critical")
        inp = report["input"]
        typer.echo(f"{inp['events']} events, {sum(inp['dead_letters'].values())} dead letters, "
                   f"{len(report['windows'])} windows, {len(fired)} alerts fired "
                   f"({crit} critical) -> {out}")
        if html is not None:
            from driftline.stream.report import write_report as write_html

            write_html(report, html)
            typer.echo(f"html report -> {html}")
        lab = inp.get("labels")
        if lab and lab.get("file"):
            o = lab["outcomes"]
            typer.echo(f"{lab['events']} label events: {o['joined'] + o['joined_early']} joined, "
                       f"{o['duplicate']} duplicates, {o['unknown_id']} unknown ids, "
                       f"{o['malformed']} malformed, {o['never_labeled']} never labelled")
        if fail_on == "critical" and crit or fail_on == "warning" and fired:
            raise typer.Exit(EXIT_CHECK_FAILED)
