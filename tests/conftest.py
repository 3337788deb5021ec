"""One embedded emulator for the emulator tests, and boto3 clients with dummy credentials."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from pipeline.emulator import EmbeddedEmulator

REGION = "us-east-1"


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmbeddedEmulator]:
    with EmbeddedEmulator() as running:
        yield running


@pytest.fixture(scope="session")
def client(emulator: EmbeddedEmulator) -> Callable[[str], Any]:
    """``client("kinesis")``: a boto3 client of the emulator (the server needs no credentials)."""

    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=emulator.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return make


@pytest.fixture
def name() -> str:
    """A fresh resource name: the emulator (and moto's state) is shared by the whole session."""
    return f"t{uuid.uuid4().hex[:12]}"
