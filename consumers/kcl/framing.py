"""Faster parsing of the MultiLangDaemon's JSON lines inside the KCL child.

amazon_kclpy parses every line with ``json.loads(line, object_hook=...)``: a ``processRecords``
line carries up to 10,000 base64 records, and the pure-Python-object parse of it cost more than
processing the records (bench/bench_kcl_protocol.py). :func:`install` makes amazon_kclpy parse
with msgspec (C, same JSON semantics for these messages) and apply the same hook to every
object, innermost first, as ``json.loads`` does. Nothing else of the protocol changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import amazon_kclpy.kcl
import msgspec

_decode = msgspec.json.decode


def _apply(value: Any, hook: Callable[[dict[str, Any]], Any]) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                value[key] = _apply(item, hook)
        return hook(value)
    if isinstance(value, list):
        return [_apply(item, hook) if isinstance(item, dict | list) else item for item in value]
    return value


class _MsgspecJson:
    """The two ``json`` functions amazon_kclpy.kcl uses."""

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(text: str, object_hook: Callable[[dict[str, Any]], Any] | None = None) -> Any:
        document = _decode(text)
        return document if object_hook is None else _apply(document, object_hook)


def install() -> None:
    """Parse the daemon's lines with msgspec in this process (the KCL child)."""
    amazon_kclpy.kcl.json = _MsgspecJson  # type: ignore[assignment]
