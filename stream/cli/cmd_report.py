"""``driftline report``: the self-contained HTML report of a backtest report, or of a time range
of a running monitor's results topic."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer

from driftline.stream.cli import EXIT_CONFIG, EXIT_RUNTIME
from driftline.stream.cli.engine_common import load_or_exit


def _time(value: str, flag: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        typer.echo(f"{flag} must be an ISO time (2026-01-31T12:00Z) or epoch seconds, "
                   f"got {value!r}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_cmd(
        out: Annotated[Path, typer.Option("--out", "-o", help="report.html to write")],
        backtest: Annotated[Path | None, typer.Option(
            "--backtest", help="a report.json written by `driftline backtest`")] = None,
        config: Annotated[Path | None, typer.Option(
            "--config", "-c", help="driftline.yaml of the monitor whose results topic to read "
            "(with --from/--to)")] = None,
        start: Annotated[str | None, typer.Option(
            "--from", help="first window start to include (ISO time or epoch seconds)")] = None,
        end: Annotated[str | None, typer.Option(
            "--to", help="include windows starting before this time (default: now)")] = None,
        max_columns: Annotated[int, typer.Option(
            "--max-columns", min=10, help="time columns at most; longer ranges fold windows "
            "together, keeping the worst of each column")] = 1000,
    ) -> None:
        """Write one self-contained HTML file (opens offline) with the summary, drift heatmap,
        per-feature timelines and distributions, data quality, freshness and model quality."""
        from driftline.stream.report import write_report
        from driftline.stream.report.html import load_report

        if (backtest is None) == (config is None):
            typer.echo("give either --backtest report.json or --config driftline.yaml with "
                       "--from/--to", err=True)
            raise typer.Exit(EXIT_CONFIG)
        if backtest is not None:
            try:
                report = load_report(backtest.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                typer.echo(f"cannot read {backtest}: {exc}", err=True)
                raise typer.Exit(EXIT_CONFIG) from None
            source = "backtest"
        else:
            from driftline.stream.report.topic import read_results

            assert config is not None
            if start is None:
                typer.echo("--from is required with --config", err=True)
                raise typer.Exit(EXIT_CONFIG)
            cfg = load_or_exit(config)
            t0 = _time(start, "--from")
            t1 = _time(end, "--to") if end else datetime.now(UTC).timestamp()
            try:
                report = read_results(cfg, t0, t1)
            except Exception as exc:  # kafka errors: say what failed, no traceback
                typer.echo(f"reading {cfg.kafka.results_topic} failed: {exc}", err=True)
                raise typer.Exit(EXIT_RUNTIME) from None
            source = f"results topic {cfg.kafka.results_topic}"
        path = write_report(report, out, max_columns=max_columns, source=source)
        typer.echo(f"{len(report.get('windows') or [])} windows, "
                   f"{sum(a.get('state') == 'firing' for a in report.get('alerts') or [])} "
                   f"alerts fired -> {path} ({path.stat().st_size / 1024:.0f} KiB)")
