"""Structured logging for the command-line tools: one JSON object per line on stderr.

The library only logs through ``logging.getLogger(__name__)`` with ``extra={...}`` fields; the
CLIs call :func:`configure`. Nothing is ever logged to stdout: the KCL child's stdout is its
protocol channel. Values of keys that look like secrets are masked.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import msgspec

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_SECRET_WORDS = ("secret", "password", "token", "credential", "authorization")
_encode = msgspec.json.Encoder().encode


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if any(word in key.lower() for word in _SECRET_WORDS):
                line[key] = "***"
            elif isinstance(value, int | float | str | bool | None):
                line[key] = value
            else:
                line[key] = str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encode(line).decode("utf-8")


def configure(level: str = "INFO") -> None:
    """Send the library's logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("botocore", "boto3", "urllib3", "hypercorn", "werkzeug", "moto", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
