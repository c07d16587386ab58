"""What a responder reads: one-line summaries, "what moved", Grafana links, and the Slack digest
(Block Kit within its limits, with a text fallback).

>>> from driftline.alerts.model import AlertEvent
>>> e = AlertEvent("fraud", "drift", "psi", "amount", "region", "eu", "5m", "critical", "firing",
...                "new", 0.31, 0.2, 1200, 1_700_000_000, 1_700_000_300, 1_700_000_000,
...                details={"contributions": [{"bin": "[100, 250)", "base": 0.1, "current": 0.25}]})
>>> print(summary(e))
[CRITICAL] fraud: drift psi=0.31 >= 0.2 on amount, region=eu (5m window, n=1200)
>>> what_moved(e)
'[100, 250): 10.0% → 25.0%'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from driftline.alerts.model import AlertEvent
from driftline.stream.config.contract import dashboard_uid

SECTION_LIMIT = 3000
HEADER_LIMIT = 150
FIELDS_LIMIT = 10
BLOCKS_LIMIT = 50
PD_SUMMARY_LIMIT = 1024

_LABEL_KEYS = ("bin", "category", "label", "range", "name", "value")
_BASE_KEYS = ("base", "baseline", "expected", "base_share")
_CUR_KEYS = ("current", "actual", "observed", "current_share")
_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:"}


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1000 or x == int(x):
        return f"{x:.0f}" if abs(x) >= 1000 else f"{x:g}"
    return f"{x:.3g}"


def iso(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):  # beyond the years 1 to 9999
        return f"@{ts:.0f}" if ts == ts and abs(ts) != float("inf") else f"@{ts}"


def where(e: AlertEvent) -> str:
    """Feature and cohort, and the reference when it is not the training baseline."""
    cohort = "all traffic" if e.segment == "all" else f"{e.segment}={e.cohort}"
    if e.check == "volume" or not e.feature:
        return cohort
    if e.reference != "training":
        return f"{e.feature}, {cohort} vs {e.reference}"
    return f"{e.feature}, {cohort}"


def human_seconds(seconds: float) -> str:
    """``90`` -> ``1m30s``, ``25200`` -> ``7h``, ``93600`` -> ``1d2h``.

    >>> human_seconds(90), human_seconds(25200), human_seconds(93600), human_seconds(4.2)
    ('1m30s', '7h', '1d2h', '4s')
    """
    rest = int(round(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size or (unit == "s" and not parts):
            parts.append(f"{rest // size}{unit}")
            rest %= size
    return "".join(parts[:2])


def summary(e: AlertEvent) -> str:
    """One line: severity, monitor, check, metric value vs threshold, feature/cohort, window, n."""
    head = f"[{e.severity.upper()}] {e.monitor}:"
    if e.state == "resolved":
        head = f"RESOLVED {head}"
    if e.check == "freshness":
        sla = "-" if e.threshold is None else human_seconds(e.threshold)
        scope = "" if e.segment == "all" else f" ({e.segment}={e.cohort})"
        return f"{head} {e.feature}{scope} stale for {human_seconds(e.value)} (SLA {sla})"
    window = f"{e.window} window, " if e.window else ""
    if e.check == "volume":
        expected = float(e.details.get("expected", 0.0) or 0.0)
        ratio = f" ({e.value / expected:.0%})" if expected > 0 else ""
        return (
            f"{head} volume {_fmt(e.value)} events vs {_fmt(expected)} expected{ratio} "
            f"in {where(e)} ({window.rstrip(', ')})"
        )
    if e.check == "performance":
        cur, ref = e.details.get("current"), e.details.get("reference")
        levels = f" ({_fmt(cur)} vs baseline {_fmt(ref)})" if cur is not None else ""
        return (f"{head} {e.feature} {e.metric} dropped by {_fmt(e.value)}{levels} "
                f"on {'all traffic' if e.segment == 'all' else f'{e.segment}={e.cohort}'} "
                f"({window}n={e.n})")
    compare = "now" if e.state == "resolved" else ">="
    value = f"{e.metric}={_fmt(e.value)}"
    threshold = _fmt(e.threshold)
    relation = f"{value}, threshold {threshold}" if compare == "now" else f"{value} >= {threshold}"
    return f"{head} {e.check} {relation} on {where(e)} ({window}n={e.n})"


def _first(item: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for k in keys:
        if k in item:
            return item[k]
    return None


def what_moved(e: AlertEvent, top: int = 3) -> str:
    """The bins or categories contributing most, as ``label: base% → current%``."""
    items = e.details.get("contributions") or []
    parts = []
    for item in list(items)[:top]:
        if isinstance(item, Mapping):
            label = _first(item, _LABEL_KEYS)
            base, cur = _first(item, _BASE_KEYS), _first(item, _CUR_KEYS)
        elif isinstance(item, list | tuple) and len(item) >= 3:
            label, base, cur = item[0], item[1], item[2]  # sketches: (label, base, cur, contrib)
        else:
            continue
        if base is None or cur is None:
            parts.append(f"{label}")
        else:
            parts.append(f"{label}: {100 * float(base):.1f}% → {100 * float(cur):.1f}%")
    return "; ".join(parts)


def grafana_link(e: AlertEvent, grafana_url: str | None, dashboard: str | None) -> str | None:
    """Dashboard URL with the monitor/feature/segment/cohort/window variables and a time range
    around the alert: the feature drill-down for drift and quality, else the overview."""
    if not grafana_url:
        return None
    kind = {"drift": "feature", "quality": "feature",
            "performance": "model-quality"}.get(e.check, "overview")
    uid = dashboard or dashboard_uid(e.monitor, kind)
    span = max(e.window_end - e.window_start, 300.0)
    params = {
        "var-monitor": e.monitor,
        "var-feature": e.feature if e.check in ("drift", "quality") else "$__all",
        "var-segment": e.segment,
        "var-cohort": e.cohort,
        "var-window": e.window.removesuffix("+labels") or "$__all",
        "var-reference": e.reference,
        "from": int((min(e.since, e.window_start) - 6 * span) * 1000),
        "to": int((e.window_end + 2 * span) * 1000),
    }
    return f"{grafana_url.rstrip('/')}/d/{uid}?{urlencode(params)}"


def report_link(e: AlertEvent, report_url: str | None) -> str | None:
    """``alerts.report_url`` with the alert's placeholders filled in (URL-encoded).

    >>> from driftline.alerts.model import AlertEvent
    >>> e = AlertEvent(monitor="fraud", check="drift", metric="psi", feature="amount",
    ...     segment="region", cohort="eu", window="5m", severity="critical", state="firing",
    ...     transition="new", window_start=0.0, window_end=300.0, since=0.0, value=0.3,
    ...     threshold=0.2, n=900)
    >>> report_link(e, "https://reports.example.com/{monitor}/{date}.html#{feature}")
    'https://reports.example.com/fraud/1970-01-01.html#amount'
    """
    if not report_url:
        return None
    values = {"monitor": e.monitor, "check": e.check, "feature": e.feature or "",
              "segment": e.segment, "cohort": e.cohort, "window": e.window or "",
              "date": iso(e.window_end)[:10]}
    return re.sub(r"{(\w+)}", lambda m: quote(values.get(m.group(1), m.group(0)), safe=""),
                  report_url)


def facts(e: AlertEvent, link: str | None, report: str | None = None) -> dict[str, Any]:
    """The facts a responder needs, as a flat JSON object (PagerDuty custom_details, webhooks)."""
    out: dict[str, Any] = {
        "monitor": e.monitor, "check": e.check, "metric": e.metric, "feature": e.feature,
        "segment": e.segment, "cohort": e.cohort, "window": e.window, "severity": e.severity,
        "state": e.state, "value": e.value, "threshold": e.threshold, "n": e.n,
        "p_value": e.p_value, "since": iso(e.since), "window_end": iso(e.window_end),
        "what_moved": what_moved(e) or None, "reference": e.reference,
    }
    for k in ("breaches", "quantiles", "on_stale", "expected", "baseline_version"):
        if k in e.details:
            out[k] = e.details[k]
    if link:
        out["grafana"] = link
    if report:
        out["report"] = report
    json.dumps(out, default=str)
    return out


def escape(text: str) -> str:
    """Slack mrkdwn control characters (``&``, ``<``, ``>``) as entities.

    >>> escape("psi=0.3 >= 0.2 on a<b")
    'psi=0.3 &gt;= 0.2 on a&lt;b'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_digest(
    monitor: str,
    events: Sequence[AlertEvent],
    links: Sequence[str | None],
    max_alerts: int = 20,
    note: str = "",
    reports: Sequence[str | None] | None = None,
) -> dict[str, Any]:
    """One Slack message for all alert changes of one window: header, one section per alert
    (capped, the rest counted), a context line (``note``, then ``baseline <version>`` of the
    baseline the alerts were evaluated against, when known); ``text`` is the plain fallback."""
    firing = sum(e.state == "firing" for e in events)
    resolved = sum(e.state == "resolved" for e in events)
    window_end = max(e.window_end for e in events)
    title = f"driftline {monitor}: {firing} firing, {resolved} resolved ({iso(window_end)})"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, HEADER_LIMIT)}}
    ]
    lines = [title]
    ordered = sorted(
        zip(events, links, reports or [None] * len(events), strict=True),
        key=lambda p: (p[0].state != "firing", p[0].severity != "critical", p[0].feature),
    )
    for e, link, report in ordered[:max_alerts]:
        head = escape(summary(e))
        body = [f"{_EMOJI.get(e.severity, '')} *{head}*"]
        if e.transition in ("escalated", "deescalated", "repeat"):
            body.append(f"_{e.transition}_")
        body.append(f"since {iso(e.since)}")
        moved = escape(what_moved(e))
        if moved:
            body.append(f"what moved: {moved}")
        opens = [f"<{u.replace('|', '%7C')}|{label}>" for u, label in
                 ((link, "Open in Grafana"), (report, "Open the report")) if u]
        if opens:
            body.append(" · ".join(opens))
        text = _clip("\n".join(body), SECTION_LIMIT)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
        lines.append(head + (f" | what moved: {moved}" if moved else ""))
    if len(ordered) > max_alerts:
        more = f"... and {len(ordered) - max_alerts} more alert changes in this window"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": more}})
        lines.append(more)
    versions = sorted({str(e.details["baseline_version"]) for e in events
                       if e.details.get("baseline_version")})
    baseline = f"baseline {', '.join(versions)}" if versions else ""
    context = [{"type": "mrkdwn", "text": _clip(t, 300)} for t in (note, baseline) if t]
    if context:
        blocks.append({"type": "context", "elements": context})
        lines += [t for t in (note, baseline) if t]
    return {"text": _clip("\n".join(lines), 3900), "blocks": blocks[:BLOCKS_LIMIT]}


