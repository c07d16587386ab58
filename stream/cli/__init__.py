"""The ``driftline`` command line.

Each ``cmd_*.py`` module in this package adds its commands with ``register(app)``; this module
only assembles them, so commands live next to nothing but themselves.

Exit codes (stable, for scripts): 0 ok, 1 a check failed (e.g. drift or alerts in a backtest when
asked to fail on them), 2 bad usage or bad configuration (one line per problem, never a
traceback), 3 a runtime error (Kafka unreachable after ``run --connect-timeout``, a source topic
that does not exist, a failed worker loop).
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_CONFIG = 2
EXIT_RUNTIME = 3

app = typer.Typer(
    name="driftline",
    help="Streaming drift and data-quality monitor for ML in production.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root(
    log_level: str = typer.Option("info", "--log-level", envvar="DRIFTLINE_LOG_LEVEL",
                                  help="debug, info, warning or error."),
    log_json: bool = typer.Option(False, "--log-json", envvar="DRIFTLINE_LOG_JSON",
                                  help="Log one JSON object per line (for log pipelines)."),
) -> None:
    """Streaming drift and data-quality monitor for ML in production.

    Start with `driftline demo`. Against Kafka: `driftline baseline build`, then
    `driftline run -c driftline.yaml`. Exit codes: 0 ok, 1 a check failed, 2 bad usage or
    configuration, 3 a runtime error.
    """
    from driftline.stream.cli.logs import LEVELS, setup_logging

    if log_level.lower() not in LEVELS:
        raise typer.BadParameter(f"must be one of {', '.join(LEVELS)}", param_hint="--log-level")
    setup_logging(log_level.lower(), json_lines=log_json)


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"{__name__}.{info.name}").register(app)


_register_commands()


def main() -> None:
    app()
