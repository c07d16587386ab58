"""Checks a config must pass before it runs, none of which needs the network (but a
``baseline_reload.url``: the baseline is fetched once, as the worker will at start).

``check-config`` and ``run`` call the same :func:`preflight`, so a file ``check-config`` calls ok
does not fail at ``run`` for anything knowable offline: the baseline file (readable, a driftline
baseline, built for exactly the configured features and types), the secret environment
variables the config names, the record decoder (Avro schema file, Protobuf descriptor set,
schema registry settings), the TLS files, the ``metrics.listen`` address (free to bind) and the
state directory (writable). Each problem is one line naming the field and the fix.

>>> from driftline.stream.config.model import parse_config
>>> cfg = parse_config({"monitor": "m", "features": [{"name": "x", "type": "numeric"}],
...     "metrics": {"listen": None},
...     "alerts": {"channels": {"pd": {"type": "pagerduty", "routing_key_env": "PD_KEY"}}}})
>>> print(*preflight(cfg, environ={}, command="check-config").problems)
alerts.channels.pd.routing_key_env: environment variable PD_KEY is not set; export it
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from driftline.alerts.alerting import _wanted_secrets
from driftline.sketches.baseline import Baseline
from driftline.stream.config.model import DriftlineConfig
from driftline.stream.config.semantics import metric_warnings
from driftline.stream.config.types import ConfigError
from driftline.stream.decode.factory import decoder_for
from driftline.stream.sources.baseline_watch import BaselineLocation
from driftline.stream.sources.baselines import BaselineError, load_baseline

Command = Literal["check-config", "run", "backtest"]


@dataclass
class Preflight:
    """What :func:`preflight` found: ``problems`` stop the command (exit 2), ``warnings`` do
    not; ``baseline`` is the loaded baseline when there is a usable one, ``baseline_tag`` the
    tag of the URL's object it was loaded from (the baseline watcher's first check)."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    baseline: Baseline | None = None
    baseline_tag: str | None = None


def preflight(
    cfg: DriftlineConfig,
    *,
    command: Command,
    environ: Mapping[str, str] | None = None,
    baseline_path: Path | None = None,
    check_environment: bool = True,
) -> Preflight:
    """Every offline check of ``command``; see the module doc. ``check_environment=False``
    skips what depends on the machine (secrets, listen port, state directory), e.g. in CI."""
    out = Preflight(warnings=metric_warnings(cfg))
    env = os.environ if environ is None else environ
    _baseline(cfg, baseline_path or cfg.baseline, command, out, env)
    out.problems += _decoder(cfg)
    if cfg.source.kafka is None and command != "backtest":
        (out.problems if command == "run" else out.warnings).append(
            "source.kafka: not set; `driftline run` needs it (bootstrap_servers and topics), "
            "backtest and baseline build do not")
    if not check_environment or command == "backtest":
        return out
    out.problems += _secrets(cfg, env)
    listen = _listen(cfg)
    if listen:  # a port taken now may be free when the worker starts: check-config warns
        (out.problems if command == "run" else out.warnings).append(listen)
    out.problems += _state_dir(cfg)
    return out


def _decoder(cfg: DriftlineConfig) -> list[str]:
    """The record decoder builds: schema file, descriptor set, registry settings."""
    try:
        decoder_for(cfg)
    except ConfigError as exc:
        return list(exc.problems)
    return []


