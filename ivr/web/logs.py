"""Structured logging: one JSON object per line, with the call id when there is one.

The server logs one line per webhook (adapter, event kind, step, outcome, status, time); a
caller's keys or answers are never passed to a logger, so they cannot appear here.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

# LogRecord attributes that are not extras passed with `extra=`.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__  # the class only: texts may hold data
        return json.dumps(line, default=str, separators=(",", ":"))


def setup_logging(level: str = "info", stream: Any = None) -> None:
    """Route every logger to one JSON handler on stderr (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def now_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
