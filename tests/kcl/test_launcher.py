"""The launcher around the daemon, with a fake daemon: files, environment, stop, exit codes."""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from consumers.kcl import daemon as daemon_module
from consumers.kcl.daemon import ExitCode, KclDaemon
from consumers.kcl.jars import JarSetError
from consumers.kcl.properties import MAIN_CLASS
from pipeline.aws.clients import AwsClients
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.core.errors import ConfigError
from tests.kcl.harness import wait_until

FAKE = str(Path(__file__).with_name("fake_daemon.py"))


def config(**kcl):
    base = load_config(env={}).with_endpoint("http://127.0.0.1:9")
    kcl = {"java": sys.executable, "java_options": (FAKE,), "shutdown_grace_ms": 500, **kcl}
    return dataclasses.replace(base, kcl=dataclasses.replace(base.kcl, **kcl))


def launch(monkeypatch, tmp_path, mode: str, stop_when_ready: bool = False, **kcl):
    """Run the launcher around the fake daemon; with ``stop_when_ready``, request a stop as soon
    as the fake daemon has set up its signal handling (it writes its record then)."""
    monkeypatch.setenv("FAKE_DAEMON", mode)
    monkeypatch.setenv("PIPELINE_STREAM_SHARDS", "9")  # the caller's: must not reach the children
    cfg = config(**kcl)
    daemon = KclDaemon(cfg, AwsClients(cfg.aws), work_dir=tmp_path / "work", worker_id="w-1")
    seen = tmp_path / "work" / "fake-daemon.json"
    seen.unlink(missing_ok=True)
    stop = threading.Event()

    def stop_once_ready() -> None:
        try:
            wait_until(seen.exists, 60, "the fake daemon to start", every_s=0.01)
        finally:
            stop.set()

    if stop_when_ready:
        threading.Thread(target=stop_once_ready, daemon=True).start()
    result = daemon.run(stop=stop, poll_interval_s=0.05)
    return result, json.loads(seen.read_text())


def test_a_stop_request_is_forwarded_as_sigterm_and_ends_cleanly(monkeypatch, tmp_path):
    result, seen = launch(monkeypatch, tmp_path, "serve", stop_when_ready=True)
    assert (result.exit_code, result.reason) == (ExitCode.OK, "stopped")
    work = tmp_path / "work"
    assert seen["argv"][seen["argv"].index(MAIN_CLASS) :] == [
        MAIN_CLASS,
        "--properties-file",
        str(work / "daemon.properties"),
        "--log-configuration",
        str(work / "logback.xml"),
    ]
    assert "-Daws.cborEnabled=false" in seen["argv"]
    assert seen["env"]["PIPELINE_CONFIG"] == str(work / "pipeline.toml")
    assert seen["env"]["KPIPE_KCL_STATUS_DIR"] == str(work / "status")
    assert "PIPELINE_STREAM_SHARDS" not in seen["env"]
    assert load_config(work / "pipeline.toml", env={}) == config()
    assert "workerId = w-1" in (work / "daemon.properties").read_text().splitlines()


def test_a_failed_record_processor_exits_3_naming_the_shard(monkeypatch, tmp_path):
    result, _ = launch(monkeypatch, tmp_path, "fail-processor")
    assert result.exit_code == ExitCode.PROCESSOR_FAILED == 3
    assert result.reason == (
        "a record processor failed (shardId-000000000007: SinkError: results table "
        "unavailable); restart to replay from the last checkpoint"
    )


def test_a_daemon_that_exits_by_itself_or_ignores_sigterm_exits_4(monkeypatch, tmp_path):
    result, _ = launch(monkeypatch, tmp_path, "exit")
    assert (result.exit_code, result.reason) == (
        ExitCode.DAEMON_FAILED,
        "the MultiLangDaemon exited with status 1 (see its log)",
    )
    monkeypatch.setattr(daemon_module, "STOP_MARGIN_S", 0.5)
    result, _ = launch(monkeypatch, tmp_path, "hang", stop_when_ready=True)
    assert (result.exit_code, result.reason) == (
        ExitCode.DAEMON_FAILED,
        "the daemon did not stop within 1 s",
    )


def test_tampered_jars_never_launch(monkeypatch, tmp_path):
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "amazon-kinesis-client-3.1.3.jar").write_bytes(b"not the real jar")
    with pytest.raises(JarSetError, match="checksum mismatch for amazon-kinesis"):
        launch(monkeypatch, tmp_path, "serve", jar_dir=str(jars))


def test_a_credentials_provider_the_kcl_cannot_build_never_launches(monkeypatch, tmp_path):
    """KCL 3 would start and fail with "No credential providers were specified"."""
    with pytest.raises(ConfigError, match=r"KCL 3\.1\.3 has no credentials provider 'Nope'"):
        launch(monkeypatch, tmp_path, "serve", credentials_provider="Nope")
    assert not (tmp_path / "work" / "fake-daemon.json").exists()


def test_pipeline_consume_exits_with_the_launchers_code(monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_DAEMON", "fail-processor")
    env = {
        "PIPELINE_KCL_JAVA": sys.executable,
        "PIPELINE_KCL_JAVA_OPTIONS": FAKE,
        "PIPELINE_AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    result = CliRunner().invoke(
        main, ["consume", "--engine", "kcl", "--work-dir", str(tmp_path)], env=env
    )
    assert result.exit_code == 3
    assert result.output.splitlines()[-1] == (
        "Error: a record processor failed (shardId-000000000007: SinkError: results table "
        "unavailable); restart to replay from the last checkpoint"
    )
    local = CliRunner().invoke(main, ["consume", "--worker-id", "w1"], env=env)
    assert local.exit_code == 2 and "--worker-id needs --engine kcl" in local.output
