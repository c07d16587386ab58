"""Console channel: one line per notification on stdout/stderr (demos, debugging).

>>> from driftline.alerts.store import OutboxRow
>>> ConsoleNotifier("stdout").send(OutboxRow("console", "line", "k", {"text": "hello"})).outcome
hello
'sent'
"""

from __future__ import annotations

import sys
from typing import Literal

from driftline.alerts.notifiers.base import Result
from driftline.alerts.store import OutboxRow


class ConsoleNotifier:
    def __init__(self, stream: Literal["stdout", "stderr"] = "stderr") -> None:
        self.stream = stream

    def send(self, row: OutboxRow) -> Result:
        out = sys.stdout if self.stream == "stdout" else sys.stderr
        print(row.payload.get("text", ""), file=out, flush=True)
        return Result("sent")

    def close(self) -> None:
        return None
