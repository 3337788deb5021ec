"""``pipeline chaos``: the whole pipeline under faults, kills and resharding, checked for loss.

The emulator, the producer and the consumer run as separate processes. During the run the
harness makes the emulator throttle, fail, partially fail, slow down and lose responses
(:mod:`pipeline.emulator.faults`), SIGKILLs the consumer at random points and restarts it, and
splits and merges shards. At the end it replays what the stream delivered through the
independent oracle (:mod:`pipeline.harness.oracle`) and compares every output: the verdict
table must show 0 mismatches and 0 lost. Everything random derives from ``--seed``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from consumers.app import shard_settings
from pipeline.aws.clients import AwsClients
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.provision import Provisioner
from pipeline.config import Config, load_config
from pipeline.core.errors import PipelineError
from pipeline.emulator import flush_firehose, set_faults
from pipeline.harness.oracle import Oracle
from pipeline.harness.verdict import Verdict, judge, read_stream

#: Events per device per simulated minute of the default IoT fleet (thermostat, meter, tracker).
EVENTS_PER_DEVICE_MINUTE = 7.3


def fault_plan(seed: int) -> dict:
    """Faults of every kind on every service the pipeline calls, at rates it must survive."""
    return {
        "seed": seed,
        "rules": [
            {"service": "kinesis", "operation": "PutRecords", "kind": "partial", "rate": 0.05},
            {"service": "kinesis", "operation": "PutRecords", "kind": "throttle", "rate": 0.02},
            {
                "service": "kinesis",
                "operation": "PutRecords",
                "kind": "lost_response",
                "rate": 0.01,
                "seconds": 2.5,
            },
            {"service": "kinesis", "operation": "GetRecords", "kind": "throttle", "rate": 0.03},
            {
                "service": "kinesis",
                "operation": "GetRecords",
                "kind": "delay",
                "rate": 0.03,
                "seconds": 0.3,
            },
            {"service": "firehose", "operation": "PutRecordBatch", "kind": "partial", "rate": 0.05},
            {"service": "firehose", "operation": "PutRecordBatch", "kind": "error", "rate": 0.02},
            {
                "service": "dynamodb",
                "operation": "TransactWriteItems",
                "kind": "throttle",
                "rate": 0.03,
            },
            {"service": "dynamodb", "operation": "GetItem", "kind": "error", "rate": 0.02},
            {"service": "dynamodb", "operation": "PutItem", "kind": "throttle", "rate": 0.03},
            {"service": "s3", "operation": "PUT", "kind": "throttle", "rate": 0.02},
        ],
    }


@dataclass(frozen=True)
class ChaosOptions:
    events: int = 20_000
    kills: int = 5
    seed: int = 1
    engine: str = "local"
    shards: int = 2
    reshard: bool = True
    duplicates: float = 0.02
    #: records a stranger puts on the stream mid-run: events from clocks years ahead and stray
    #: control records (dead letters both, and neither may move a watermark)
    strays: int = 6
    timeout_s: float = 900.0
    keep: Path | None = None  # keep logs and truth here (default: a scratch folder, removed)


@dataclass
class ChaosReport:
    verdict: Verdict
    produced: int = 0
    kills: int = 0
    reshards: list[str] = field(default_factory=list)
    strays: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    lost_by_producer: int = 0

    @property
    def ok(self) -> bool:
        return self.verdict.ok and self.lost_by_producer == 0

    def table(self) -> str:
        v = self.verdict
        rows = [
            ("events produced (truth)", self.produced),
            ("records delivered (stream)", v.delivered_records),
            ("events kept", v.events),
            ("duplicates removed", v.duplicates_removed),
            ("late", v.late),
            ("dead letters", v.dead_letters),
            ("window results checked", v.window_results),
            ("consumer kills", self.kills),
            ("reshards", ", ".join(self.reshards) or "none"),
            ("stray records (skewed clocks, control)", self.strays),
            ("faults injected", sum(self.faults.values())),
            *((f"  {name}", count) for name, count in sorted(self.faults.items())),
            ("mismatches (must be 0)", v.mismatches),
            ("lost (must be 0)", v.lost + self.lost_by_producer),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PipelineError("the emulator process exited at start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise PipelineError(f"the emulator did not listen on port {port} within {timeout_s} s")


class ChaosRun:
    """One seeded chaos run in a scratch folder."""

    def __init__(
        self, options: ChaosOptions, workdir: Path, say: Callable[[str], None] = print
    ) -> None:
        self.options = options
        self.workdir = workdir
        self.say = say
        self.rng = random.Random(options.seed)
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "pipeline.toml"
        self.config_path.write_text(
            f"[stream]\nshards = {options.shards}\n"
            "[consumer]\nmax_records = 500\npoll_interval_ms = 50\ncheckpoint_interval_s = 0.5\n"
            # a killed KCL worker's leases are taken over after failover_ms
            "[kcl]\nfailover_ms = 3000\nshutdown_grace_ms = 6000\nshard_sync_interval_ms = 5000\n"
            "parent_poll_ms = 1000\n"
        )
        self.env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PIPELINE_CONFIG": str(self.config_path),
            "PIPELINE_AWS_ENDPOINT_URL": self.endpoint,
        }
        self.truth = workdir / "truth.jsonl"

    def _cli(
        self, *args: str, env: dict[str, str] | None = None, log: str = ""
    ) -> subprocess.Popen:
        out = (self.workdir / f"{log}.log").open("ab") if log else subprocess.DEVNULL
        # its own process group: a kill takes the whole worker (launcher, JVM, KCL children)
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", *args],
            env=env or self.env,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )

    def _consumer(self, first: bool = False) -> subprocess.Popen:
        args = ["consume", "--engine", self.options.engine, "--until-end-of-stream"]
        if self.options.engine == "kcl":
            args += ["--work-dir", str(self.workdir / "kcl")]
            if first:
                args.append("--seed-leases")
        return self._cli(*args, log="consumer")

    @staticmethod
    def _kill(process: subprocess.Popen) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def run(self) -> ChaosReport:
        emulator = self._cli("emulator", "--port", str(self.port), log="emulator")
        try:
            _wait_for_port(self.port, emulator)
            return self._run()
        finally:
            os.killpg(emulator.pid, signal.SIGTERM)
            try:
                emulator.wait(timeout=10)
            except subprocess.TimeoutExpired:
                emulator.kill()

    def _run(self) -> ChaosReport:
        config = load_config(self.config_path, env={}).with_endpoint(self.endpoint)
        clients = AwsClients(config.aws)
        Provisioner(config, clients).run()
        set_faults(self.endpoint, fault_plan(self.options.seed))
        duration = max(10.0, self.options.events / 2_000)  # real seconds the producer takes
        producer = self._producer(duration)
        report = ChaosReport(verdict=Verdict())
        stream = KinesisStream(clients.kinesis, config.names.stream)
        self._supervise(
            producer,
            duration,
            report,
            lambda action: self._reshard(clients, config, action),
            lambda n: _put_stray(stream, n),
        )
        report.faults = set_faults(self.endpoint, None)
        flush_firehose(self.endpoint)
        report.verdict, report.produced, report.lost_by_producer = self._judge(config, clients)
        return report

    def _producer(self, duration: float) -> subprocess.Popen:
        """30 simulated minutes of a fleet sized for ``--events``, sent over ``duration`` s."""
        minutes = 30
        devices = max(5, round(self.options.events / (EVENTS_PER_DEVICE_MINUTE * minutes)))
        producer_env = {**self.env, "PIPELINE_AWS_READ_TIMEOUT_S": "1.5"}  # lost responses time out
        return self._cli(
            "produce",
            "iot",
            "--devices",
            str(devices),
            "--minutes",
            str(minutes),
            "--seed",
            str(self.options.seed),
            "--duplicates",
            str(self.options.duplicates),
            "--truth",
            str(self.truth),
            "--end-of-stream",
            "--speed",
            str(minutes * 60 / duration),
            env=producer_env,
            log="producer",
        )

    def _supervise(
        self,
        producer: subprocess.Popen,
        duration: float,
        report: ChaosReport,
        reshard: Callable[[str], str],
        put_stray: Callable[[int], None],
    ) -> None:
        """Reshard, put stray records and kill the consumer on schedule until both processes
        are done."""
        options = self.options
        consumer = self._consumer(first=True)
        deadline = time.monotonic() + options.timeout_s
        reshards = self._reshard_plan(duration) if options.reshard else []
        strays = sorted(self.rng.uniform(0.0, 0.9 * duration) for _ in range(options.strays))
        kill_times = sorted(self.rng.uniform(1.0, 1.2 * duration) for _ in range(options.kills))
        started = time.monotonic()
        while consumer.poll() is None or producer.poll() is None:
            if time.monotonic() > deadline:
                self._kill(consumer)
                self._kill(producer)
                raise PipelineError(f"chaos run did not finish within {options.timeout_s} s")
            elapsed = time.monotonic() - started
            if reshards and elapsed >= reshards[0][0] and producer.poll() is None:
                report.reshards.append(reshard(reshards.pop(0)[1]))
            if strays and elapsed >= strays[0] and producer.poll() is None:
                strays.pop(0)
                put_stray(report.strays)
                report.strays += 1
            if kill_times and elapsed >= kill_times[0] and consumer.poll() is None:
                kill_times.pop(0)
                self._kill(consumer)
                report.kills += 1
                self.say(f"killed the consumer ({report.kills}/{options.kills}) at {elapsed:.1f} s")
                consumer = self._consumer()
            if consumer.poll() not in (None, 0):
                raise PipelineError(
                    f"the consumer failed (exit {consumer.returncode}); "
                    f"see {self.workdir}/consumer.log"
                )
            if consumer.poll() == 0 and producer.poll() is None:
                consumer = self._consumer()
            time.sleep(0.1)
        if producer.returncode != 0:
            raise PipelineError(
                f"the producer failed (exit {producer.returncode}); see {self.workdir}/producer.log"
            )

    def _reshard_plan(self, duration: float) -> list[tuple[float, str]]:
        """A split in the first half of the production, a merge in the second."""
        return [
            (self.rng.uniform(0.2, 0.4) * duration, "split"),
            (self.rng.uniform(0.55, 0.75) * duration, "merge"),
        ]

    def _reshard(self, clients: AwsClients, config: Config, action: str) -> str:
        stream = KinesisStream(clients.kinesis, config.names.stream)
        open_shards = sorted(
            (s for s in stream.shards() if not s.closed), key=lambda s: s.starting_hash_key
        )
        if action == "split":
            shard = self.rng.choice(open_shards)
            middle = (shard.starting_hash_key + shard.ending_hash_key) // 2
            stream.split_shard(shard.shard_id, middle)
            done = f"split {shard.shard_id}"
        else:
            index = self.rng.randrange(len(open_shards) - 1)
            first, second = open_shards[index], open_shards[index + 1]
            stream.merge_shards(first.shard_id, second.shard_id)
            done = f"merge {first.shard_id}+{second.shard_id}"
        self.say(done)
        return done

    def _judge(self, config: Config, clients: AwsClients) -> tuple[Verdict, int, int]:
        jobs = config.stream_jobs
        settings = shard_settings(config)
        shards, parents = read_stream(clients, config.names.stream)
        oracle = Oracle(jobs, settings.dedupe_horizon_ms or 0, settings.max_future_skew_ms)
        expected = oracle.run(shards, parents)
        verdict = judge(config, clients, jobs, expected)
        verdict.delivered_records = sum(len(records) for records in shards.values())
        sent: set[str] = set()
        for line in self.truth.read_text().splitlines():
            truth = json.loads(line)
            if truth["labels"].get("control") or truth["labels"].get("malformed"):
                continue
            sent.add(json.loads(truth["payload"])["event_id"])
        return verdict, len(sent), len(sent - expected.events)


#: Stray control records: none is the exact end-of-stream marker (a bounded run honours that)
STRAY_CONTROLS = (b'{"_control":"pause"}', b'{"_control": "end_of_stream"}')
#: How far ahead of the wall clock a stray device's clock reads
SKEW_MS = 2 * 365 * 86_400_000


def _put_stray(stream: KinesisStream, n: int) -> None:
    """A stranger's record: an event from a clock two years ahead, or a stray control record
    (retried while the injected faults refuse it)."""
    if n % 2:
        data = STRAY_CONTROLS[n // 2 % len(STRAY_CONTROLS)]
    else:
        event = {
            "event_id": f"skewed-{n}",
            "device_id": f"skewed-device-{n}",
            "device_type": "thermostat",
            "site": "site-00",
            "ts": time.time_ns() // 1_000_000 + SKEW_MS,
            "temperature": 21.0,
        }
        data = json.dumps(event).encode()
    entry = {"Data": data, "PartitionKey": f"stray-{n}"}
    for _ in range(20):
        with contextlib.suppress(PipelineError):
            if not stream.put_records([entry]):
                return
        time.sleep(0.1)
    raise PipelineError(f"could not put stray record {n} on the stream")


def run_chaos(options: ChaosOptions, say: Callable[[str], None] = print) -> ChaosReport:
    if options.keep is not None:
        options.keep.mkdir(parents=True, exist_ok=True)
        return ChaosRun(options, options.keep, say).run()
    with tempfile.TemporaryDirectory(prefix="chaos-") as workdir:
        return ChaosRun(options, Path(workdir), say).run()
