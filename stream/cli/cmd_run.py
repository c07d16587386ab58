"""``driftline run -c driftline.yaml``: the always-on Kafka worker (faust-streaming worker).

Prints ``driftline ready ...`` once it consumes and serves ``/metrics`` on ``metrics.listen``;
SIGTERM/SIGINT stop it gracefully (checkpoint, commit, leave the group). Start several with the
same config to scale out: they share the partitions as one consumer group.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from driftline.stream.cli import EXIT_CONFIG, EXIT_RUNTIME


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run_cmd(
        config: Path = typer.Option(..., "-c", "--config", help="driftline.yaml"),
        instance_id: str = typer.Option(
            None, "--instance-id",
            help="stable id of this worker (Kafka static membership: a restart with the same id "
                 "takes its partitions back without a rebalance)"),
        session_timeout: float = typer.Option(
            10.0, "--session-timeout", help="seconds before a silent worker's partitions move"),
        log_level: str = typer.Option("info", "--log-level", help="debug|info|warning|error"),
    ) -> None:
        """Run the always-on worker against Kafka (SIGTERM = graceful stop)."""
        from driftline.stream.config.model import ConfigError, load_config

        try:
            cfg = load_config(config)
            _ = cfg.kafka  # fails early without source.kafka
        except ConfigError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(EXIT_CONFIG) from None
        baseline = None
        if cfg.baseline is not None:
            from driftline.stream.sources.baselines import BaselineError, load_baseline

            try:
                baseline = load_baseline(cfg.baseline)
            except BaselineError as exc:
                typer.echo(str(exc), err=True)
                raise typer.Exit(EXIT_CONFIG) from None
        logging.basicConfig(
            level=getattr(logging, log_level.upper(), logging.INFO),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        from driftline.stream.kafka.runtime import run_worker

        try:
            run_worker(cfg, baseline, instance_id=instance_id,
                       session_timeout_s=session_timeout, loglevel=log_level)
        except (OSError, RuntimeError) as exc:
            typer.echo(f"driftline run failed: {exc}", err=True)
            raise typer.Exit(EXIT_RUNTIME) from None
        except SystemExit as exc:  # the faust worker exits with 1 when a service failed
            if exc.code not in (0, None):
                typer.echo("driftline run failed (see the log above)", err=True)
                raise typer.Exit(EXIT_RUNTIME) from None
            raise
