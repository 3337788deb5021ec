"""Errors a person can act on, in every command: missing or expired credentials, an unreachable
endpoint, a refusal by IAM, a missing stream, table or bucket. Each is one line naming the
resource, the operation and the fix, exit status 1, no traceback (``--log-level DEBUG`` logs it);
what a retry cannot fix is sent once. Refusals come from the emulator (its ``refuse`` fault)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from pipeline.cli import main
from pipeline.emulator import fault_stats, set_faults

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
#: No credentials anywhere boto3 looks (nor the instance metadata service), no endpoint
NO_CREDENTIALS: dict[str, str | None] = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ENDPOINT_URL": None,
    "PIPELINE_AWS_ENDPOINT_URL": None,
    "PIPELINE_CONFIG": None,
}
MISSING_FIX = (
    "fix: create it (pipeline provision, or deploy the stack's template) or check its name "
    "under [names] and aws.region in the configuration"
)
CREDENTIALS_FIX = (
    "fix: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; renew expired ones "
    "(aws sso login); or give --endpoint-url to use the emulator"
)
ENDPOINT_FIX = (
    "fix: check --endpoint-url (aws.endpoint_url: is the emulator running?), aws.region and "
    "the network"
)


def denied_fix(operation: str) -> str:
    return (
        f"fix: allow {operation} on it in the IAM policy of the credentials in use "
        "(pipeline template writes the policy each role needs)"
    )


def invoke(args: list[str], env: dict[str, Any]) -> Result:
    return CliRunner().invoke(main, args, env={"PIPELINE_CONFIG": None, **env})


def assert_one_line(result: Result, message: str) -> None:
    """Exit status 1, and stderr is exactly ``Error: <message>``: no traceback, nothing else."""
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: {message}\n"
    assert "Traceback" not in result.output


@pytest.fixture
def refuse(emulator) -> Iterator[Any]:
    """``refuse(service, operation, code, status=400)``: the emulator answers every such call
    with AWS's error ``code`` until the test ends."""

    def install(service: str, operation: str, code: str, status: int = 400) -> None:
        rule = {"service": service, "operation": operation, "kind": "refuse", "code": code}
        set_faults(emulator.endpoint_url, {"rules": [{**rule, "status": status}]})

    yield install
    set_faults(emulator.endpoint_url, None)


@pytest.fixture
def stream(client, name) -> str:
    client("kinesis").create_stream(StreamName=name, ShardCount=1)
    return name


PRODUCE = ["produce", "iot", "--devices", "2", "--minutes", "1", "--seed", "1"]
UNDELIVERED = (
    " (delivered 0, undelivered 5: the call in flight and earlier failures; nothing after them "
    "was sent)"
)


def test_no_credentials_at_all(tmp_path):
    """The issue's ``pipeline dashboard --out d`` with no endpoint and no credentials printed a
    pyarrow traceback about resolving kpipe-lake.s3...; nothing is sent now."""
    result = invoke(["dashboard", "--out", str(tmp_path / "d")], NO_CREDENTIALS)
    assert_one_line(
        result,
        "no valid AWS credentials for ListObjectsV2 on S3 bucket 'kpipe-lake' (Unable to locate "
        f"credentials); {CREDENTIALS_FIX}",
    )
    assert not (tmp_path / "d").exists()
    assert_one_line(
        invoke(["produce", "iot", "--devices", "2", "--minutes", "1"], NO_CREDENTIALS),
        "no valid AWS credentials for ListShards on Kinesis stream 'kpipe-events' (Unable to "
        f"locate credentials); {CREDENTIALS_FIX}",
    )


def test_the_traceback_is_logged_at_debug(tmp_path):
    result = invoke(
        ["--log-level", "DEBUG", "dashboard", "--out", str(tmp_path / "d")], NO_CREDENTIALS
    )
    assert result.exit_code == 1
    *logs, last = result.stderr.splitlines()
    assert last.startswith("Error: no valid AWS credentials for ListObjectsV2")
    (failed,) = [json.loads(line) for line in logs if '"command failed"' in line]
    assert failed["level"] == "debug"
    assert failed["exception"].startswith("Traceback (most recent call last):")
    assert "botocore.exceptions.NoCredentialsError" in failed["exception"]


@pytest.mark.emulator
def test_expired_credentials_are_not_retried(emulator, refuse, stream):
    refuse("kinesis", "PutRecords", "ExpiredTokenException")
    result = invoke(
        ["--endpoint-url", emulator.endpoint_url, *PRODUCE],
        {**CREDENTIALS, "PIPELINE_NAMES_STREAM": stream},
    )
    assert_one_line(
        result,
        f"no valid AWS credentials for PutRecords on Kinesis stream {stream!r} "
        f"(ExpiredTokenException: injected fault); {CREDENTIALS_FIX}{UNDELIVERED}",
    )
    assert fault_stats(emulator.endpoint_url) == {"kinesis.PutRecords.refuse": 1}


