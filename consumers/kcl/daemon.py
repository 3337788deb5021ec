"""``java ... MultiLangDaemon`` with our record processor as its child, run and stopped properly.

The launcher verifies the jar set, writes the daemon's properties, the children's configuration
and a logback configuration into a work directory, optionally pre-seeds the lease table, and
runs the daemon with its output on our stderr. A stop request (SIGTERM/SIGINT in the CLI) is
forwarded as SIGTERM: the daemon's shutdown hook runs ``shutdown_requested`` on every lease
(within ``kcl.shutdown_grace_ms``) so the last checkpoint is written. The children ignore
SIGINT/SIGTERM themselves (a Ctrl-C or a cgroup-wide SIGTERM reaches them too) and end when the
daemon closes their stdin. If the launcher dies, the daemon gets SIGTERM (Linux).

Exit codes (:class:`ExitCode`): 0 stopped on request or the bounded input was consumed; 3 a
record processor failed (sink outage, missing snapshot): restart, it replays from the last
checkpoint; 4 the daemon exited on its own or did not stop within the grace time.
"""

from __future__ import annotations

import ctypes
import enum
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from consumers.kcl.child import LOG_LEVEL_ENV
from consumers.kcl.jars import (
    credentials_provider_problem,
    jar_directory,
    kcl_version,
    verified_classpath,
)
from consumers.kcl.leases import EndOfStreamWatch
from consumers.kcl.metrics import MetricsServer
from consumers.kcl.properties import (
    MAIN_CLASS,
    child_command,
    config_toml,
    daemon_properties,
    render_properties,
)
from consumers.kcl.status import STATUS_DIR_ENV, ShardStatus, read_statuses
from pipeline.aws.clients import AwsClients
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.leases import LeaseTable
from pipeline.config import Config
from pipeline.core.errors import ConfigError
from pipeline.core.results import Counters

log = logging.getLogger(__name__)

LOGBACK = """<configuration>
  <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{{ISO8601}} %-5level [%thread] %logger{{36}} - %msg%n</pattern></encoder>
  </appender>
  <logger name="software.amazon.kinesis" level="{level}"/>
  <logger name="software.amazon.awssdk" level="WARN"/>
  <logger name="io.netty" level="WARN"/>
  <root level="{level}"><appender-ref ref="OUT"/></root>
</configuration>
"""
_LOGBACK_LEVELS = {"CRITICAL": "ERROR", "WARNING": "WARN", "NOTSET": "INFO"}
#: Seconds the daemon is given beyond the shutdown grace time before it is killed.
STOP_MARGIN_S = 20.0


class ExitCode(enum.IntEnum):
    OK = 0
    PROCESSOR_FAILED = 3
    DAEMON_FAILED = 4


@dataclass
class DaemonResult:
    exit_code: ExitCode
    reason: str
    statuses: list[ShardStatus] = field(default_factory=list)

    @property
    def counters(self) -> Counters:
        """Totals over the shards this worker processed (each shard's latest status)."""
        total = Counters()
        for s in self.statuses:
            total.add(
                Counters(
                    records=s.records,
                    events=s.events,
                    duplicates=s.duplicates,
                    late=s.late,
                    dead_letters=s.dead_letters,
                    results=s.results,
                )
            )
        return total


def _parent_death_signal() -> Callable[[], None] | None:
    """Linux: a ``preexec_fn`` asking the kernel to SIGTERM the daemon if the launcher's thread
    dies (prctl PR_SET_PDEATHSIG). Resolved here: nothing may be imported after the fork."""
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    sigterm = int(signal.SIGTERM)

    def set_parent_death_signal() -> None:  # pragma: no cover - runs in the forked child
        prctl(1, sigterm)

    return set_parent_death_signal


def _stderr_fd() -> int:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a replaced sys.stderr (tests, notebooks)
        return 2


