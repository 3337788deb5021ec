"""The one place that builds boto3 clients (endpoint, region, retries, timeouts).

The endpoint comes from the configuration (``aws.endpoint_url``) or, when that is empty, from
boto3's own ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` variables, so the same code runs
against the embedded emulator and against AWS. Credentials come only from boto3's chain; against a
loopback endpoint with no credentials configured, the emulator's dummy ones are used.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config as BotoConfig

from pipeline.config import AwsConfig

EMULATOR_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def is_loopback(endpoint_url: str) -> bool:
    host = urlparse(endpoint_url).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1")


class AwsClients:
    """Lazily built, shared clients for one configuration (boto3 clients are thread-safe)."""

    def __init__(self, aws: AwsConfig, max_pool_connections: int = 16) -> None:
        self.aws = aws
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._session = boto3.session.Session(region_name=aws.region)
        self._credentials: dict[str, str] = {}
        emulated = bool(aws.endpoint_url) and is_loopback(aws.endpoint_url)
        if emulated and self._session.get_credentials() is None:
            self._credentials = dict(EMULATOR_CREDENTIALS)
        self._botocore_config = BotoConfig(
            region_name=aws.region,
            retries={"mode": "standard", "max_attempts": aws.max_attempts},
            connect_timeout=aws.connect_timeout_s,
            read_timeout=aws.read_timeout_s,
            max_pool_connections=max_pool_connections,
        )

    def credentials_source(self) -> str | None:
        """Where boto3's chain found credentials (``env``, ``shared-credentials-file``,
        ``iam-role``, ...); None if it found none."""
        credentials = self._session.get_credentials()
        return None if credentials is None else credentials.method

    def credentials_environment(self) -> dict[str, str]:
        """The emulator's dummy credentials as environment variables when these clients use them
        (else none), for processes that build their own clients (the KCL daemon)."""
        return {name.upper(): value for name, value in self._credentials.items()}

    @property
    def session(self) -> boto3.session.Session:
        """The boto3 session, for libraries that build their own clients (awswrangler)."""
        return self._session

    def client(self, service: str) -> Any:
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                client = self._session.client(
                    service,
                    endpoint_url=self.aws.endpoint_url or None,
                    config=self._botocore_config,
                    **self._credentials,
                )
                self._clients[service] = client
            return client

    @property
    def kinesis(self) -> Any:
        return self.client("kinesis")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def firehose(self) -> Any:
        return self.client("firehose")

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def glue(self) -> Any:
        return self.client("glue")

    def arrow_s3_filesystem(self) -> Any:
        """A pyarrow S3 filesystem on the same endpoint (pyarrow ignores AWS_ENDPOINT_URL)."""
        from pyarrow import fs

        credentials = self._session.get_credentials()
        kwargs: dict[str, Any] = {"region": self.aws.region}
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            kwargs.update(
                access_key=frozen.access_key,
                secret_key=frozen.secret_key,
                session_token=frozen.token,
            )
        elif self._credentials:
            kwargs.update(
                access_key=self._credentials["aws_access_key_id"],
                secret_key=self._credentials["aws_secret_access_key"],
            )
        endpoint = self.aws.endpoint_url
        if endpoint:
            parsed = urlparse(endpoint)
            kwargs.update(endpoint_override=parsed.netloc, scheme=parsed.scheme or "https")
        return fs.S3FileSystem(**kwargs)