def _baseline(cfg: DriftlineConfig, path: Path | None, command: Command, out: Preflight,
              env: Mapping[str, str]) -> None:
    url = cfg.baseline_reload.url if command != "backtest" else None
    if path is None and url is None:
        if command != "backtest":
            out.warnings.append("baseline: not set; drift and volume are not checked without "
                                "one (`driftline baseline build`)")
        return
    tag = None
    try:
        if path is not None:
            base = load_baseline(path)
        else:  # the one check that needs the network: the baseline object itself
            location = BaselineLocation.from_config(cfg, env)
            assert location is not None
            base, tag = location.load()
    except BaselineError as exc:
        key = "baseline" if path is not None else "baseline_reload.url"
        out.problems.append(f"{key}: {exc}; build one with `driftline baseline build`")
        return
    want = {f.name: f.type for f in cfg.features}
    have = {s.name: s.kind for s in base.schema}
    where = path if path is not None else url
    rebuild = "rebuild it with `driftline baseline build`"
    missing = [n for n in want if n not in have]
    extra = [n for n in have if n not in want]
    if missing:
        out.problems.append(f"baseline: {where} has no profile of the configured features "
                            f"{missing}; {rebuild}")
    if extra:
        out.problems.append(f"baseline: {where} was built with features {extra} that are not "
                            f"configured; {rebuild} (or configure them)")
    for name in want:
        if name in have and want[name] != have[name]:
            out.problems.append(f"features.{list(want).index(name)}.type: {name!r} is "
                                f"{want[name]} here but {have[name]} in the baseline {where}; "
                                f"{rebuild}")
    if not (missing or extra) and all(want[n] == have[n] for n in want):
        out.baseline, out.baseline_tag = base, tag


def _secrets(cfg: DriftlineConfig, env: Mapping[str, str]) -> list[str]:
    unset = "is not set; export it"
    out = []
    for channel, fields in _wanted_secrets(cfg.alerts.channels).items():
        for name, var in fields.items():
            path = (f"headers_env.{name.removeprefix('header ')}" if name.startswith("header ")
                    else f"{name}_env")
            if not env.get(var):
                out.append(f"alerts.channels.{channel}.{path}: environment variable {var} {unset}")
    auth = cfg.baseline_reload.auth_header_env
    if cfg.baseline_reload.url and auth and not env.get(auth):
        out.append(f"baseline_reload.auth_header_env: environment variable {auth} {unset}")
    k = cfg.source.kafka
    if k is not None:
        wanted: list[tuple[str, str | None]] = []
        if k.security_protocol.startswith("SASL"):
            wanted.append(("sasl_password_env", k.sasl_password_env))
        if k.security_protocol in ("SSL", "SASL_SSL"):
            wanted.append(("ssl_password_env", k.ssl_password_env))
            for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                p = getattr(k, key)
                if p is not None and not os.access(p, os.R_OK):
                    out.append(f"source.kafka.{key}: cannot read {p}")
        for key, env_var in wanted:
            if env_var and not env.get(env_var):
                out.append(f"source.kafka.{key}: environment variable {env_var} {unset}")
        if not out and k.security_protocol in ("SSL", "SASL_SSL"):
            try:
                k.aiokafka_kwargs(env)  # loads the CA, certificate and key (offline)
            except (OSError, ValueError) as exc:
                out.append(f"source.kafka: cannot load the TLS files (ssl_cafile, ssl_certfile, "
                           f"ssl_keyfile, ssl_password_env): {exc}")
    return out


def _listen(cfg: DriftlineConfig) -> str | None:
    """A problem line when ``metrics.listen`` cannot be bound now, else None."""
    hp = cfg.metrics.host_port
    if hp is None or hp[1] == 0:
        return None
    host, port = hp
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return f"metrics.listen: cannot resolve host {host!r} ({exc.strerror}); use an address " \
               "of this machine, e.g. 127.0.0.1:9108 or 0.0.0.0:9108"
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the exporter does
        try:
            sock.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"metrics.listen: {cfg.metrics.listen} is already in use (another "
                        "worker or exporter?); choose a free port, or null to disable /metrics")
            return f"metrics.listen: cannot listen on {cfg.metrics.listen} ({exc.strerror})"
    return None


def _state_dir(cfg: DriftlineConfig) -> list[str]:
    out = []
    dirs = [("state_dir", Path(cfg.state_path))]
    if cfg.alerts.state_dir:
        dirs.append(("alerts.state_dir", Path(cfg.alerts.state_dir)))
    for name, path in dirs:
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            out.append(f"{name}: {existing} is not a directory; point {name} at a directory")
        elif not os.access(existing, os.W_OK | os.X_OK):
            out.append(f"{name}: cannot write to {existing} (needed for {path}); point {name} "
                       "at a writable directory")
    return out
