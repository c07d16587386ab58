"""Logging for the command line: human lines by default, one JSON object per line on request.

>>> import io, json, logging
>>> buf = io.StringIO()
>>> setup_logging("info", json_lines=True, stream=buf)
>>> logging.getLogger("driftline.test").warning("window closed", extra={"window": "5m"})
>>> rec = json.loads(buf.getvalue())
>>> rec["level"], rec["logger"], rec["message"], rec["window"]
('warning', 'driftline.test', 'window closed', '5m')
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

import orjson

LEVELS = ("debug", "info", "warning", "error")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extra fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def setup_logging(level: str = "info", json_lines: bool = False,
                  stream: IO[str] | None = None) -> None:
    """Configure the root logger once for the process (replacing earlier handlers)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # Client libraries are chatty at INFO; their warnings still show.
    for noisy in ("aiokafka", "kafka", "httpx", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(root.level, logging.WARNING))
