"""Code shape: no function of the repository is longer than 60 lines, outside the exemptions below.

A function's length runs from its ``def`` line to its last line (docstring included, decorators
not). Long functions hide their steps; split them into named helpers instead of exempting them.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 60
#: Folders with no source of ours: build output, environments (hidden folders are skipped too).
NOT_SOURCE = {"build", "dist", "node_modules", "__pycache__"}
#: ``path::function`` -> why it may be longer than MAX_LINES.
EXEMPT = {
    "pipeline/deploy/service.py::consumer_service": (
        "generated data: one literal dict of the consumer's CloudFormation resources, "
        "laid out as the template is; splitting it would scatter one resource graph"
    ),
    "pipeline/deploy/parameters.py::parameters": (
        "generated data: one literal dict of the template's Parameters, one entry per setting"
    ),
}


def _source_files() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*.py")):
        folders = path.relative_to(ROOT).parts[:-1]
        if not any(part.startswith(".") or part in NOT_SOURCE for part in folders):
            yield path


@functools.cache
def function_lengths() -> dict[str, int]:
    """``path::function`` -> lines, for every function and method (the longest of a name)."""
    lengths: dict[str, int] = {}
    for path in _source_files():
        relative = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), relative)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                key = f"{relative}::{node.name}"
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                lengths[key] = max(length, lengths.get(key, 0))
    return lengths


def test_no_function_is_longer_than_60_lines():
    too_long = {
        key: length
        for key, length in function_lengths().items()
        if length > MAX_LINES and key not in EXEMPT
    }
    assert not too_long, f"split these into named helpers (lines > {MAX_LINES}): {too_long}"


def test_every_exemption_is_still_needed_and_says_why():
    lengths = function_lengths()
    for key, reason in EXEMPT.items():
        assert lengths.get(key, 0) > MAX_LINES, f"{key} is no longer long: drop its exemption"
        assert reason.strip(), f"{key}: say why it is exempt"
