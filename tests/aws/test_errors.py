"""The one translation of botocore's exceptions: each kind's class and message, with real
botocore exception objects, and a round trip through the emulator."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from pipeline.aws.errors import (
    amended,
    arrow_errors,
    aws_errors,
    error_code,
    retryable,
    sink_errors,
    translate,
    translate_escaped,
)
from pipeline.core.errors import (
    AccessDeniedError,
    AwsError,
    CredentialsError,
    EndpointUnreachableError,
    PipelineError,
    ResourceMissingError,
    SinkError,
)

OPERATION, RESOURCE = "PutRecords", "Kinesis stream 'events'"
MISSING_FIX = (
    "; fix: create it (pipeline provision, or deploy the stack's template) or check its name "
    "under [names] and aws.region in the configuration"
)
DENIED_FIX = (
    "; fix: allow PutRecords on it in the IAM policy of the credentials in use "
    "(pipeline template writes the policy each role needs)"
)
CREDENTIALS_FIX = (
    "; fix: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; renew expired ones "
    "(aws sso login); or give --endpoint-url to use the emulator"
)
ENDPOINT_FIX = (
    "; fix: check --endpoint-url (aws.endpoint_url: is the emulator running?), aws.region and "
    "the network"
)


def client_error(code: str, message: str = "the service's words") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, OPERATION)


def test_error_code_reads_a_client_errors_code_and_nothing_else():
    assert error_code(client_error("ThrottlingException")) == "ThrottlingException"
    assert error_code(ClientError({"Error": {}}, OPERATION)) is None
    assert error_code(ClientError({}, OPERATION)) is None
    assert error_code(NoCredentialsError()) is None
    assert error_code(ValueError("x")) is None


CASES = [
    (
        client_error("ResourceNotFoundException"),
        ResourceMissingError,
        "Kinesis stream 'events' does not exist "
        "(PutRecords: ResourceNotFoundException: the service's words)" + MISSING_FIX,
    ),
    (client_error("NoSuchBucket"), ResourceMissingError, None),
    (client_error("NoSuchKey"), ResourceMissingError, None),
    (
        client_error("404", ""),
        ResourceMissingError,
        "Kinesis stream 'events' does not exist (PutRecords: 404)" + MISSING_FIX,
    ),
    (
        client_error("AccessDeniedException"),
        AccessDeniedError,
        "access denied: PutRecords on Kinesis stream 'events' "
        "(AccessDeniedException: the service's words)" + DENIED_FIX,
    ),
    (client_error("AccessDenied"), AccessDeniedError, None),
    (client_error("UnauthorizedOperation"), AccessDeniedError, None),
    (
        client_error("ExpiredTokenException"),
        CredentialsError,
        "no valid AWS credentials for PutRecords on Kinesis stream 'events' "
        "(ExpiredTokenException: the service's words)" + CREDENTIALS_FIX,
    ),
    (client_error("ExpiredToken"), CredentialsError, None),
    (client_error("InvalidClientTokenId"), CredentialsError, None),
    (client_error("UnrecognizedClientException"), CredentialsError, None),
    (
        NoCredentialsError(),
        CredentialsError,
        "no valid AWS credentials for PutRecords on Kinesis stream 'events' "
        "(Unable to locate credentials)" + CREDENTIALS_FIX,
    ),
    (
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9/"),
        EndpointUnreachableError,
        "cannot reach the endpoint for PutRecords on Kinesis stream 'events' "
        '(Could not connect to the endpoint URL: "http://127.0.0.1:9/")' + ENDPOINT_FIX,
    ),
    (ConnectTimeoutError(endpoint_url="http://10.0.0.1/"), EndpointUnreachableError, None),
    (
        client_error("ProvisionedThroughputExceededException", "Rate exceeded"),
        AwsError,
        "PutRecords on Kinesis stream 'events' failed "
        "(ProvisionedThroughputExceededException: Rate exceeded)",
    ),
    (
        ReadTimeoutError(endpoint_url="http://h/"),
        AwsError,
        "PutRecords on Kinesis stream 'events' failed (Read timeout on endpoint URL: \"http://h/\")",
    ),
]


@pytest.mark.parametrize(("exc", "kind", "message"), CASES)
def test_each_failure_becomes_its_kind_naming_the_operation_and_the_resource(exc, kind, message):
    error = translate(exc, OPERATION, RESOURCE)
    assert type(error) is kind
    assert error.__cause__ is exc
    if message is not None:
        assert str(error) == message
    assert OPERATION in str(error) and RESOURCE in str(error)
    if isinstance(error, AwsError):
        assert (error.code, error.operation, error.resource) == (
            error_code(exc) or type(exc).__name__,
            OPERATION,
            RESOURCE,
        )


def test_aws_errors_raises_the_translation_and_lets_other_errors_through():
    with pytest.raises(AccessDeniedError) as denied, aws_errors(OPERATION, RESOURCE):
        raise client_error("AccessDeniedException")
    assert isinstance(denied.value.__cause__, ClientError)
    with pytest.raises(KeyError), aws_errors(OPERATION, RESOURCE):
        raise KeyError("not AWS's")


def test_sink_errors_raise_a_sink_error_caused_by_the_kind():
    with pytest.raises(SinkError) as failed, sink_errors("cannot save x", OPERATION, RESOURCE):
        raise NoCredentialsError()
    assert isinstance(failed.value.__cause__, CredentialsError)
    assert str(failed.value) == f"cannot save x: {failed.value.__cause__}"


@pytest.mark.emulator
def test_a_missing_table_on_the_emulator_names_the_table_and_the_operation(client, name):
    dynamodb = client("dynamodb")
    resource = f"DynamoDB table {name!r}"
    with pytest.raises(ResourceMissingError) as missing, aws_errors("DescribeTable", resource):
        dynamodb.describe_table(TableName=name)
    assert str(missing.value).startswith(
        f"DynamoDB table {name!r} does not exist (DescribeTable: ResourceNotFoundException: "
    )
    assert isinstance(missing.value, PipelineError)


@pytest.mark.parametrize(
    ("exc", "again"),
    [
        (client_error("ProvisionedThroughputExceededException"), True),
        (client_error("InternalFailure"), True),
        (ReadTimeoutError(endpoint_url="http://h/"), True),
        (client_error("ResourceNotFoundException"), False),
        (client_error("AccessDeniedException"), False),
        (client_error("ExpiredTokenException"), False),
        (client_error("InvalidArgumentException"), False),
        (client_error("ValidationException"), False),
        (NoCredentialsError(), False),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9/"), False),
    ],
)
def test_only_what_may_succeed_when_sent_again_is_retryable(exc, again):
    assert retryable(translate(exc, OPERATION, RESOURCE)) is again


def test_an_amended_error_keeps_its_kind_its_fields_and_its_cause():
    error = translate(client_error("AccessDeniedException", "no"), OPERATION, RESOURCE)
    note = amended(error, "(delivered 3)")
    assert type(note) is AccessDeniedError
    assert str(note) == f"{error} (delivered 3)"
    assert (note.code, note.operation, note.resource) == (
        "AccessDeniedException",
        OPERATION,
        RESOURCE,
    )
    assert note.__cause__ is error.__cause__


#: pyarrow's S3 errors, as pyarrow 25 words them (seen against the emulator's refusals)
ARROW = "When listing objects under key 't/' in bucket 'lake': AWS Error {} during ListObjectsV2 "


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        (
            ARROW.format("ACCESS_DENIED") + "operation: Access Denied",
            AccessDeniedError,
            "access denied: ListObjectsV2 on S3 bucket 'lake' (ACCESS_DENIED: Access Denied); "
            "fix: allow ListObjectsV2 on it in the IAM policy of the credentials in use "
            "(pipeline template writes the policy each role needs)",
        ),
        (
            ARROW.format("UNKNOWN (HTTP status 400)")
            + "operation: Unable to parse ExceptionName: ExpiredToken Message: expired",
            CredentialsError,
            "no valid AWS credentials for ListObjectsV2 on S3 bucket 'lake' (UNKNOWN 400: Unable "
            "to parse ExceptionName: ExpiredToken Message: expired)" + CREDENTIALS_FIX,
        ),
        (ARROW.format("INVALID_ACCESS_KEY_ID") + "operation: x", CredentialsError, None),
        (ARROW.format("NO_SUCH_BUCKET") + "operation: x", ResourceMissingError, None),
        (
            ARROW.format("NETWORK_CONNECTION")
            + "operation: curlCode: 6, Could not resolve hostname; Details: Could not resolve "
            "host: lake.s3.us-east-1.amazonaws.com",
            EndpointUnreachableError,
            "cannot reach the endpoint for ListObjectsV2 on S3 bucket 'lake' (NETWORK_CONNECTION: "
            "curlCode: 6, Could not resolve hostname; Details: Could not resolve host: "
            "lake.s3.us-east-1.amazonaws.com)" + ENDPOINT_FIX,
        ),
        (ARROW.format("SLOW_DOWN") + "operation: x", AwsError, None),
    ],
)
def test_pyarrow_s3_errors_become_the_same_kinds(text, kind, message):
    with pytest.raises(PipelineError) as raised, arrow_errors("S3 bucket 'lake'"):
        raise OSError(text)
    assert type(raised.value) is kind
    assert isinstance(raised.value.__cause__, OSError)
    if message is not None:
        assert str(raised.value) == message
    escaped = translate_escaped(OSError(text))  # the bucket is read from pyarrow's message
    assert type(escaped) is kind and str(escaped) == str(raised.value)


def test_other_os_errors_pass_through():
    with pytest.raises(FileNotFoundError), arrow_errors("S3 bucket 'lake'"):
        raise FileNotFoundError("Path does not exist 'lake/t/x.parquet'")
    assert translate_escaped(FileNotFoundError("x")) is None
    assert translate_escaped(KeyError("x")) is None
