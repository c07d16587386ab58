"""Test session wiring: every module in tests/fixtures/ is a pytest plugin (Kafka, Prometheus,
Alertmanager, local Slack/PagerDuty receivers...), so fixtures live one concept per file."""

from __future__ import annotations

import pkgutil
from pathlib import Path

HELPERS = {"waiting"}  # plain helper modules, imported by tests; not plugins

pytest_plugins = [
    f"tests.fixtures.{m.name}"
    for m in pkgutil.iter_modules([str(Path(__file__).parent / "fixtures")])
    if not m.name.startswith("_") and m.name not in HELPERS
]
