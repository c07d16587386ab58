"""The self-contained page: one HTML file with the renderer (``assets/report.js``), its style
and the data inline. It loads nothing: a Content-Security-Policy forbids any network request, so
it opens the same from a laptop, an attachment or an air-gapped incident review.

>>> page = render_html({"monitor": "m</script>", "blob": ""})
>>> page.count("</script>"), "m<\\\\/script>" in page
(2, True)
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from driftline.sketches.allocation import paused_gc
from driftline.stream.report.build import build_payload


def load_report(data: bytes) -> dict[str, Any]:
    """A report JSON, parsed with the collector paused."""
    with paused_gc():
        return dict(orjson.loads(data))


def _asset(name: str) -> str:
    return resources.files("driftline.stream.report").joinpath("assets", name).read_text()


def render_html(payload: dict[str, Any]) -> str:
    """The page for ``payload`` (see :func:`~stream.report.build.build_payload`)."""
    data = orjson.dumps(payload).decode()
    # inside <script>: no "</" may close the element, no "<!--" may open a comment
    data = data.replace("</", "<\\/").replace("<!--", "<\\!--")
    title = html.escape(str(payload.get("monitor", "")))
    page = _asset("report.html")
    for key, value in (("__CSS__", _asset("report.css")), ("__TITLE__", title),
                       ("__JS__", _asset("report.js")), ("__DATA__", data)):
        page = page.replace(key, value)  # the data last: it is not searched for placeholders
    return page


def write_report(report: dict[str, Any], out: Path | str, *, max_columns: int = 1000,
                 source: str = "backtest") -> Path:
    """Build the page of a backtest-shaped ``report`` and write it to ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with paused_gc():
        payload = build_payload(report, max_columns=max_columns, source=source)
    out.write_text(render_html(payload), encoding="utf-8")
    return out
