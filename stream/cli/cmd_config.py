"""``driftline check-config`` and ``driftline config schema``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from stream.cli.engine_common import check_decoder_or_exit, load_or_exit


def register(app: typer.Typer) -> None:
    @app.command("check-config")
    def check_config_cmd(
        config: Annotated[Path, typer.Option("--config", "-c", help="driftline.yaml")],
    ) -> None:
        """Validate a config: exit 0 if it can run, else 2 with one line per problem."""
        cfg = load_or_exit(config)
        check_decoder_or_exit(cfg)
        tiers = ", ".join(cfg.windows.tiers)
        typer.echo(f"{config}: ok — monitor {cfg.monitor}, {len(cfg.features)} features, "
                   f"segments {cfg.segments or 'none'}, windows {tiers}")

    config_app = typer.Typer(help="Configuration helpers.", no_args_is_help=True)
    app.add_typer(config_app, name="config")

    @config_app.command("schema")
    def schema_cmd() -> None:
        """Print the JSON schema of driftline.yaml."""
        from stream.config import DriftlineConfig

        typer.echo(json.dumps(DriftlineConfig.model_json_schema(), indent=2))