@pytest.mark.emulator
def test_expired_credentials_on_the_lake(emulator, refuse, client, name, tmp_path):
    client("s3").create_bucket(Bucket=name)
    refuse("s3", "GET", "ExpiredToken")
    result = invoke(
        ["--endpoint-url", emulator.endpoint_url, "dashboard", "--out", str(tmp_path)],
        {**CREDENTIALS, "PIPELINE_NAMES_BUCKET": name},
    )
    assert_one_line(
        result,
        f"no valid AWS credentials for ListObjectsV2 on S3 bucket {name!r} (ExpiredToken: "
        f"injected); {CREDENTIALS_FIX}",
    )


@pytest.mark.parametrize(
    ("command", "operation", "resource", "url"),
    [
        (["provision"], "HeadBucket", "S3 bucket 'kpipe-lake'", "kpipe-lake"),
        (
            ["report", "device_summary"],
            "ListObjectsV2",
            "S3 bucket 'kpipe-lake'",
            "kpipe-lake?list-type=2&max-keys=1&encoding-type=url",
        ),
        (["alerts", "run"], "CreateTopic", "SNS topic 'kpipe-alerts'", ""),
    ],
)
def test_an_unreachable_endpoint(command, operation, resource, url):
    result = invoke(
        ["--endpoint-url", "http://127.0.0.1:9", *command],  # nothing listens on port 9
        {**CREDENTIALS, "PIPELINE_AWS_MAX_ATTEMPTS": "1"},
    )
    assert_one_line(
        result,
        f"cannot reach the endpoint for {operation} on {resource} (Could not connect to the "
        f'endpoint URL: "http://127.0.0.1:9/{url}"); {ENDPOINT_FIX}',
    )


@pytest.mark.emulator
def test_access_denied_is_sent_once(emulator, refuse, stream):
    """The producer retried AccessDenied 16 times: once now, and nothing is retried after it."""
    refuse("kinesis", "PutRecords", "AccessDeniedException")
    result = invoke(
        ["--endpoint-url", emulator.endpoint_url, *PRODUCE],
        {**CREDENTIALS, "PIPELINE_NAMES_STREAM": stream},
    )
    assert_one_line(
        result,
        f"access denied: PutRecords on Kinesis stream {stream!r} (AccessDeniedException: injected "
        f"fault); {denied_fix('PutRecords')}{UNDELIVERED}",
    )
    assert fault_stats(emulator.endpoint_url) == {"kinesis.PutRecords.refuse": 1}


@pytest.mark.emulator
def test_access_denied_on_the_lake(emulator, refuse, client, name):
    client("s3").create_bucket(Bucket=name)
    refuse("s3", "GET", "AccessDenied", status=403)
    result = invoke(
        ["--endpoint-url", emulator.endpoint_url, "report", "device_summary"],
        {**CREDENTIALS, "PIPELINE_NAMES_BUCKET": name},
    )
    assert_one_line(
        result,
        f"access denied: ListObjectsV2 on S3 bucket {name!r} (AccessDenied: injected); "
        f"{denied_fix('ListObjectsV2')}",
    )


@pytest.mark.emulator
def test_a_missing_stream(emulator, name):
    result = invoke(
        ["--endpoint-url", emulator.endpoint_url, *PRODUCE],
        {**CREDENTIALS, "PIPELINE_NAMES_STREAM": name},
    )
    assert_one_line(
        result,
        f"Kinesis stream {name!r} does not exist (ListShards: ResourceNotFoundException: Stream "
        f"{name} under account 123456789012 not found.); {MISSING_FIX}",
    )


@pytest.mark.emulator
def test_a_missing_table(emulator, name):
    env = {"PIPELINE_NAMES_RESULTS_TABLE": name, "PIPELINE_NAMES_ALERTS_TOPIC": name}
    result = invoke(
        ["--endpoint-url", emulator.endpoint_url, "alerts", "run"], {**CREDENTIALS, **env}
    )
    assert_one_line(
        result,
        f"DynamoDB table {name!r} does not exist (Scan: ResourceNotFoundException: Requested "
        f"resource not found); {MISSING_FIX}",
    )


@pytest.mark.emulator
@pytest.mark.parametrize("command", [["report", "device_summary"], ["compact"], ["dashboard"]])
def test_a_missing_bucket(emulator, name, command, tmp_path):
    """pyarrow lists a missing bucket as empty: the reports would have been empty, silently."""
    if command == ["dashboard"]:
        command = ["dashboard", "--out", str(tmp_path)]
    result = invoke(
        ["--endpoint-url", emulator.endpoint_url, *command],
        {**CREDENTIALS, "PIPELINE_NAMES_BUCKET": name},
    )
    assert_one_line(
        result,
        f"S3 bucket {name!r} does not exist (ListObjectsV2: NoSuchBucket: The specified bucket "
        f"does not exist); {MISSING_FIX}",
    )
