"""``driftline backtest``: replay an event file through the engine and write a JSON report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from driftline.stream.cli import EXIT_CHECK_FAILED, EXIT_CONFIG, EXIT_RUNTIME
from driftline.stream.cli.engine_common import load_or_exit, progress_bar, write_report


def register(app: typer.Typer) -> None:
    @app.command("backtest")
    def backtest_cmd(
        config: Annotated[Path, typer.Option("--config", "-c", help="driftline.yaml")],
        events: Annotated[Path, typer.Option("--events", help="events .jsonl/.csv/.parquet")],
        out: Annotated[Path, typer.Option("--out", "-o", help="report.json to write")],
        baseline: Annotated[Path | None, typer.Option(
            "--baseline", help="baseline.dlb (default: the config's baseline)")] = None,
        fail_on: Annotated[str | None, typer.Option(
            "--fail-on", help="exit 1 if an alert of this severity (critical|warning) fired")
        ] = None,
        quiet: Annotated[bool, typer.Option(
            "--quiet", "-q", help="no progress bar (it is shown on stderr for inputs of 20 MB "
                                  "or more, only when stderr is a terminal)")] = False,
    ) -> None:
        """Replay EVENTS in event-time order through the same engine and alert rules."""
        from driftline.stream.sources.backtest import run_backtest
        from driftline.stream.sources.baselines import BaselineError, load_baseline

        if fail_on not in (None, "critical", "warning"):
            typer.echo(f"--fail-on must be critical or warning, got {fail_on!r}", err=True)
            raise typer.Exit(EXIT_CONFIG)
        cfg = load_or_exit(config)
        path = baseline or cfg.baseline
        if path is None:
            typer.echo("no baseline: pass --baseline or set `baseline:` in the config", err=True)
            raise typer.Exit(EXIT_CONFIG)
        try:
            base = load_baseline(path)
        except BaselineError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(EXIT_CONFIG) from None
        try:
            with progress_bar(f"replaying {events.name}", quiet=quiet) as progress:
                report = run_backtest(cfg, base, events, progress=progress)
        except (OSError, ValueError) as exc:
            typer.echo(f"backtest failed: {exc}", err=True)
            raise typer.Exit(EXIT_RUNTIME) from None
        write_report(report, out)
        fired = [a for a in report["alerts"] if a["state"] == "firing"]
        crit = sum(1 for a in fired if a["severity"] == "critical")
        inp = report["input"]
        typer.echo(f"{inp['events']} events, {sum(inp['dead_letters'].values())} dead letters, "
                   f"{len(report['windows'])} windows, {len(fired)} alerts fired "
                   f"({crit} critical) -> {out}")
        if fail_on == "critical" and crit or fail_on == "warning" and fired:
            raise typer.Exit(EXIT_CHECK_FAILED)