class KclDaemon:
    """One KCL worker: the MultiLangDaemon and its children, for one configuration."""

    def __init__(
        self,
        config: Config,
        clients: AwsClients,
        work_dir: str | Path | None = None,
        worker_id: str | None = None,
        seed_leases: bool = False,
        log_level: str | None = None,
        python: str = sys.executable,
    ) -> None:
        self.config = config
        self.clients = clients
        self._keep_work_dir = work_dir is not None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="kpipe-kcl-"))
        self.status_dir = self.work_dir / "status"
        self.worker_id = worker_id
        self.seed_leases = seed_leases
        # the daemon and the children log at our level (default: the root logger's)
        self.log_level = (
            log_level or logging.getLevelName(logging.getLogger().getEffectiveLevel())
        ).upper()
        self.python = python
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """Verify the jars, write the work directory's files; the command that runs the daemon."""
        kcl = self.config.kcl
        jars = jar_directory(kcl.jar_dir)
        classpath = verified_classpath(jars, kcl.jar_manifest)
        problem = credentials_provider_problem(jars, kcl.credentials_provider)
        if problem:
            raise ConfigError(problem)
        log.info("KCL jars verified", extra={"kcl_version": kcl_version(jars), "jars": str(jars)})
        properties = daemon_properties(self.config, child_command(self.python), self.worker_id)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.status_dir, ignore_errors=True)
        self.status_dir.mkdir()
        (self.work_dir / "daemon.properties").write_text(render_properties(properties))
        (self.work_dir / "pipeline.toml").write_text(config_toml(self.config), encoding="utf-8")
        level = _LOGBACK_LEVELS.get(self.log_level, self.log_level)
        (self.work_dir / "logback.xml").write_text(LOGBACK.format(level=level))
        java = [kcl.java, *kcl.java_options]
        if self.config.aws.endpoint_url:
            java.append("-Daws.cborEnabled=false")  # emulators (moto) speak no CBOR
        return [
            *java,
            "-cp",
            classpath,
            MAIN_CLASS,
            "--properties-file",
            str(self.work_dir / "daemon.properties"),
            "--log-configuration",
            str(self.work_dir / "logback.xml"),
        ]

    def environment(self) -> dict[str, str]:
        """The daemon's (and its children's) environment: our configuration, not the caller's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_")}
        env["PIPELINE_CONFIG"] = str(self.work_dir / "pipeline.toml")
        env[STATUS_DIR_ENV] = str(self.status_dir)
        env[LOG_LEVEL_ENV] = self.log_level
        env.setdefault("AWS_REGION", self.config.aws.region)
        env.update(self.clients.credentials_environment())  # the emulator's, if none configured
        return env

    def statuses(self) -> list[ShardStatus]:
        return read_statuses(self.status_dir)

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def run(
        self,
        stop: threading.Event | None = None,
        until_end_of_stream: bool = False,
        metrics_port: int | None = None,
        on_progress: Callable[[list[ShardStatus]], None] | None = None,
        progress_interval_s: float = 5.0,
        poll_interval_s: float = 0.5,
    ) -> DaemonResult:
        """Run until ``stop`` is set (or the input is consumed) or the daemon exits."""
        stop = stop or threading.Event()
        server = None
        try:
            command = self.command()
            stream = KinesisStream(self.clients.kinesis, self.config.names.stream)
            leases = LeaseTable(self.clients.dynamodb, self.config.consumer.application)
            if self.seed_leases:
                leases.seed(stream.shards(), self.config.consumer.initial_position)
            watch = EndOfStreamWatch(stream, leases) if until_end_of_stream else None
            if metrics_port is not None:
                server = MetricsServer(self.statuses, self.running, metrics_port).start()
            log.info("starting the MultiLangDaemon", extra={"command": " ".join(command)})
            self._process = subprocess.Popen(
                command,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=_stderr_fd(),  # stdout is for results; the daemon only logs
                stderr=_stderr_fd(),
                preexec_fn=_parent_death_signal(),  # noqa: PLW1509
            )
            (self.work_dir / "daemon.pid").write_text(f"{self._process.pid}\n")
            return self._supervise(stop, watch, on_progress, progress_interval_s, poll_interval_s)
        finally:
            if self._process is not None and self._process.poll() is None:
                self._process.kill()
                self._process.wait()
            if server is not None:
                server.stop()
            if not self._keep_work_dir:
                shutil.rmtree(self.work_dir, ignore_errors=True)

    def _supervise(
        self,
        stop: threading.Event,
        watch: EndOfStreamWatch | None,
        on_progress: Callable[[list[ShardStatus]], None] | None,
        progress_interval_s: float,
        poll_interval_s: float,
    ) -> DaemonResult:
        process = self._process
        assert process is not None
        stopping_since: float | None = None
        grace_s = self.config.kcl.shutdown_grace_ms / 1000 + STOP_MARGIN_S
        next_progress = time.monotonic() + progress_interval_s
        while True:
            try:
                process.wait(timeout=poll_interval_s)
                break
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if stopping_since is None:
                if watch is not None and watch.done():
                    log.info("every shard is consumed to its end; stopping the daemon")
                    stop.set()
                if stop.is_set():
                    process.send_signal(signal.SIGTERM)
                    stopping_since = now
            elif now - stopping_since > grace_s:
                process.kill()
                process.wait()
                return self._result(
                    ExitCode.DAEMON_FAILED, f"the daemon did not stop within {grace_s:.0f} s"
                )
            if on_progress is not None and now >= next_progress:
                on_progress(self.statuses())
                next_progress = now + progress_interval_s
        returncode = process.returncode
        if stopping_since is not None and returncode in (0, 128 + signal.SIGTERM):
            return self._result(ExitCode.OK, "stopped")
        failed = [s for s in self.statuses() if s.state == "failed"]
        if failed:
            reasons = "; ".join(f"{s.shard_id}: {s.error}" for s in failed)
            return self._result(
                ExitCode.PROCESSOR_FAILED,
                f"a record processor failed ({reasons}); restart to replay from the last "
                "checkpoint",
            )
        how = (
            f"was killed by {signal.Signals(-returncode).name}"
            if returncode < 0
            else f"exited with status {returncode}"
        )
        return self._result(ExitCode.DAEMON_FAILED, f"the MultiLangDaemon {how} (see its log)")

    def _result(self, code: ExitCode, reason: str) -> DaemonResult:
        return DaemonResult(code, reason, self.statuses())
