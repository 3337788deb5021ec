"""Packaging and architecture contracts: shipped SQL, CLI help, a core free of AWS, every AWS SDK
import behind pipeline.aws."""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

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


#: What a module of the pure core must not import: AWS SDKs, the emulator, network, files, clocks
#: (``datetime`` is allowed for its types and arithmetic; reading its clock is caught below).
FORBIDDEN_IN_CORE = {
    "boto3",
    "botocore",
    "moto",
    "aiobotocore",
    "s3fs",
    "awswrangler",
    "socket",
    "ssl",
    "http",
    "urllib",
    "requests",
    "os",
    "io",
    "pathlib",
    "shutil",
    "tempfile",
    "subprocess",
    "time",
    "threading",
    "asyncio",
    "importlib",
    "pipeline.aws",
    "pipeline.emulator",
    "pipeline.config",
    "consumers",
    "producers",
}


def _core_modules() -> list[str]:
    import pipeline.core

    return ["pipeline.core"] + [
        info.name for info in pkgutil.walk_packages(pipeline.core.__path__, "pipeline.core.")
    ]


def _imports(module: str) -> set[str]:
    source = importlib.util.find_spec(module).origin
    tree = ast.parse(Path(source).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "open":
            found.add("open()")
        elif isinstance(node, ast.Attribute) and node.attr in ("now", "utcnow", "today"):
            found.add(f"{node.attr}()")
    return found


def test_the_core_package_is_walked_whole():
    modules = _core_modules()
    assert {"pipeline.core.shard", "pipeline.core.dedupe", "pipeline.core.windows.operator"} <= set(
        modules
    )


@pytest.mark.parametrize("module", _core_modules())
def test_no_core_module_does_io_or_talks_to_aws(module):
    bad = {
        name
        for name in _imports(module)
        if name == "open()" or any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_CORE)
    }
    assert not bad, f"{module} imports {sorted(bad)}: the core is pure (no AWS, no I/O, no clock)"


def test_importing_the_core_loads_no_aws_sdk():
    code = "import sys\n" + "".join(f"import {m}\n" for m in _core_modules())
    code += "import consumers.processor\n"
    code += (
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'moto')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


#: The AWS SDKs: only the adapters (pipeline.aws) and the emulator may import them
AWS_SDKS = ("boto3", "botocore", "awswrangler")
AWS_ALLOWED = ("pipeline.aws", "pipeline.emulator")


def _library_modules() -> list[str]:
    import consumers
    import pipeline
    import producers

    return [
        info.name
        for package in (pipeline, producers, consumers)
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
    ]


def _sdk_imports(module: str) -> set[str]:
    """Every AWS SDK module ``module`` imports, at module level or inside a function."""
    return {
        name
        for name in _imports(module)
        if any(name == sdk or name.startswith(sdk + ".") for sdk in AWS_SDKS)
    }


def test_the_library_is_walked_whole():
    modules = set(_library_modules())
    assert {
        "pipeline.aws.kinesis",
        "pipeline.lake.layout",
        "producers.writer",
        "consumers.kcl.doctor",
    } <= modules
    assert {m for m in modules if _sdk_imports(m)} >= {"pipeline.aws.clients"}  # it does see


@pytest.mark.parametrize(
    "module",
    [
        m
        for m in _library_modules()
        if not any(m == a or m.startswith(a + ".") for a in AWS_ALLOWED)
    ],
)
def test_only_the_aws_adapters_and_the_emulator_import_an_aws_sdk(module):
    bad = _sdk_imports(module)
    assert not bad, f"{module} imports {sorted(bad)}: AWS calls and errors belong in pipeline.aws"


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
    for package in ("pipeline", "producers", "consumers"):  # their type hints are published
        assert (target / package / "py.typed").is_file()
