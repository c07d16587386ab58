"""``driftline baseline build``: sketch the training data into a baseline file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from driftline.stream.cli import EXIT_RUNTIME
from driftline.stream.cli.engine_common import load_or_exit, progress_bar


def register(app: typer.Typer) -> None:
    baseline_app = typer.Typer(help="Build and inspect baselines.", no_args_is_help=True)
    app.add_typer(baseline_app, name="baseline")

    @baseline_app.command("build")
    def build_cmd(
        config: Annotated[Path, typer.Option("--config", "-c", help="driftline.yaml")],
        data: Annotated[Path, typer.Option("--data", help="training .parquet/.csv/.jsonl/.avro")],
        out: Annotated[Path, typer.Option("--out", "-o", help="baseline file to write")],
        bins: Annotated[int, typer.Option(help="numeric bins (baseline quantiles)")] = 10,
        min_cohort_rows: Annotated[int, typer.Option(
            help="rows a segment value needs for its own baseline")] = 1000,
    ) -> None:
        """Build a baseline from training data with the stream's own feature extraction."""
        from driftline.stream.sources.baselines import build_baseline, save_baseline

        cfg = load_or_exit(config)
        try:
            with progress_bar(f"reading {data.name}") as progress:
                base = build_baseline(cfg, data, bins=bins, min_cohort_rows=min_cohort_rows,
                                      progress=progress)
            size = save_baseline(base, out)
        except (OSError, ValueError) as exc:
            typer.echo(f"baseline build failed: {exc}", err=True)
            raise typer.Exit(EXIT_RUNTIME) from None
        cohorts = ", ".join(f"{s}={c}" for s, c in base.cohorts) or "none"
        typer.echo(f"rows: {base.rows}")
        typer.echo(f"features: {len(base.schema.names)}")
        typer.echo(f"cohorts with their own baseline ({len(base.cohorts)}): {cohorts}")
        mq = base.meta.get("model_quality")
        if mq is not None:
            typer.echo("model quality reference: " + (", ".join(mq["cohorts"]) or
                                                      f"none ({mq.get('skipped', '')})"))
        typer.echo(f"size: {size} bytes -> {out}")
