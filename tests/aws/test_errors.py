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

from pipeline.aws.errors import aws_errors, error_code, sink_errors, translate
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
        "(PutRecords: ResourceNotFoundException: the service's words)",
    ),
    (client_error("NoSuchBucket"), ResourceMissingError, None),
    (client_error("NoSuchKey"), ResourceMissingError, None),
    (
        client_error("404", ""),
        ResourceMissingError,
        "Kinesis stream 'events' does not exist (PutRecords: 404)",
    ),
    (
        client_error("AccessDeniedException"),
        AccessDeniedError,
        "access denied: PutRecords on Kinesis stream 'events' "
        "(AccessDeniedException: the service's words)",
    ),
    (client_error("AccessDenied"), AccessDeniedError, None),
    (client_error("UnauthorizedOperation"), AccessDeniedError, None),
    (
        client_error("ExpiredTokenException"),
        CredentialsError,
        "no valid AWS credentials for PutRecords on Kinesis stream 'events' "
        "(ExpiredTokenException: the service's words)",
    ),
    (client_error("ExpiredToken"), CredentialsError, None),
    (client_error("InvalidClientTokenId"), CredentialsError, None),
    (client_error("UnrecognizedClientException"), CredentialsError, None),
    (
        NoCredentialsError(),
        CredentialsError,
        "no valid AWS credentials for PutRecords on Kinesis stream 'events' "
        "(Unable to locate credentials)",
    ),
    (
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9/"),
        EndpointUnreachableError,
        "cannot reach the endpoint for PutRecords on Kinesis stream 'events' "
        '(Could not connect to the endpoint URL: "http://127.0.0.1:9/")',
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
