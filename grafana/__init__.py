"""Grafana dashboards, provisioning and push, and Prometheus rules about the monitor itself,
all generated from a monitor's ``driftline.yaml``.

>>> from stream.config import DriftlineConfig
>>> cfg = DriftlineConfig.model_validate(
...     {"monitor": "fraud", "features": [{"name": "amount", "type": "numeric"}]})
>>> sorted(build_dashboards(cfg))[0]
'driftline-fraud-feature.json'
>>> monitor_rules(cfg)["groups"][0]["name"]
'driftline-fraud'
"""

from grafana.checks import check_dashboard
from grafana.common import DATASOURCE_UID, dashboard_uid
from grafana.dashboards import build_dashboards, write_dashboards
from grafana.interpolate import interpolate
from grafana.provisioning import write_provisioning
from grafana.push import GrafanaPusher, PushError, push_dashboards
from grafana.rules import RuleSettings, monitor_rules
from grafana.rules_tests import rules_unit_tests

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
