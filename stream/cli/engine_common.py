"""Helpers shared by the engine's CLI commands (config loading, progress bars)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from stream.cli import EXIT_CONFIG


def load_or_exit(path: Path) -> Any:
    """The validated config, or the ConfigError lines on stderr and exit code 2."""
    from stream.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_CONFIG) from None


def check_decoder_or_exit(cfg: Any) -> None:
    """Build the config's record decoder (schema file, descriptor set, registry secrets), or
    print the ConfigError lines and exit 2."""
    from stream.config import ConfigError
    from stream.decode import Decoder

    try:
        Decoder.from_config(cfg)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_CONFIG) from None


@contextmanager
def progress_bar(label: str, min_bytes: int = 20_000_000) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar over bytes, shown only for large inputs."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    bar: Progress | None = None
    task: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar, task
        if total < min_bytes:
            return
        if bar is None:
            bar = Progress("[progress.description]{task.description}", BarColumn(),
                           DownloadColumn(), TimeRemainingColumn(), transient=True)
            bar.start()
            task = bar.add_task(label, total=total)
        bar.update(task, completed=done)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()
