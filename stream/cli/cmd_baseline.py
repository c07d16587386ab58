"""``driftline baseline build``: sketch the training data into a baseline file;
``driftline baseline diff OLD NEW``: what changed between two baselines.

``diff`` exit codes: 0 the same baseline (same version), 1 they differ and NEW can replace OLD in
a running worker (same features, types and segments), 4 they differ in features, types or
segments (a running worker rejects NEW), 2 a file is not a readable baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from driftline.stream.cli import EXIT_CHECK_FAILED, EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME
from driftline.stream.cli.engine_common import load_or_exit, progress_bar

EXIT_INCOMPATIBLE = 4  # baseline diff: a running worker would reject NEW


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
        bins_from: Annotated[Path | None, typer.Option(
            "--bins-from", help="reuse the bin edges and vocabularies of this baseline (the "
                                "running one): exact comparisons after a swap")] = None,
    ) -> None:
        """Build a baseline from training data with the stream's own feature extraction."""
        from driftline.stream.sources.baselines import (
            build_baseline,
            load_baseline,
            save_baseline,
        )

        cfg = load_or_exit(config)
        try:
            reference = load_baseline(bins_from) if bins_from is not None else None
            with progress_bar(f"reading {data.name}") as progress:
                base = build_baseline(cfg, data, bins=bins, min_cohort_rows=min_cohort_rows,
                                      progress=progress, bins_from=reference)
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
        typer.echo(f"version: {base.version}")
        typer.echo(f"size: {size} bytes -> {out}")

    @baseline_app.command("diff")
    def diff_cmd(
        old: Annotated[Path, typer.Argument(help="the baseline in use")],
        new: Annotated[Path, typer.Argument(help="the candidate baseline")],
        as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    ) -> None:
        """What changed from OLD to NEW: features, cohorts, metadata; per feature and cohort the
        counts, mean and quantile shifts, PSI/KS/JS of NEW against OLD, new/removed categories.
        Exit 0 same baseline, 1 different (NEW can replace OLD in a running worker), 4
        different features, types or segments (a running worker rejects NEW), 2 unreadable."""
        import orjson

        from driftline.sketches.baseline_diff import diff_baselines
        from driftline.stream.cli.baseline_diff_text import render
        from driftline.stream.sources.baselines import BaselineError, load_baseline

        try:
            a, b = load_baseline(old), load_baseline(new)
        except BaselineError as exc:
            typer.echo(f"baseline diff: {exc}", err=True)
            raise typer.Exit(EXIT_CONFIG) from None
        d = diff_baselines(a, b)
        if as_json:
            typer.echo(orjson.dumps(d.to_dict(), option=orjson.OPT_INDENT_2).decode())
        else:
            typer.echo(render(d, a, b))
        if d.incompatibilities:
            raise typer.Exit(EXIT_INCOMPATIBLE)
        raise typer.Exit(EXIT_OK if d.identical else EXIT_CHECK_FAILED)
