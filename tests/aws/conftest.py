"""One provisioned configuration on the embedded emulator for every adapter test."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.aws.clients import AwsClients
from pipeline.aws.provision import Provisioner
from pipeline.aws.retry import Backoff
from pipeline.config import Config, load_config


@pytest.fixture(scope="session")
def provisioned(emulator) -> tuple[Config, AwsClients]:
    config = load_config(env={}).with_endpoint(emulator.endpoint_url)
    names = dataclasses.replace(
        config.names,
        stream="adapters-stream",
        results_table="adapters-results",
        state_table="adapters-state",
        bucket="adapters-lake",
        state_bucket="adapters-state",
        glue_database="adapters",
        firehose_prefix="adapters-",
    )
    config = dataclasses.replace(config, names=names)
    clients = AwsClients(config.aws)
    Provisioner(config, clients).run()
    return config, clients


@pytest.fixture
def no_wait() -> Backoff:
    """Backoff that retries at once (many attempts: injected failures are frequent)."""
    return Backoff(base_s=0.0, max_attempts=30, sleep=lambda _: None)
