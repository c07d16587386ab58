"""The HTML report: one self-contained page of a backtest, or of a time range of a running
monitor's results topic, built from the aggregated numbers only.

Layer: above ``stream.sources`` and ``stream.kafka`` (it reads their outputs), below
``stream.cli``. ``build`` turns a report into the page's data, ``columns`` reduces and encodes
it, ``html`` writes the page, ``topic`` reads a results topic back into a report.
"""

from driftline.stream.report.build import build_payload
from driftline.stream.report.html import render_html, write_report

__all__ = ["build_payload", "render_html", "write_report"]
