"""One error hierarchy for the whole library.

Adapters translate botocore errors into these so that callers (CLIs, engines) can tell a bad
input (the user's to fix) from a sink outage (retry, never skip) without knowing boto3.
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
