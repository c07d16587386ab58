"""``driftline labels run`` / ``driftline labels report``: the label join on Kafka."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import orjson
import typer

from driftline.stream.cli import EXIT_CONFIG, EXIT_RUNTIME
from driftline.stream.cli.engine_common import load_or_exit
from driftline.stream.cli.logs import setup_logging


def register(app: typer.Typer) -> None:
    labels_app = typer.Typer(help="Join delayed labels to predictions on Kafka.",
                             no_args_is_help=True)
    app.add_typer(labels_app, name="labels")

    @labels_app.command("run")
    def run_cmd(config: Annotated[Path, typer.Option("--config", "-c", help="driftline.yaml")]
                ) -> None:
        """Run one label-join worker (start as many as the topics have partitions)."""
        from driftline.stream.kafka.labels_worker import LabelWorker, run_label_worker
        from driftline.stream.sources.baselines import BaselineError, load_baseline

        setup_logging("info")
        cfg = load_or_exit(config)
        try:
            base = load_baseline(cfg.baseline) if cfg.baseline else None
            worker = LabelWorker(config=cfg, baseline=base)
        except (BaselineError, ValueError) as exc:
            typer.echo(f"cannot start the label worker: {exc}", err=True)
            raise typer.Exit(EXIT_CONFIG) from None
        from driftline.stream.engine.heap import settle

        settle()
        run_label_worker(worker)

    @labels_app.command("report")
    def report_cmd(
        config: Annotated[Path, typer.Option("--config", "-c", help="driftline.yaml")],
        out: Annotated[Path | None, typer.Option("--out", "-o", help="report.json")] = None,
    ) -> None:
        """Merge the workers' latest checkpoints: realized and estimated performance per
        window and segment value, and the join's outcome counters."""
        from driftline.stream.kafka.labels_report import merged_report, read_states
        from driftline.stream.sources.baselines import BaselineError, load_baseline

        cfg = load_or_exit(config)
        if cfg.model is None or cfg.labels is None or not cfg.labels.topic:
            typer.echo("labels report needs model:, labels: and labels.topic in the config",
                       err=True)
            raise typer.Exit(EXIT_CONFIG)
        try:
            base = load_baseline(cfg.baseline) if cfg.baseline else None
        except BaselineError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(EXIT_CONFIG) from None
        try:
            rep = merged_report(cfg, base, asyncio.run(read_states(cfg, base)))
        except (OSError, RuntimeError, ValueError) as exc:
            typer.echo(f"labels report failed: {exc}", err=True)
            raise typer.Exit(EXIT_RUNTIME) from None
        data = orjson.dumps(rep, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
        if out is None:
            typer.echo(data.decode())
        else:
            out.write_bytes(data)
            typer.echo(f"{len(rep['windows'])} windows -> {out}")
