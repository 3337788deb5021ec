"""Type stub of the KCL child's compiled framing (consumers/kcl/_framing.pyx)."""

from typing import Any

def parse(
    line: str | bytes | bytearray | memoryview, batch_type: type
) -> tuple[Any, int] | None: ...
def simd(enabled: bool | None = None) -> bool: ...
