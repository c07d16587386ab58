"""Grafana dashboards, provisioning and push, and Prometheus rules about the monitor itself,
all generated from a monitor's ``driftline.yaml``.

>>> from driftline.stream.config.model import DriftlineConfig
>>> cfg = DriftlineConfig.model_validate(
...     {"monitor": "fraud", "features": [{"name": "amount", "type": "numeric"}]})
>>> sorted(build_dashboards(cfg))[0]
'driftline-fraud-feature.json'
>>> monitor_rules(cfg)["groups"][0]["name"]
'driftline-fraud'
"""

from typing import TYPE_CHECKING

from driftline.grafana.checks import check_dashboard
from driftline.grafana.dashboards import build_dashboards, write_dashboards
from driftline.grafana.interpolate import interpolate
from driftline.grafana.provisioning import write_provisioning
from driftline.grafana.rules import RuleSettings, monitor_rules
from driftline.grafana.rules_tests import rules_unit_tests
from driftline.stream.config.contract import DATASOURCE_UID, dashboard_uid

if TYPE_CHECKING:
    from driftline.grafana.push import GrafanaPusher, PushError, push_dashboards

_LAZY = {"GrafanaPusher", "PushError", "push_dashboards"}  # grafana-client loads only to push


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from driftline.grafana import push

        return getattr(push, name)
    raise AttributeError(f"module 'grafana' has no attribute {name!r}")


__all__ = [
    "DATASOURCE_UID",
    "GrafanaPusher",
    "PushError",
    "RuleSettings",
    "build_dashboards",
    "check_dashboard",
    "dashboard_uid",
    "interpolate",
    "monitor_rules",
    "push_dashboards",
    "rules_unit_tests",
    "write_dashboards",
    "write_provisioning",
]
