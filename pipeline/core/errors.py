"""One error hierarchy for the whole library.

Adapters translate botocore errors into these (in one place, :mod:`pipeline.aws.errors`) so that
callers (CLIs, engines) can tell a bad input (the user's to fix) from a sink outage (retry, never
skip), a missing resource, missing permissions or credentials, without knowing boto3.
"""


class PipelineError(Exception):
    """Base of every error the library raises on purpose."""


class ConfigError(PipelineError):
    """The configuration (file, environment or options) is invalid; the message names the key."""


class SinkError(PipelineError):
    """A sink could not make records durable. The checkpoint must not advance past them."""


class DeliveryError(PipelineError):
    """A producer gave up on records after its retries; ``undelivered`` says how many."""

    def __init__(self, message: str, delivered: int, undelivered: int) -> None:
        super().__init__(message)
        self.delivered = delivered
        self.undelivered = undelivered


class ResourceMissingError(PipelineError):
    """A stream, table, bucket or delivery stream the pipeline needs does not exist."""


class StateError(PipelineError):
    """A consumer state snapshot is missing or unreadable where one must exist."""


class AwsError(PipelineError):
    """An AWS call failed; ``code`` (AWS's error code or botocore's exception name),
    ``operation`` and ``resource`` say which. Subclasses are the kinds with a known remedy."""

    def __init__(self, message: str, code: str, operation: str, resource: str) -> None:
        super().__init__(message)
        self.code = code
        self.operation = operation
        self.resource = resource


class AccessDeniedError(AwsError):
    """The credentials are valid but not allowed this operation on this resource (IAM policy)."""


class CredentialsError(AwsError):
    """No AWS credentials were found, or they are expired or unknown to AWS."""


class EndpointUnreachableError(AwsError):
    """The service endpoint did not answer the connection (network, endpoint URL, emulator down)."""
