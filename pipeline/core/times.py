"""The one grammar of durations and instants: configuration, job declarations and every option.

Durations are a number and a unit (``ms``, ``s``, ``m``, ``h``, ``d``), or several of them
(``1h30m``): ``500ms``, ``30s``, ``1m``, ``1.5h``, ``30d``. Instants are ``now``, an ISO-8601
date or time (``2026-01-01``, ``2026-01-01T10:00:00Z``, ``...+02:00``; no zone: UTC), epoch
milliseconds (``1767225600000``) or a duration before now (``2h``: two hours ago).

The current time is a parameter (``now_ms``): the core reads no clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pipeline.core.errors import ConfigError

UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_WHOLE = re.compile(rf"^(?:{_PART.pattern})+\s*$")
DURATION_EXAMPLES = "500ms, 30s, 1m, 1h, 1d"
INSTANT_EXAMPLES = "2026-01-01, 2026-01-01T10:00:00Z, epoch ms, 2h (ago) or now"


def parse_duration(text: str, where: str) -> int:
    """``"1m"`` -> 60000; ``where`` (a key or an option) starts the error's message."""
    text = str(text)
    if not _WHOLE.match(text):
        raise ConfigError(f"{where}: {text!r} is not a duration such as {DURATION_EXAMPLES}")
    return round(sum(float(n) * UNIT_MS[unit] for n, unit in _PART.findall(text)))


def format_duration(ms: int) -> str:
    """60000 -> "1m": the largest unit that divides the duration."""
    for unit in ("d", "h", "m", "s"):
        if ms % UNIT_MS[unit] == 0 and ms >= UNIT_MS[unit]:
            return f"{ms // UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


def parse_instant(text: str, now_ms: int, where: str) -> int:
    """An instant as epoch milliseconds (see the module's grammar); ``now_ms`` is now."""
    text = str(text).strip()
    if text.lower() == "now":
        return now_ms
    if text.isdigit():
        return int(text)
    if _WHOLE.match(text):
        return now_ms - parse_duration(text, where)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{where}: {text!r} is not an instant such as {INSTANT_EXAMPLES}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)
