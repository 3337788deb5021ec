"""Firehose S3 object keys: prefix expressions and object names, evaluated as AWS does.

The lake's partitions (``dt=.../hour=...``) are whatever Firehose makes of the ``Prefix``
expressions, so the emulator evaluates them rather than pasting them verbatim like moto:
``!{timestamp:<java DateTimeFormatter pattern>}`` in UTC at the arrival time of the object's
oldest record, ``!{firehose:error-output-type}`` and ``!{firehose:random-string}``. A prefix
without any expression gets AWS's default ``yyyy/MM/dd/HH/`` appended.
"""

from __future__ import annotations

import re
import secrets
import string
import uuid
from datetime import datetime

_EXPRESSION = re.compile(r"!\{([A-Za-z]+):([^}]*)\}")
_DEFAULT_TIME_PREFIX = "yyyy/MM/dd/HH/"
_RANDOM_ALPHABET = string.ascii_lowercase + string.digits
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _field(letter: str, count: int, at: datetime) -> str:
    """One DateTimeFormatter field: ``count`` repeats of pattern ``letter``."""
    if letter in "yu":
        return f"{at.year % 100:02d}" if count == 2 else f"{at.year:0{count}d}"
    if letter in "ML" and count >= 3:
        name = _MONTHS[at.month - 1]
        return name if count == 4 else name[:3]
    if letter == "E":
        name = _DAYS[at.weekday()]
        return name if count == 4 else name[:3]
    if letter == "a":
        return "AM" if at.hour < 12 else "PM"
    if letter == "S":
        return f"{at.microsecond:06d}{'0' * 3}"[:count]
    numbers = {
        "M": at.month,
        "L": at.month,
        "d": at.day,
        "D": at.timetuple().tm_yday,
        "H": at.hour,
        "h": (at.hour % 12) or 12,
        "m": at.minute,
        "s": at.second,
    }
    if letter not in numbers:
        raise ValueError(f"unsupported DateTimeFormatter letter {letter!r}")
    return f"{numbers[letter]:0{count}d}"


def _literal(pattern: str, i: int, out: list[str]) -> int:
    """Copy quoted literal text starting after its opening quote; ``''`` is a quote."""
    if pattern[i : i + 1] == "'":
        out.append("'")
        return i + 1
    while True:
        end = pattern.find("'", i)
        if end == -1:
            raise ValueError(f"unterminated quote in {pattern!r}")
        out.append(pattern[i:end])
        if pattern[end + 1 : end + 2] != "'":
            return end + 1
        out.append("'")
        i = end + 2


def format_java(pattern: str, at: datetime) -> str:
    """Format ``at`` with a Java ``DateTimeFormatter`` pattern (the letters Firehose users use)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            i = _literal(pattern, i + 1, out)
        elif char.isascii() and char.isalpha():
            run = i
            while run < len(pattern) and pattern[run] == char:
                run += 1
            out.append(_field(char, run - i, at))
            i = run
        else:
            out.append(char)
            i += 1
    return "".join(out)


def evaluate_prefix(template: str, at: datetime, error_output_type: str | None = None) -> str:
    """Evaluate a Prefix / ErrorOutputPrefix; ``at`` is the oldest record's arrival (UTC)."""
    if not _EXPRESSION.search(template):
        return template + format_java(_DEFAULT_TIME_PREFIX, at)

    def expand(match: re.Match[str]) -> str:
        namespace, value = match.group(1), match.group(2)
        if namespace == "timestamp":
            return format_java(value, at)
        if namespace == "firehose" and value == "error-output-type" and error_output_type:
            return error_output_type
        if namespace == "firehose" and value == "random-string":
            return "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(11))
        raise ValueError(f"prefix expression {match.group(0)} is not supported by the emulator")

    return _EXPRESSION.sub(expand, template)


def object_name(delivery_stream: str, version_id: str, at: datetime, extension: str) -> str:
    """``<stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><extension>``: AWS's object name."""
    return f"{delivery_stream}-{version_id}-{at:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{extension}"
