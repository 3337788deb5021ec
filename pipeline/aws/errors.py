"""The one place that turns botocore's exceptions into the project's errors.

Adapters wrap each AWS call in :func:`aws_errors` (or :func:`sink_errors` where the failure means
"not durable"), naming the operation and the resource, so every failure reaches the user as one
of :mod:`pipeline.core.errors`' kinds with a message that says what was called on what and why it
failed. Adapters that decide something from an error code (an item that already exists, a
throttled call to retry) read it with :func:`error_code` before translating what is left.
"""

from __future__ import annotations

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
#: What a boto3 call raises: the service's refusal, or a failure on the client's side
AwsFailure = (ClientError, BotoCoreError)

_MESSAGES: dict[type[PipelineError], str] = {
    ResourceMissingError: "{resource} does not exist ({operation}: {detail})",
    AccessDeniedError: "access denied: {operation} on {resource} ({detail})",
    CredentialsError: "no valid AWS credentials for {operation} on {resource} ({detail})",
    EndpointUnreachableError: "cannot reach the endpoint for {operation} on {resource} ({detail})",
    AwsError: "{operation} on {resource} failed ({detail})",
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
    message = _MESSAGES[kind].format(operation=operation, resource=resource, detail=detail)
    if issubclass(kind, AwsError):
        return kind(message, code, operation, resource)
    return kind(message)


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
