"""Helpers shared by the engine's CLI commands (config loading, progress bars, reports)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import typer

from driftline.stream.cli import EXIT_CONFIG


def load_or_exit(path: Path) -> Any:
    """The validated config, or the ConfigError lines on stderr and exit code 2."""
    from driftline.stream.config.model import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_CONFIG) from None


def report_preflight(found: Any, source: Path) -> bool:
    """Print the warnings and problems of a :class:`~stream.cli.preflight.Preflight` on stderr (one
    line each); True when there is no problem."""
    from driftline.stream.config.model import ConfigError

    for line in found.warnings:
        typer.echo(f"warning: {line}", err=True)
    if found.problems:
        typer.echo(str(ConfigError(str(source), found.problems)), err=True)
    return not found.problems


@contextmanager
def progress_bar(label: str, min_bytes: int = 20_000_000, quiet: bool = False
                 ) -> Iterator[Callable[[int, int], None]]:
    """A progress bar over bytes on stderr, shown only for inputs of at least ``min_bytes``
    and only when stderr is a terminal and ``quiet`` is off (scripts and CI logs stay clean)."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    show = not quiet and sys.stderr.isatty()
    bar: Progress | None = None
    task: Any = None

    def update(done: int, total: int) -> None:
        nonlocal bar, task
        if not show or total < min_bytes:
            return
        if bar is None:
            bar = Progress("[progress.description]{task.description}", BarColumn(),
                           DownloadColumn(), TimeRemainingColumn(), transient=True,
                           console=Console(stderr=True))
            bar.start()
            task = bar.add_task(label, total=total)
        bar.update(task, completed=done)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write a backtest report as indented JSON, one window at a time (no single serialized
    copy of the whole report in memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(b"{")
        for i, (key, value) in enumerate(report.items()):
            fh.write(b"\n  " if i == 0 else b",\n  ")
            fh.write(orjson.dumps(key) + b": ")
            if key == "windows" and isinstance(value, list) and value:
                fh.write(b"[")
                for j, window in enumerate(value):
                    fh.write(b"\n" if j == 0 else b",\n")
                    fh.write(orjson.dumps(window, option=orjson.OPT_INDENT_2))
                fh.write(b"\n  ]")
            else:
                fh.write(orjson.dumps(value, option=orjson.OPT_INDENT_2))
        fh.write(b"\n}\n")
