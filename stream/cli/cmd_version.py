"""``driftline version``."""

from __future__ import annotations

from importlib.metadata import version

import typer


def register(app: typer.Typer) -> None:
    @app.command("version")
    def version_cmd() -> None:
        """Print driftline's version."""
        typer.echo(version("driftline"))
