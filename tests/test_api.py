"""The Python API: ``pipeline``'s exported names, loaded lazily and typed; the example that
embeds the core in a user's own process."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "embed_core.py"


def _type_checking_imports() -> dict[str, tuple[str, str]]:
    """Name -> (module, name there) of the ``if TYPE_CHECKING:`` imports (the type checkers'
    view)."""
    tree = ast.parse(Path(pipeline.__file__).read_text(encoding="utf-8"))
    (block,) = [
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    ]
    found = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom)
        for alias in node.names:
            found[alias.asname or alias.name] = (node.module, alias.name)
    return found


def _runtime() -> dict[str, tuple[str, str]]:
    """Name -> (module, name there) as ``pipeline.__getattr__`` finds them."""
    return {
        name: (module, pipeline._RENAMED.get(name, name))
        for name, module in pipeline._MODULE_OF.items()
    }


def test_all_the_runtime_and_the_type_checkers_name_the_same_objects():
    assert _type_checking_imports() == _runtime()
    assert sorted(pipeline.__all__) == sorted(["__version__", *_runtime()])
    assert len(set(pipeline.__all__)) == len(pipeline.__all__)


@pytest.mark.parametrize("name", sorted(pipeline._MODULE_OF))
def test_every_exported_name_is_the_object_its_module_defines(name):
    module, there = _runtime()[name]
    assert getattr(pipeline, name) is getattr(importlib.import_module(module), there)
    assert name in dir(pipeline)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'ShardCores'"):
        _ = pipeline.ShardCores


def _loaded_after(code: str) -> list[str]:
    heavy = ("boto3", "botocore", "duckdb", "plotly", "pyarrow", "sqlglot")
    probe = (
        f"import json, sys\n{code}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(heavy)!r})))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_import_pipeline_loads_no_heavy_library_and_the_core_no_aws_sdk():
    assert _loaded_after("import pipeline") == []
    assert _loaded_after("import pipeline; pipeline.ShardCore; pipeline.MemorySink") == ["pyarrow"]


def test_the_packages_publish_their_type_hints():
    for package in ("pipeline", "producers", "consumers"):
        assert (ROOT / package / "py.typed").is_file()


READINGS = b"""\
{"event_id":"e1","device_id":"dev-1","device_type":"meter","site":"site-01","ts":"2026-01-01T00:00:10Z","temperature":20.5,"battery":0.9}
{"event_id":"e2","device_id":"dev-2","device_type":"meter","site":"site-01","ts":"2026-01-01T00:01:00Z","temperature":31.0,"battery":0.5}
{"event_id":"e2","device_id":"dev-2","device_type":"meter","site":"site-01","ts":"2026-01-01T00:01:00Z","temperature":31.0,"battery":0.5}
{"event_id":"e3","device_id":"dev-1","device_type":"meter","site":"site-01","ts":"2026-01-01T00:04:59.999Z","temperature":25.0,"battery":0.8}
not json

{"event_id":"e4","device_id":"dev-3","device_type":"tracker","site":"site-02","ts":"2026-01-01T00:02:00Z","temperature":35.0,"battery":0.05}
{"event_id":"e5","device_id":"dev-1","device_type":"meter","site":"site-01","ts":"2026-01-01T00:07:00Z","temperature":19.0,"battery":0.7}
{"event_id":"e6","device_id":"dev-2","device_type":"meter","site":"site-01","ts":"2026-01-01T00:03:00Z","temperature":40.0,"battery":0.1}
"""
START = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _window(start: int, site: str, device_type: str, **metrics: object) -> dict[str, object]:
    head = {"job": "site_5m", "window_start_ms": start, "window_end_ms": start + 300_000}
    return {**head, "site": site, "device_type": device_type, **metrics}


@pytest.mark.parametrize("batch", ["1", "2", "500"])
def test_the_embedding_example_prints_the_declared_jobs_windows(tmp_path, batch):
    """examples/telemetry.toml's site_5m job (5 minutes, 1 minute lateness) over a file: a
    duplicate dropped, a broken line rejected, e6 late (e5 moved the watermark past 00:05 + 1m),
    the last window closed at the end of the input; the same whatever the batch size."""
    readings = tmp_path / "readings.ndjson"
    readings.write_bytes(READINGS)
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), "--batch", batch, str(readings)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [json.loads(line) for line in run.stdout.splitlines()] == [
        _window(START, "site-01", "meter", readings=3, devices=2, battery_min=0.5,
                temperature_max=31.0, hot_readings=1),
        _window(START, "site-02", "tracker", readings=1, devices=1, battery_min=0.05,
                temperature_max=35.0, hot_readings=1),
        _window(START + 300_000, "site-01", "meter", readings=1, devices=1, battery_min=0.7,
                temperature_max=19.0, hot_readings=0),
    ]  # fmt: skip
    assert run.stderr.splitlines() == [
        "line 5: invalid JSON: JSON is malformed: invalid character (byte 4)",
        "8 records: 6 events, 1 duplicates, 1 late, 1 dead letters; 3 windows",
    ]


def test_the_embedding_example_reads_standard_input():
    run = subprocess.run(
        [sys.executable, str(EXAMPLE), "-"], input=READINGS, capture_output=True, check=True
    )
    assert len(run.stdout.splitlines()) == 3
    assert run.stderr.splitlines()[-1].endswith(b"; 3 windows")
