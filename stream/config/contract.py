"""Names other tools rely on: the Grafana datasource uid and the dashboards' uids.

Alert links (``alerts``), generated dashboards and provisioning (``grafana``) and the command line
read them from here, so a link in a Slack message opens the dashboard ``driftline grafana``
wrote.

>>> dashboard_uid("payments.demo", "feature")
'driftline-payments-demo-feature'
>>> len(dashboard_uid("a-very-long-monitor-name-that-needs-hashing", "overview")) <= 40
True
"""

from __future__ import annotations

import hashlib
import re

DATASOURCE_UID = "driftline-prometheus"
"""The uid of the Prometheus datasource every generated dashboard reads."""

_UID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def dashboard_uid(monitor: str, kind: str) -> str:
    """A stable Grafana uid (≤ 40 chars, ``[A-Za-z0-9_-]``) for one dashboard of a monitor."""
    uid = f"driftline-{_UID_CHARS.sub('-', monitor)}-{kind}"
    if len(uid) <= 40:
        return uid
    digest = hashlib.sha256(monitor.encode()).hexdigest()[:8]
    head = 40 - len(kind) - len(digest) - 2
    return f"{uid[:head]}-{digest}-{kind}"