def pagerduty_event(
    e: AlertEvent, action: str, link: str | None, source: str | None, report: str | None = None
) -> dict[str, Any]:
    """A PagerDuty Events v2 body without ``routing_key`` (added at send time)."""
    body: dict[str, Any] = {"event_action": action, "dedup_key": e.key.dedup_key}
    if action == "trigger":
        body["payload"] = {
            "summary": _clip(summary(e), PD_SUMMARY_LIMIT),
            "source": source or f"driftline/{e.monitor}",
            "severity": e.severity,
            "timestamp": iso(e.window_end),
            "component": e.feature or e.check,
            "group": f"{e.segment}={e.cohort}",
            "class": f"{e.check}/{e.metric}",
            "custom_details": facts(e, link, report),
        }
        links = [{"href": u, "text": t} for u, t in
                 ((link, "Open in Grafana"), (report, "Open the driftline report")) if u]
        if links:
            body["links"] = links
        body["client"] = "driftline"
    return body


ALERTNAMES = {
    "drift": "DriftlineDrift",
    "quality": "DriftlineDataQuality",
    "volume": "DriftlineVolume",
    "freshness": "DriftlineFreshness",
    "performance": "DriftlineModelPerformance",
}


def alertmanager_alerts(e: AlertEvent, link: str | None) -> list[dict[str, Any]]:
    """Alertmanager alerts for one key: one per tier at or below the current severity (a critical
    alert also keeps its warning tier firing, which Alertmanager inhibits), like two Prometheus
    rules would. ``endsAt`` is set when sending."""
    tiers = ["warning", "critical"] if e.severity == "critical" else ["warning"]
    out = []
    for tier in tiers:
        labels = {
            "alertname": ALERTNAMES.get(e.check, "DriftlineAlert"), "monitor": e.monitor,
            "check": e.check, "feature": e.feature or "-", "segment": e.segment,
            "cohort": e.cohort, "window": e.window or "-", "severity": tier,
            "reference": e.reference,
        }
        annotations = {
            "summary": summary(e), "value": _fmt(e.value), "threshold": _fmt(e.threshold),
            "n": str(e.n), "since": iso(e.since), "metric": e.metric,
        }
        moved = what_moved(e)
        if moved:
            annotations["what_moved"] = moved
        if link:
            annotations["grafana"] = link
        if e.details.get("baseline_version"):
            annotations["baseline_version"] = str(e.details["baseline_version"])
        alert = {"labels": labels, "annotations": annotations, "startsAt": iso(e.since)}
        if link:
            alert["generatorURL"] = link
        out.append(alert)
    return out
