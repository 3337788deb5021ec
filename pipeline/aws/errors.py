"""The one place that turns botocore's exceptions into the project's errors.

Adapters wrap each AWS call in :func:`aws_errors` (or :func:`sink_errors` where the failure means
"not durable"), naming the operation and the resource, so every failure reaches the user as one
of :mod:`pipeline.core.errors`' kinds with one line that says what was called on what, why it
failed and, for the kinds a person can act on (missing or expired credentials, an unreachable
endpoint, a refusal by IAM, a missing resource), the fix. Adapters that decide something from an
error code (an item that already exists, a throttled call to retry) read it with
:func:`error_code` before translating what is left, and retry only what :func:`retryable` allows.

pyarrow's S3 filesystem (lake reads, report files) fails with an ``OSError`` that carries the AWS
SDK for C++'s error name instead: :func:`arrow_errors` translates those the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
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

#: Codes of a resource that does not exist (HEAD requests answer with the bare HTTP status)
MISSING = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchBucket",
        "NoSuchKey",
        "NotFound",
        "404",
        "EntityNotFoundException",
        "NotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
    }
)
#: Codes of a request refused by IAM (besides every ``AccessDenied*``)
DENIED = frozenset({"UnauthorizedOperation", "AuthorizationError", "Forbidden", "403"})
#: Codes of credentials AWS does not accept
BAD_CREDENTIALS = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidAccessKeyId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
    }
)
#: Codes of a request that is invalid as sent: sending it again fails the same way
INVALID = frozenset(
    {
        "InvalidArgumentException",
        "InvalidParameterException",
        "InvalidParameterValueException",
        "InvalidParameterValue",
        "ValidationException",
        "ValidationError",
        "SerializationException",
        "MissingParameter",
    }
)
#: What a boto3 call raises: the service's refusal, or a failure on the client's side
AwsFailure = (ClientError, BotoCoreError)

_MESSAGES: dict[type[PipelineError], str] = {
    ResourceMissingError: "{resource} does not exist ({operation}: {detail})",
    AccessDeniedError: "access denied: {operation} on {resource} ({detail})",
    CredentialsError: "no valid AWS credentials for {operation} on {resource} ({detail})",
    EndpointUnreachableError: "cannot reach the endpoint for {operation} on {resource} ({detail})",
    AwsError: "{operation} on {resource} failed ({detail})",
}
#: What a person does about each kind (the end of its message)
FIXES: dict[type[PipelineError], str] = {
    ResourceMissingError: "create it (pipeline provision, or deploy the stack's template) or "
    "check its name under [names] and aws.region in the configuration",
    AccessDeniedError: "allow {operation} on it in the IAM policy of the credentials in use "
    "(pipeline template writes the policy each role needs)",
    CredentialsError: "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; renew "
    "expired ones (aws sso login); or give --endpoint-url to use the emulator",
    EndpointUnreachableError: "check --endpoint-url (aws.endpoint_url: is the emulator running?), "
    "aws.region and the network",
}


def error_code(exc: BaseException) -> str | None:
    """AWS's error code of a failed call (``ClientError``), None for any other exception."""
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") or None
    return None


def _kind(code: str) -> type[PipelineError]:
    if code in MISSING:
        return ResourceMissingError
    if code.startswith("AccessDenied") or code in DENIED:
        return AccessDeniedError
    if code in BAD_CREDENTIALS:
        return CredentialsError
    return AwsError


def classify(code: str, message: str, operation: str, resource: str) -> PipelineError:
    """The error for AWS's ``code`` (of a call, or of one entry of a batch call)."""
    detail = ": ".join(part for part in (code, message) if part) or "no error code"
    return _error(_kind(code), code, detail, operation, resource)


def translate(exc: BaseException, operation: str, resource: str) -> PipelineError:
    """The project's error for a botocore exception raised by ``operation`` on ``resource``."""
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message") or ""
        error = classify(error_code(exc) or "", message, operation, resource)
    else:
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            kind: type[PipelineError] = CredentialsError
        elif isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
            kind = EndpointUnreachableError
        else:
            kind = AwsError
        error = _error(kind, type(exc).__name__, str(exc), operation, resource)
    error.__cause__ = exc
    return error


def _error(
    kind: type[PipelineError], code: str, detail: str, operation: str, resource: str
) -> PipelineError:
    message = _MESSAGES[kind].format(
        operation=operation, resource=resource, detail=" ".join(detail.split())
    )
    if kind in FIXES:
        message += "; fix: " + FIXES[kind].format(operation=operation)
    if issubclass(kind, AwsError):
        return kind(message, code, operation, resource)
    return kind(message)


def retryable(error: PipelineError) -> bool:
    """Whether the same call may succeed if sent again (throttling, 5xx, a timeout): never for
    a missing resource, a refusal, bad credentials, an unreachable endpoint (botocore already
    retried the connection) or an invalid request."""
    if isinstance(
        error,
        ResourceMissingError | AccessDeniedError | CredentialsError | EndpointUnreachableError,
    ):
        return False
    return not (isinstance(error, AwsError) and error.code in INVALID)


