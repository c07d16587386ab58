"""``driftline run -c driftline.yaml``: the always-on Kafka worker (faust-streaming worker).

Prints ``driftline ready ...`` once it consumes and serves ``/metrics`` on ``metrics.listen``;
SIGTERM/SIGINT stop it gracefully (checkpoint, commit, leave the group). Start several with the
same config to scale out: they share the partitions as one consumer group.

Before the worker starts, the same offline checks as ``check-config`` run
(:mod:`stream.cli.preflight`; exit 2, one line per problem), then Kafka must answer within
``--connect-timeout`` and list every source topic (:mod:`stream.kafka.source_check`; exit 3).
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from driftline.stream.cli import EXIT_CONFIG, EXIT_RUNTIME
from driftline.stream.cli.engine_common import load_or_exit, report_preflight


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
        connect_timeout: float = typer.Option(
            60.0, "--connect-timeout", min=0.0,
            help="seconds to keep retrying unreachable brokers at start before exiting 3"),
        log_level: str = typer.Option("info", "--log-level", help="debug|info|warning|error"),
    ) -> None:
        """Run the always-on worker against Kafka (SIGTERM = graceful stop)."""
        from driftline.stream.cli.preflight import preflight

        cfg = load_or_exit(config)
        found = preflight(cfg, command="run")
        if not report_preflight(found, config):
            raise typer.Exit(EXIT_CONFIG)
        logging.basicConfig(
            level=getattr(logging, log_level.upper(), logging.INFO),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        from driftline.stream.kafka.source_check import SourceUnavailable, check_source

        k = cfg.kafka
        try:
            check_source(k.client_kwargs(), list(k.topics), timeout_s=connect_timeout)
        except SourceUnavailable as exc:
            found.baseline = None  # nothing native left alive at exit
            typer.echo(f"driftline run cannot start:\n{exc}", err=True)
            raise typer.Exit(EXIT_RUNTIME) from None
        from driftline.stream.kafka.runtime import run_worker
        from driftline.stream.sources.baseline_watch import BaselineLocation, BaselineWatcher

        location = BaselineLocation.from_config(cfg)
        poller = None if location is None else BaselineWatcher(
            config=cfg, location=location, current=found.baseline, tag=found.baseline_tag)
        from driftline.stream.engine.heap import settle

        settle()
        try:
            run_worker(cfg, found.baseline, instance_id=instance_id,
                       session_timeout_s=session_timeout, loglevel=log_level,
                       baseline_poller=poller)
        except (OSError, RuntimeError) as exc:
            typer.echo(f"driftline run failed: {exc}", err=True)
            raise typer.Exit(EXIT_RUNTIME) from None
        except SystemExit as exc:  # the faust worker exits with 1 when a service failed
            if exc.code not in (0, None):
                typer.echo("driftline run failed (see the log above)", err=True)
                raise typer.Exit(EXIT_RUNTIME) from None
            raise
