"""Type stub of the KCL child's compiled framing (consumers/kcl/_framing.pyx)."""

from typing import Any

def parse(line: str | bytes, record_type: type) -> tuple[list[Any], int] | None: ...
