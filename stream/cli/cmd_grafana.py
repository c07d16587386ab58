"""``driftline grafana dashboards | provisioning | push``: Grafana dashboards from the config.

``dashboards`` writes the overview, feature drill-down and data-quality dashboards as JSON;
``provisioning`` writes the datasource and dashboard-provider files Grafana loads at start;
``push`` saves the dashboards into a folder through Grafana's HTTP API, with the URL from
``--url``, ``$GRAFANA_URL`` or ``alerts.grafana_url`` and a service-account token from the
environment variable named by ``--token-env`` (default ``GRAFANA_TOKEN``; never printed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from driftline.stream.cli import EXIT_CHECK_FAILED, EXIT_CONFIG, EXIT_RUNTIME
from driftline.stream.config.contract import DATASOURCE_UID

ConfigOpt = Annotated[Path, typer.Option("-c", "--config", help="driftline.yaml")]
DatasourceOpt = Annotated[
    str, typer.Option("--datasource-uid", help="uid of the provisioned Prometheus datasource")
]


def _load(config: Path) -> Any:
    from driftline.stream.config.model import ConfigError, load_config

    try:
        return load_config(config)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_CONFIG) from None


def register(app: typer.Typer) -> None:
    grafana_app = typer.Typer(
        help="Grafana dashboards generated from the monitor config.", no_args_is_help=True
    )
    app.add_typer(grafana_app, name="grafana")

    @grafana_app.command("dashboards")
    def dashboards_cmd(
        config: ConfigOpt,
        out: Annotated[Path, typer.Option("--out", "-o", help="directory for the JSON files")],
        datasource_uid: DatasourceOpt = DATASOURCE_UID,
    ) -> None:
        """Write the monitor's dashboards as Grafana JSON files."""
        from driftline.grafana.checks import check_dashboard
        from driftline.grafana.dashboards import build_dashboards, write_dashboards

        cfg = _load(config)
        problems = [
            f"{name}: {p}"
            for name, data in build_dashboards(cfg, datasource_uid).items()
            for p in check_dashboard(data, datasource_uid)
        ]
        if problems:
            typer.echo("\n".join(problems), err=True)
            raise typer.Exit(EXIT_CHECK_FAILED)
        for path in write_dashboards(cfg, out, datasource_uid):
            typer.echo(str(path))

    @grafana_app.command("provisioning")
    def provisioning_cmd(
        out: Annotated[Path, typer.Option("--out", "-o", help="Grafana provisioning directory")],
        prometheus_url: Annotated[
            str, typer.Option("--prometheus-url", help="as Grafana's server reaches it")
        ] = "http://prometheus:9090",
        dashboards_path: Annotated[
            str, typer.Option("--dashboards-path", help="where the JSON files are, for Grafana")
        ] = "/var/lib/grafana/dashboards/driftline",
        folder: Annotated[str, typer.Option("--folder", help="Grafana folder")] = "driftline",
        scrape_interval: Annotated[
            str, typer.Option("--scrape-interval", help="Prometheus scrape interval")
        ] = "15s",
        datasource_uid: DatasourceOpt = DATASOURCE_UID,
    ) -> None:
        """Write datasources/driftline.yaml and dashboards/driftline.yaml."""
        from driftline.grafana.provisioning import write_provisioning

        for path in write_provisioning(
            out, prometheus_url, dashboards_path, folder=folder, uid=datasource_uid,
            scrape_interval=scrape_interval,
        ):
            typer.echo(str(path))

    @grafana_app.command("push")
    def push_cmd(
        config: ConfigOpt,
        url: Annotated[
            str | None, typer.Option("--url", help="Grafana base URL (else $GRAFANA_URL, "
                                     "else alerts.grafana_url)")
        ] = None,
        token_env: Annotated[
            str, typer.Option("--token-env", help="environment variable holding the token")
        ] = "GRAFANA_TOKEN",
        folder: Annotated[str, typer.Option("--folder", help="Grafana folder")] = "driftline",
        from_dir: Annotated[
            Path | None, typer.Option("--from", help="push these JSON files instead")
        ] = None,
        datasource_uid: DatasourceOpt = DATASOURCE_UID,
    ) -> None:
        """Save the dashboards into a Grafana folder (overwriting older versions)."""
        from driftline.grafana.dashboards import build_dashboards
        from driftline.grafana.push import GrafanaPusher, PushError

        cfg = _load(config)
        base = url or os.environ.get("GRAFANA_URL") or cfg.alerts.grafana_url
        if not base:
            typer.echo("no Grafana URL: pass --url, set GRAFANA_URL or alerts.grafana_url",
                       err=True)
            raise typer.Exit(EXIT_CONFIG)
        token = os.environ.get(token_env, "")
        if not token:
            typer.echo(f"environment variable {token_env} (Grafana token) is not set", err=True)
            raise typer.Exit(EXIT_CONFIG)
        if from_dir is not None:
            dashboards = [json.loads(p.read_text()) for p in sorted(from_dir.glob("*.json"))]
        else:
            dashboards = list(build_dashboards(cfg, datasource_uid).values())
        try:
            results = GrafanaPusher(base, token, folder).push(dashboards)
        except PushError as exc:
            typer.echo(f"push failed: {exc}", err=True)
            raise typer.Exit(EXIT_RUNTIME) from None
        except OSError as exc:
            typer.echo(f"push failed: cannot reach {base}: {exc.__class__.__name__}", err=True)
            raise typer.Exit(EXIT_RUNTIME) from None
        for r in results:
            typer.echo(f"{r.title}: version {r.version} in folder {r.folder_uid} -> {r.url}")
