"""The capacity and cost planner against hand-computed cases (prices of the 2026-11-24 file).

Units: MiB = 1,048,576 B, GiB = 2**30 B, TiB = 2**40 B, a month = 730 h = 2,628,000 s; headroom
25% unless said. Each expected figure is worked out in the comment above it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from importlib import resources

import pytest
from click.testing import CliRunner

from pipeline.aws.stream_scaler import next_count, shards_for
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.core.errors import ConfigError
from pipeline.planner import JobLoad, Workload, load_prices, make_plan, workload_from_config
from pipeline.planner.prices import Prices

PRICE_FILE = "prices_us-east-1_2026-11-24.toml"


@pytest.fixture(scope="module")
def prices() -> Prices:
    text = resources.files("pipeline.planner").joinpath(PRICE_FILE).read_text("utf-8")
    return Prices.parse(text, PRICE_FILE)


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


def minute_job(groups: int) -> JobLoad:
    return JobLoad("device_minute", Decimal(60), groups, grouped=True)


def test_small_iot_fleet(prices):
    """100 events/s of 300 B, 1,000 devices in 1-minute windows, ratio 0.14."""
    w = Workload(Decimal(100), 300, (minute_job(1000),), parquet_ratio=Decimal("0.14"))
    plan = make_plan(w, prices)
    # writes: max(30,000 B/s / 1 MiB, 100 / 1,000) * 1.25 = 0.125 -> 1 shard; reads and
    # processing 1; 1 consumer * 1000/200 ms = 5 GetRecords/s per shard: polling is allowed
    assert (plan.stream.write_shards, plan.stream.read_shards, plan.stream.processing_shards) == (
        1,
        1,
        1,
    )
    assert (plan.shards, plan.fan_out, plan.workers) == (1, False, 1)
    assert plan.stream.polling_calls == 5
    # 1 shard * 730 h * 0.015 = 10.95; 100 records/s * 1 PUT unit * 2,628,000 s = 262.8 M * 0.014
    # = 3.6792
    assert plan.kinesis_provisioned == Decimal("14.6292")
    # 730 * 0.04 = 29.2; 100 * 1,024 B (rounded to 1 KiB) * 2,628,000 s / 2**30 = 250.62561035...
    # GiB in, and out once: * (0.08 + 0.04) = 30.0750732421875
    assert plan.kinesis_on_demand == Decimal("59.2750732421875")
    assert not plan.on_demand_stream
    events, results = plan.deliveries
    # rows of 300 + 136 B; 64 MiB fill in 1,539 s > 60 s: a delivery every 60 s
    assert (events.row_bytes, events.delivery_s, events.objects_month) == (436, 60, 43_800)
    # a GetRecords batch of the shard: 100 events/s * 200 ms = 20 rows, 8,720 B packed in one
    # record billed 2 * 5 KiB = 10,240 B; 5 batches/s: 5 * 10,240 * 2,628,000 / 2**30 (one row
    # per record was 100 * 5,120 * 2,628,000 / 2**30 = 1,253.13 GiB)
    assert (events.packing.rows_per_put, events.packing.records_per_put) == (20, 1)
    assert events.billed_gib_month == Decimal("125.31280517578125")
    # a window close: 1,000 results of 1,024 B in one 1,000 KiB record (200 * 5 KiB exactly)
    # once a minute: 1,024,000 * 2,628,000 / 60 / 2**30 = 41.77 GiB (was 208.85)
    assert (results.packing.rows_per_put, results.packing.records_per_put) == (1000, 1)
    assert cents(results.billed_gib_month) == Decimal("41.77")
    # (125.3128... + 41.7709...) * (0.029 + 0.018)
    costs = {line.item: line.monthly for line in plan.costs}
    assert cents(costs["Firehose"]) == Decimal("7.85")
    # 1,000 groups * 2 units (transactional put of <= 1 KiB) / 60 s = 33.33 units/s
    assert cents(plan.results.write_units_per_s) == Decimal("33.33")
    assert (plan.results.read_units_per_s, plan.results.burst_write_units) == (0, 2000)
    # on-demand: 33.33 * 2,628,000 / 1e6 * 0.625 = 54.75; provisioned ceil(33.33 * 1.25) = 42
    # WCU and 1 RCU: 730 * (42 * 0.00065 + 0.00013) = 20.0239, and 2,000 <= 300 s * 42
    assert cents(plan.results_on_demand) == Decimal("54.75")
    assert (plan.results.provisioned_wcu, plan.results.provisioned_rcu) == (42, 1)
    assert plan.results_provisioned == Decimal("20.0239")
    assert plan.provisioned_results
    # lease table: 1 shard * (0.3 renewals + 1/5 s checkpoints) = 0.5 writes/s -> 1.314 M * 0.625
    assert costs["KCL lease table"] == Decimal("0.82125")
    # snapshots: 2 requests * 2,628,000 / 5 s = 1,051,200 -> 1,051.2 * 0.005
    assert costs["S3 state snapshots"] == Decimal("5.256")
    # a day of events: 100 * 436 * 86,400 * 0.14 = 527,385,600 B -> 503 MiB billed;
    # 24 * 730/24 = 730 reports * 527,433,728 / 2**40 * 5 = 1.7509
    assert plan.scan.billed_bytes == 503 * 1_048_576
    assert cents(costs["Athena reports"]) == Decimal("1.75")
    # 730 h * (1 vCPU * 0.04048 + 2 GiB * 0.004445)
    assert costs["KCL workers (Fargate)"] == Decimal("36.0401")
    # 30 days of results (results.retention; the TTL deletes older ones): 1,000/60 items/s *
    # 1,024 B * 2,592,000 s / 2**30 = 41.2 GiB * 0.25
    assert cents(costs["DynamoDB storage"]) == Decimal("10.30")
    assert cents(costs["S3 lake"]) == Decimal("0.92")
    # 14.6292 + 36.0401 + 0.82125 + 7.8529 + 20.0239 + 10.2997 + 0.9161 + 5.256 + 1.7509
    assert cents(plan.total) == Decimal("97.59")


def test_large_fleet_is_bound_by_records_and_exceeds_a_firehose_quota(prices):
    """50,000 events/s of 200 B, 200,000 devices, 48 h retention."""
    w = Workload(Decimal(50_000), 200, (minute_job(200_000),), retention_hours=48)
    plan = make_plan(w, prices)
    # writes: max(9.54 MiB/s, 50 k records/s / 1,000) * 1.25 = 62.5 -> 63; reads
    # ceil(62,500 * 200 / 2 MiB) = 6; processing ceil(62,500 / 20,000) = 4
    assert (plan.stream.write_shards, plan.stream.read_shards, plan.stream.processing_shards) == (
        63,
        6,
        4,
    )
    assert (plan.shards, plan.workers) == (63, 4)
    # 63 * 730 * (0.015 + 0.020 extended retention) = 1,609.65; 50,000 * 2,628,000 / 1e6 * 0.014
    # = 1,839.6
    assert plan.kinesis_provisioned == Decimal("3449.25")
    # 29.2 + 50,000 * 1 KiB * 2,628,000 / 2**30 GiB * (0.08 + 0.04) + the 24 extra hours stored
    # (50,000 KiB/s * 86,400 s / 2**30 = 4,119.87 GiB) * 0.10
    assert plan.kinesis_on_demand == Decimal("15478.72392578125")
    # 62,500 rows/s * 336 B = 20.03 MiB/s: 4.0 times the 5 MiB/s of one delivery stream
    assert plan.quota.bytes_share == Decimal("4.00543212890625")
    assert not plan.quota.within
    assert any("Firehose quota" in text for text in plan.warnings)
    # the buffer fills in 64 MiB / (50,000 * 336 B/s) = 3.99 s
    assert cents(plan.deliveries[0].delivery_s) == Decimal("3.99")
    # 200,000 * 2 / 60 = 6,666.67 units/s -> 8,334 WCU; a window close (400,000 units) fits in
    # 300 s of banked capacity (2,500,200)
    assert (plan.results.provisioned_wcu, plan.results.burst_write_units) == (8334, 400_000)
    assert plan.results_provisioned == Decimal("3954.5779")
    assert cents(plan.results_on_demand) == Decimal("10950.00")
    costs = {line.item: line.monthly for line in plan.costs}
    assert costs["KCL workers (Fargate)"] == Decimal("144.1604")


def test_packed_records_and_expiring_results_bring_the_issue_15_load_under_600(prices):
    """1,000 events/s of 300 B, 10,000 devices (issue 15: $1,119 a month, Firehose $687)."""
    config = load_config(env={})
    plan = make_plan(
        workload_from_config(config, Decimal(1000), 300, {"device_minute": 10_000}), prices
    )
    assert plan.shards == 2
    events, results = plan.deliveries
    # a shard's batch: 500 events/s * 200 ms = 100 rows * 436 B = 43,600 B in one record, billed
    # 9 * 5 KiB = 46,080 B; 10 batches/s: 10 * 46,080 * 2,628,000 / 2**30 (was 12,531.28 GiB)
    assert (events.packing.rows_per_put, events.packing.billed_bytes_per_put) == (100, 46_080)
    assert events.billed_gib_month == Decimal("1127.81524658203125")
    # a shard's window close: 5,000 results = 5 records of 1,000 KiB, billed as they are:
    # 10,000/60 * 1,024 * 2,628,000 / 2**30 = 417.71 GiB
    assert (results.packing.rows_per_put, results.packing.records_per_put) == (5000, 5)
    assert cents(results.billed_gib_month) == Decimal("417.71")
    costs = {line.item: line.monthly for line in plan.costs}
    # (1,127.82 + 417.71) * 0.047
    assert cents(costs["Firehose"]) == Decimal("72.64")
    assert cents(plan.total) == Decimal("503.21")
    assert costs["Firehose"] < 150 and plan.total < 600


def test_the_record_size_and_the_results_retention_come_from_the_configuration(prices):
    env = {"PIPELINE_FIREHOSE_RECORD_KIB": "5", "PIPELINE_RESULTS_RETENTION": "7d"}
    config = load_config(env=env)
    w = workload_from_config(config, Decimal(1000), 300, {"device_minute": 10_000})
    assert (w.record_kib, w.results_retention_s) == (5, 7 * 86_400)
    plan = make_plan(w, prices)
    events, results = plan.deliveries
    # 5 KiB records: 11 rows of 436 B each (4,796 B) -> 100 rows in 9 full records and one of 1
    assert (events.packing.records_per_put, events.packing.billed_bytes_per_put) == (10, 51_200)
    # 5 results of 1,024 B per 5 KiB record: 1,000 records per close, billed as they are
    assert results.packing.records_per_put == 1000
    default = make_plan(
        workload_from_config(load_config(env={}), Decimal(1000), 300, {"device_minute": 10_000}),
        prices,
    )
    storage = {line.item: line.monthly for line in plan.costs}["DynamoDB storage"]
    thirty_days = {line.item: line.monthly for line in default.costs}["DynamoDB storage"]
    assert storage == thirty_days * 7 / 30
    line = next(line for line in plan.costs if line.item == "DynamoDB storage")
    assert line.detail == "results kept 7d (TTL)"


def test_three_polling_consumers_need_enhanced_fan_out(prices):
    """1,000 events/s of 1,000 B read by 3 applications polling every 200 ms."""
    w = Workload(Decimal(1000), 1000, (), consumers=3)
    plan = make_plan(w, prices)
    # 3 * 5 = 15 GetRecords/s per shard > 5: fan-out; shards only for writes, 1.25 * 1,000 -> 2
    assert plan.stream.polling_calls == 15 and not plan.stream.polling_possible
    assert (plan.fan_out, plan.shards) == (True, 2)
    # 2 * 730 * 0.015 = 21.9; PUTs 36.792; EFO 3 * 2 * 730 * 0.015 = 65.7 and
    # 3 * (1,000,000 B/s * 2,628,000 / 2**30 = 2,447.53 GiB) * 0.013 = 95.4531...
    assert plan.kinesis_provisioned == Decimal("219.8451133174896240234375")
    # 29.2 + 2,506.26 GiB (1 KiB records) * 0.08 + 3 consumers * 2,506.26 * 0.05 (fan-out)
    assert plan.kinesis_on_demand == Decimal("605.63890380859375")
    assert any("GetRecords" in text for text in plan.warnings)


def test_a_global_job_gets_a_part_from_every_shard(prices):
    """The web per-second rollup (no group_by): one result per second, a part per shard."""
    config = load_config(env={"PIPELINE_STREAM_EVENT_TYPE": "web"})
    w = workload_from_config(config, Decimal(2000), 400)
    assert w.jobs == (JobLoad("web_second", Decimal(1), 1, grouped=False),)
    plan = make_plan(w, prices)
    # writes: max(0.76 MiB/s, 2 k/1,000) * 1.25 = 2.5 -> 3 shards: per second 1 transactional
    # put (2 units) + 2 merged parts (1 unit each) = 4 write units, and 2 consistent reads
    assert plan.shards == 3
    assert (plan.results.write_units_per_s, plan.results.read_units_per_s) == (4, 2)
    # on-demand: (4 * 0.625 + 2 * 0.125) * 2.628 = 7.227; provisioned 5 WCU / 3 RCU
    assert plan.results_on_demand == Decimal("7.227")
    assert plan.results_provisioned == Decimal("2.6572")
    costs = {line.item: line.monthly for line in plan.costs}
    # 3 shards * 0.5 writes/s * 2.628 M * 0.625
    assert costs["KCL lease table"] == Decimal("2.46375")


def test_default_groups_are_the_upper_bound_and_say_so(prices):
    w = workload_from_config(load_config(env={}), Decimal(10), 200)
    # 10 events/s * 60 s: at most 600 distinct devices per window
    assert w.jobs == (JobLoad("device_minute", Decimal(60), 600, True, groups_bound=True),)
    assert any("--groups device_minute=N" in text for text in make_plan(w, prices).warnings)
    with pytest.raises(ConfigError, match="no job nope"):
        workload_from_config(load_config(env={}), Decimal(10), 200, {"nope": 3})


def test_the_autoscaler_and_the_planner_agree_on_shards():
    # exactly at the limit with headroom: 800 records/s * 1.25 = 1,000 -> 1 shard
    assert shards_for(0, 800, 0.25) == 1
    assert shards_for(0, 801, 0.25) == 2
    assert shards_for(1_048_576, 0, 0) == 1
    # one UpdateShardCount step: at most double or halve, within the floor and ceiling
    assert next_count(current=4, wanted=20, low=1, high=16) == 8
    assert next_count(current=4, wanted=1, low=1, high=16) == 2
    assert next_count(current=4, wanted=5, low=1, high=4) == 4


def test_newest_price_file_wins_and_unknown_regions_are_named():
    assert load_prices("us-east-1").taken == "2026-11-24"
    with pytest.raises(ConfigError, match="have: us-east-1"):
        load_prices("mars-north-1")


def test_plan_command_prints_the_plan_and_its_assumptions():
    result = CliRunner().invoke(
        main,
        [
            "plan",
            "--events-per-second",
            "100",
            "--event-bytes",
            "300",
            "--groups",
            "device_minute=1000",
            "--parquet-ratio",
            "0.14",
        ],
        env={"PIPELINE_CONFIG": ""},
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "  shards: 1 (writes need 1, polling reads 1, processing 1)" in lines
    assert any(line.startswith("  total") and line.rstrip().endswith("$97.59") for line in lines)
    assert "Monthly cost (prices us-east-1, taken 2026-11-24, not verified)" in lines
    bad = CliRunner().invoke(main, ["plan", "--events-per-second", "0", "--event-bytes", "1"])
    assert bad.exit_code == 1 and "must be positive" in bad.output
