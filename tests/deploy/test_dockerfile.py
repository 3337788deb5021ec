"""The consumer image, checked without a Docker engine: its entry point is
``pipeline consume --engine kcl`` and parses with the real CLI, what it copies exists, and the
KCL properties it writes on ECS (image variables + the task definition's) name the stack's
resources."""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
from pathlib import Path

import click
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.deploy import render_template
from tests.deploy.cfn import Resolver, load

ROOT = Path(__file__).resolve().parents[2]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, continuations joined."""
    logical = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    out = []
    for line in logical.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


DOCKERFILE = instructions((ROOT / "Dockerfile").read_text())


def _args() -> dict[str, str]:
    return dict(a.split("=", 1) for kind, a in DOCKERFILE if kind == "ARG")


def _expand(text: str) -> str:
    args = _args()
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], text)


def _env() -> dict[str, str]:
    env = {}
    for kind, rest in DOCKERFILE:
        if kind == "ENV":
            for pair in rest.split():
                key, _, value = pair.partition("=")
                env[key] = _expand(value)
    return env


def test_entry_point_is_the_kcl_consumer():
    (entrypoint,) = [json.loads(rest) for kind, rest in DOCKERFILE if kind == "ENTRYPOINT"]
    assert entrypoint == ["pipeline", "consume", "--engine", "kcl"]
    assert [kind for kind, _ in DOCKERFILE if kind == "CMD"] == []
    assert DOCKERFILE[0][0] == "FROM" and DOCKERFILE[0][1].startswith("python:3.11")


def test_entry_point_command_line_is_accepted_by_the_cli():
    (entrypoint,) = [json.loads(rest) for kind, rest in DOCKERFILE if kind == "ENTRYPOINT"]
    program, name, *args = entrypoint
    assert program == "pipeline"  # the console script of setup.cfg
    parent = click.Context(main, info_name=program)
    command = main.get_command(parent, name)
    ctx = command.make_context(name, args, parent=parent)
    assert ctx.params["engine"] == "kcl"
    with pytest.raises(click.BadParameter):
        command.make_context(name, ["--engine", "nonsense"], parent=parent)


def test_image_has_java_python_and_the_project():
    runs = " ".join(rest for kind, rest in DOCKERFILE if kind == "RUN")
    assert "openjdk-17-jre-headless" in runs
    extras = configparser.ConfigParser()
    extras.read(ROOT / "setup.cfg")
    declared = set(extras["options.extras_require"])
    assert _args()["KCL_EXTRA"] in declared, "the image installs an extra setup.cfg lacks"
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for kind, rest in DOCKERFILE:
        if kind == "COPY":
            *sources, _ = _expand(rest).split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
    assert [rest for kind, rest in DOCKERFILE if kind == "USER"] == ["10001"]


def _container_environment() -> dict[str, str]:
    """What the consumer process sees on ECS: the image's ENV, then the task definition's."""
    stack = Resolver(load(render_template(load_config(env={}))))
    (task,) = stack.resources("AWS::ECS::TaskDefinition").values()
    env = _env()
    env["PIPELINE_CONFIG"] = str(ROOT / _args()["CONFIG"])  # the file the image copies there
    env.update({v["Name"]: v["Value"] for v in task["ContainerDefinitions"][0]["Environment"]})
    return env


def test_kcl_properties_written_in_the_container_name_the_stacks_resources():
    properties = pytest.importorskip("consumers.kcl.properties")
    jars = pytest.importorskip("consumers.kcl.jars")
    config = load_config(env=_container_environment())
    assert config.kcl.jar_manifest in jars.shipped_manifests()
    written = properties.daemon_properties(
        config, properties.child_command("/usr/local/bin/python")
    )
    parameters = load(render_template(load_config(env={})))["Parameters"]
    assert written["streamName"] == parameters["StreamName"]["Default"]
    assert written["applicationName"] == parameters["ConsumerApplication"]["Default"]
    assert written["regionName"] == "us-east-1"
    assert "kinesisEndpoint" not in written and "dynamoDBEndpoint" not in written
    assert written["executableName"] == "/usr/local/bin/python -m consumers.kcl.child"
    assert int(written["shutdownGraceMillis"]) > 0
    text = properties.render_properties(written)
    assert "streamName = kpipe-events" in text.splitlines()
