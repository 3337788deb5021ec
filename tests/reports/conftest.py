"""Seeded lakes written once per session and only read by the tests (the emulator allows 50
Firehose delivery streams per account: each provisioned lake takes four)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from producers.synthetic import SyntheticSource
from tests.reports.lake_run import (
    START_MS,
    TELEMETRY_EXAMPLE,
    Lake,
    Sent,
    iot_records,
    lake_config,
    shard_of,
    web_records,
    write_to_lake,
)


def _lake(emulator, event_type: str, sent) -> Iterator[Lake]:
    config = lake_config(emulator.endpoint_url, f"g{uuid.uuid4().hex[:10]}", event_type)
    lake = Lake(config, sent)
    write_to_lake(config, lake.clients, sent)
    lake.session.refresh()
    yield lake
    lake.session.close()


@pytest.fixture(scope="session")
def iot_lake(emulator) -> Iterator[Lake]:
    """8 devices for 6 minutes (one falls silent, one has a gap), duplicates, 4 late events and
    4 bad records."""
    yield from _lake(emulator, "iot", iot_records(devices=8, minutes=6, seed=7))


@pytest.fixture(scope="session")
def web_lake(emulator) -> Iterator[Lake]:
    """20 seconds of clicks from 40 users."""
    yield from _lake(emulator, "web", web_records(seconds=20, seed=3))


@pytest.fixture(scope="session")
def telemetry_lake(emulator) -> Iterator[Lake]:
    """12 minutes of synthetic telemetry events from 30 devices (examples/telemetry.toml)."""
    config = lake_config(
        emulator.endpoint_url, f"g{uuid.uuid4().hex[:10]}", "telemetry", TELEMETRY_EXAMPLE
    )
    source = SyntheticSource(config.stream_type, keys=30, seed=4, start_ms=START_MS)
    sent = Sent({})
    for block in source.blocks(START_MS + 12 * 60_000):
        for key, data in zip(block.keys, block.data, strict=True):
            sent.records.setdefault(shard_of(key), []).append(data)
    lake = Lake(config, sent)
    write_to_lake(config, lake.clients, sent)
    yield lake
    lake.session.close()
