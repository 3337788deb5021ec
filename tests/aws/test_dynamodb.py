"""DynamoDB: window results merged idempotently across shards under throttling; checkpoints;
a failure is a SinkError caused by the translated error."""

from __future__ import annotations

import pytest

from pipeline.aws.dynamodb import CheckpointTable, ResultsTable
from pipeline.config import shipped_event_type as event_type
from pipeline.core.errors import ResourceMissingError, SinkError
from pipeline.core.records import Checkpoint
from pipeline.core.shard import ShardCore
from pipeline.testing import iot_event, records
from tests.faults import FlakyDynamoDB
from tests.oracle import oracle

pytestmark = pytest.mark.emulator
T0 = 1_767_225_600_000


def test_results_table_merges_parts_of_shards_idempotently_under_throttling(provisioned, no_wait):
    config, clients = provisioned
    (job,) = config.jobs_for("iot")
    flaky = FlakyDynamoDB(clients.dynamodb, throttle_rate=0.3, seed=1)
    table = ResultsTable(flaky, config.names.results_table, [job], backoff=no_wait)
    core = {s: ShardCore(event_type("iot"), [job], s) for s in ("shard-a", "shard-b")}
    events = {
        "shard-a": [
            iot_event(i, T0 + i * 1000, device=f"d{i % 3}", temperature=float(i)) for i in range(30)
        ],
        "shard-b": [
            iot_event(100 + i, T0 + i * 1500, device=f"d{i % 3}", temperature=float(-i))
            for i in range(40)
        ],
    }
    rows = {}
    for shard, shard_events in events.items():
        core[shard].process(records(shard_events))
        parts = core[shard].close_windows().results
        for row in table.write(parts, shard) + table.write(parts, shard):  # and its replay
            rows[row["result_id"]] = row
    assert flaky.throttled > 0
    every = events["shard-a"] + events["shard-b"]
    expected, _ = oracle(every, 60_000, 10**9, ("device_id", "device_type", "site"))
    items = {(i["device_id"], i["sk"]): i for i in table.scan() if i["job"] == job.name}
    assert {k: i["events"] for k, i in items.items()} == {
        (k[1][0], k[0]): e["events"] for k, e in expected.items()
    }
    for (device, start), item in items.items():
        want = expected[(start, (device, "thermostat", "site-1"))]
        assert (item["temperature_min"], item["temperature_max"]) == (
            want["temperature_min"],
            want["temperature_max"],
        )
        assert item["temperature_avg"] == pytest.approx(want["temperature_avg"], rel=1e-12)
        assert item["shards"] in ("shard-a", "shard-b", "shard-a,shard-b")
        assert (
            rows[item["result_id"]]["version"] == item["version"]
        )  # the lake gets the last version


def test_every_write_of_a_result_sets_expires_at_to_its_time_plus_the_retention(provisioned):
    """DynamoDB's TTL reads epoch seconds: a window's first part, a replay (no write: unchanged)
    and a later part from another shard (a write: pushed back)."""
    config, clients = provisioned
    (job,) = config.jobs_for("iot")
    now = [1_800_000_000.75]
    table = ResultsTable(
        clients.dynamodb,
        config.names.results_table,
        [job],
        retention_s=config.results.retention_s,
        clock=lambda: now[0],
    )
    assert config.results.retention_s == 30 * 86_400  # results.retention = "30d"
    device = f"ttl-{T0}"
    parts = {}
    for shard, event_id in (("shard-a", 1), ("shard-b", 2)):
        core = ShardCore(event_type("iot"), [job], shard)
        core.process(records([iot_event(event_id, T0 - 3_600_000, device=device)]))
        parts[shard] = core.close_windows().results

    def expires_at() -> int:
        (item,) = [i for i in table.scan() if i.get("device_id") == device]
        assert "expires_at" not in item  # housekeeping, not a result's column
        key = {"pk": {"S": item["pk"]}, "sk": {"N": str(item["sk"])}}
        stored = clients.dynamodb.get_item(TableName=table.table, Key=key)["Item"]
        return int(stored["expires_at"]["N"])

    (row,) = table.write(parts["shard-a"], "shard-a")
    assert "expires_at" not in row  # the lake's row is unchanged
    assert expires_at() == 1_800_000_000 + 2_592_000
    now[0] += 100
    assert table.write(parts["shard-a"], "shard-a") == [row]  # a replay writes nothing
    assert expires_at() == 1_800_000_000 + 2_592_000
    (merged,) = table.write(parts["shard-b"], "shard-b")
    assert merged["version"] == 2 and "expires_at" not in merged
    assert expires_at() == 1_800_000_100 + 2_592_000


def test_checkpoint_table_round_trip(provisioned):
    config, clients = provisioned
    table = CheckpointTable(clients.dynamodb, config.names.state_table, "app")
    assert table.get("shard-9") is None
    table.set("shard-9", Checkpoint("123", 4))
    assert table.get("shard-9") == Checkpoint("123", 4)


def test_a_missing_table_is_a_sink_error_caused_by_the_missing_resource(provisioned, name):
    config, clients = provisioned
    with pytest.raises(SinkError) as failed:
        CheckpointTable(clients.dynamodb, name, "app").set("shard-1", Checkpoint("1"))
    cause = failed.value.__cause__
    assert isinstance(cause, ResourceMissingError)
    assert str(failed.value) == f"cannot write checkpoint of shard-1: {cause}"
    assert str(cause).startswith(f"DynamoDB table {name!r} does not exist (PutItem: ")

    (job,) = config.jobs_for("iot")
    core = ShardCore(event_type("iot"), [job], "shard-a")
    core.process(records([iot_event(1, T0)]))
    with pytest.raises(SinkError) as failed:
        ResultsTable(clients.dynamodb, name, [job]).write(core.close_windows().results, "shard-a")
    assert isinstance(failed.value.__cause__, ResourceMissingError)
    assert str(failed.value).startswith(
        f"cannot write window results: DynamoDB table {name!r} does not exist "
        "(TransactWriteItems: ResourceNotFoundException: "
    )
