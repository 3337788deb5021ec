"""Packaging and architecture contracts: shipped SQL, CLI help, a core free of AWS."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

import click
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.lake.ddl import ddl_files
from pipeline.lake.tables import lake_tables


def test_shipped_ddl_is_what_the_default_configuration_generates():
    config = load_config(env={})
    generated = ddl_files(lake_tables(config), config.names.bucket)
    shipped = {
        f.name: f.read_text(encoding="utf-8")
        for f in resources.files("sql").joinpath("ddl").iterdir()
        if f.name.endswith(".sql")
    }
    assert shipped == generated, "regenerate with: pipeline ddl --out sql/ddl"


def test_the_core_never_imports_aws_sdks():
    core = [
        "pipeline.core",
        "pipeline.config",
        "pipeline.records",
        "pipeline.events",
        "pipeline.dedupe",
        "pipeline.windows",
        "pipeline.results",
        "pipeline.sinks",
        "consumers.processor",
    ]
    code = "import sys\n" + "".join(f"import {m}\n" for m in core)
    code += "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


@pytest.mark.parametrize(("name", "command"), list(_commands(main)))
def test_every_command_has_documented_help_with_an_example(name, command):
    assert command.help and "Example:" in command.help, name
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"{name} {param.opts[0]} has no help"


@pytest.mark.slow
def test_sql_files_are_usable_after_a_plain_install(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            ".",
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import pipeline, sql;"
        "from pipeline.reports.catalog import reports;"
        "assert pipeline.__file__.startswith(sys.argv[1]), pipeline.__file__;"
        "assert sql.__file__.startswith(sys.argv[1]), sql.__file__;"
        "print(sorted(reports()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "device_summary" in out.stdout
    assert (target / "sql" / "ddl" / "events_iot.sql").is_file()
    assert (target / "pipeline" / "dashboard" / "charts.js").is_file()  # the dashboard's drawing
