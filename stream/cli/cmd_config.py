"""``driftline check-config`` and ``driftline config schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from driftline.stream.cli import EXIT_CONFIG
from driftline.stream.cli.engine_common import load_or_exit, report_preflight


def register(app: typer.Typer) -> None:
    @app.command("check-config")
    def check_config_cmd(
        config: Annotated[Path, typer.Option("--config", "-c", help="driftline.yaml")],
        skip_environment: Annotated[bool, typer.Option(
            "--skip-environment",
            help="skip the checks of this machine (secret environment variables, metrics.listen "
                 "port, state_dir), e.g. in CI")] = False,
    ) -> None:
        """Validate a config with every offline check `run` makes: exit 0 if it can run, else 2
        with one line per problem (field and fix). Warnings do not change the exit code."""
        from driftline.stream.cli.preflight import preflight

        cfg = load_or_exit(config)
        found = preflight(cfg, command="check-config", check_environment=not skip_environment)
        if not report_preflight(found, config):
            raise typer.Exit(EXIT_CONFIG)
        tiers = ", ".join(cfg.windows.tiers)
        typer.echo(f"{config}: ok — monitor {cfg.monitor}, {len(cfg.features)} features, "
                   f"segments {cfg.segments or 'none'}, windows {tiers}")

    config_app = typer.Typer(help="Configuration helpers.", no_args_is_help=True)
    app.add_typer(config_app, name="config")

    @config_app.command("schema")
    def schema_cmd() -> None:
        """Print the JSON schema of driftline.yaml."""
        from driftline.stream.config.model import DriftlineConfig

        typer.echo(json.dumps(DriftlineConfig.model_json_schema(), indent=2))