def amended(error: PipelineError, note: str) -> PipelineError:
    """The same kind of error, with the same cause, its message followed by ``note``."""
    message = f"{error} {note}"
    if isinstance(error, AwsError):
        new: PipelineError = type(error)(message, error.code, error.operation, error.resource)
    else:
        new = type(error)(message)
    new.__cause__ = error.__cause__
    return new


@contextmanager
def aws_errors(operation: str, resource: str) -> Iterator[None]:
    """Raise the project's error for any botocore exception of the calls inside."""
    try:
        yield
    except AwsFailure as exc:
        raise translate(exc, operation, resource) from exc


def raise_sink_error(what: str, exc: BaseException, operation: str, resource: str) -> NoReturn:
    """Raise a :class:`SinkError` (the checkpoint must not advance) saying ``what`` failed,
    caused by the translated error (which names the kind of failure)."""
    error = translate(exc, operation, resource)
    raise SinkError(f"{what}: {error}") from error


@contextmanager
def sink_errors(what: str, operation: str, resource: str) -> Iterator[None]:
    """As :func:`aws_errors`, for a sink's calls: :func:`raise_sink_error`."""
    try:
        yield
    except AwsFailure as exc:
        raise_sink_error(what, exc, operation, resource)


#: pyarrow's S3 errors: ``AWS Error <NAME> during <Operation> operation: <message>``
_ARROW_ERROR = re.compile(
    r"AWS Error (?P<name>\w+)(?: \(HTTP status (?P<status>\d+)\))? "
    r"during (?P<operation>\w+) operation: (?P<detail>.*)",
    re.S,
)
_ARROW_CODE = re.compile(r"ExceptionName: (\w+)")
_ARROW_BUCKET = re.compile(r"in bucket '([^']+)'")
#: The AWS SDK for C++'s error names (and bare HTTP statuses) by kind
_ARROW_KINDS: dict[str, type[PipelineError]] = {
    "NO_SUCH_BUCKET": ResourceMissingError,
    "NO_SUCH_KEY": ResourceMissingError,
    "RESOURCE_NOT_FOUND": ResourceMissingError,
    "404": ResourceMissingError,
    "ACCESS_DENIED": AccessDeniedError,
    "403": AccessDeniedError,
    "INVALID_ACCESS_KEY_ID": CredentialsError,
    "SIGNATURE_DOES_NOT_MATCH": CredentialsError,
    "MISSING_AUTHENTICATION_TOKEN": CredentialsError,
    "INVALID_CLIENT_TOKEN_ID": CredentialsError,
    "EXPIRED_TOKEN": CredentialsError,
    "NETWORK_CONNECTION": EndpointUnreachableError,
}


def translate_arrow(exc: BaseException, resource: str | None = None) -> PipelineError | None:
    """The project's error for a failure of pyarrow's S3 filesystem on ``resource`` (default:
    the bucket its message names), raised by pyarrow or by DuckDB reading through it; None if
    ``exc`` is not one (a local file's error, say)."""
    text = " ".join(str(exc).split())
    match = _ARROW_ERROR.search(text)
    if match is None:
        return None
    name, status, detail = match["name"], match["status"], match["detail"]
    # an error the SDK has no name for: S3's own code is in the text (ExpiredToken, say)
    code = _ARROW_CODE.search(detail)
    if code is not None:
        kind = _kind(code[1])
    else:
        kind = _ARROW_KINDS.get(name) or _ARROW_KINDS.get(status or "") or AwsError
    if resource is None:
        bucket = _ARROW_BUCKET.search(text)
        resource = f"S3 bucket {bucket[1]!r}" if bucket else "S3"
    label = name if status is None else f"{name} {status}"
    error = _error(kind, name, f"{label}: {detail}", match["operation"], resource)
    error.__cause__ = exc
    return error


def translate_escaped(exc: BaseException) -> PipelineError | None:
    """The project's error for a botocore or pyarrow S3 failure that reached a command
    untranslated (an adapter should have named its resource); None for anything else."""
    if isinstance(exc, ClientError):
        return translate(exc, exc.operation_name, "an AWS resource")
    if isinstance(exc, BotoCoreError):
        return translate(exc, "an AWS call", "an AWS resource")
    if isinstance(exc, OSError):
        return translate_arrow(exc)
    return None


@contextmanager
def arrow_errors(resource: str) -> Iterator[None]:
    """Raise the project's error for a failure of pyarrow's S3 filesystem inside (the
    operation is the one pyarrow names); other errors pass through."""
    try:
        yield
    except OSError as exc:
        error = translate_arrow(exc, resource)
        if error is None:
            raise
        raise error from exc
