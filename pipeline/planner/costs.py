"""Monthly costs (730 hours) of each part of a plan, as exact decimals from the price file.

Kinesis is billed on the actual load (and provisioned shards); everything else too, except the
capacity a user provisions (shards, WCU/RCU, Fargate tasks), which is paid whether used or not.
"""

from __future__ import annotations

import math
from decimal import Decimal

from pipeline.planner import limits as L
from pipeline.planner.capacity import Delivery, ReportScan, ResultsCapacity
from pipeline.planner.prices import Prices
from pipeline.planner.workload import Workload

MILLION = 1_000_000
THOUSAND = 1_000


def _stored_gib(w: Workload, record_bytes: int, hours: int) -> Decimal:
    """GiB held in the stream for ``hours`` of the load (a GB-month of storage, averaged)."""
    return w.events_per_second * record_bytes * hours * 3600 / L.GIB


def _monthly_gib(w: Workload, record_bytes: int) -> Decimal:
    return w.events_per_second * record_bytes * L.SECONDS_PER_MONTH / L.GIB


def kinesis_provisioned(w: Workload, p: Prices, shards: int, fan_out: bool) -> Decimal:
    """Shard-hours, PUT payload units (25 KiB), retention beyond 24 h, enhanced fan-out."""
    units = math.ceil(w.event_bytes / L.PUT_PAYLOAD_UNIT)
    cost = shards * L.HOURS_PER_MONTH * p["kinesis_provisioned.shard_hour"]
    cost += (
        w.events_per_second
        * units
        * L.SECONDS_PER_MONTH
        / MILLION
        * p["kinesis_provisioned.put_payload_units_million"]
    )
    if w.retention_hours > L.BASE_RETENTION_HOURS:
        cost += shards * L.HOURS_PER_MONTH * p["kinesis_provisioned.extended_retention_shard_hour"]
    if w.retention_hours > L.EXTENDED_RETENTION_HOURS:
        hours = w.retention_hours - L.EXTENDED_RETENTION_HOURS
        cost += (
            _stored_gib(w, w.event_bytes, hours)
            * p["kinesis_provisioned.long_term_retention_gb_month"]
        )
    if fan_out:
        cost += (
            w.consumers
            * shards
            * L.HOURS_PER_MONTH
            * p["kinesis_provisioned.efo_consumer_shard_hour"]
        )
        cost += (
            w.consumers * _monthly_gib(w, w.event_bytes) * p["kinesis_provisioned.efo_retrieval_gb"]
        )
    return cost


def kinesis_on_demand(w: Workload, p: Prices, fan_out: bool) -> Decimal:
    """Stream-hours, data in and out per consumer (records rounded up to 1 KiB), retention."""
    rounded = math.ceil(w.event_bytes / L.ON_DEMAND_RECORD_UNIT) * L.ON_DEMAND_RECORD_UNIT
    gib = _monthly_gib(w, rounded)
    out_price = p[
        "kinesis_on_demand.efo_data_out_gb" if fan_out else "kinesis_on_demand.data_out_gb"
    ]
    cost = L.HOURS_PER_MONTH * p["kinesis_on_demand.stream_hour"]
    cost += gib * p["kinesis_on_demand.data_in_gb"] + w.consumers * gib * out_price
    extended = min(w.retention_hours, L.EXTENDED_RETENTION_HOURS) - L.BASE_RETENTION_HOURS
    if extended > 0:
        cost += (
            _stored_gib(w, rounded, extended) * p["kinesis_on_demand.extended_retention_gb_month"]
        )
    if w.retention_hours > L.EXTENDED_RETENTION_HOURS:
        hours = w.retention_hours - L.EXTENDED_RETENTION_HOURS
        cost += _stored_gib(w, rounded, hours) * p["kinesis_on_demand.long_term_retention_gb_month"]
    return cost


def firehose(deliveries: list[Delivery], p: Prices) -> Decimal:
    billed = sum((d.billed_gib_month for d in deliveries), Decimal(0))
    return billed * (p["firehose.ingestion_gb"] + p["firehose.format_conversion_gb"])


def results_on_demand(r: ResultsCapacity, p: Prices) -> Decimal:
    writes = r.write_units_per_s * L.SECONDS_PER_MONTH / MILLION
    reads = r.read_units_per_s * L.SECONDS_PER_MONTH / MILLION
    return writes * p["dynamodb.write_request_million"] + reads * p["dynamodb.read_request_million"]


def results_provisioned(r: ResultsCapacity, p: Prices) -> Decimal:
    return L.HOURS_PER_MONTH * (
        r.provisioned_wcu * p["dynamodb.wcu_hour"] + r.provisioned_rcu * p["dynamodb.rcu_hour"]
    )


def results_storage(w: Workload, r: ResultsCapacity, p: Prices) -> Decimal:
    """The window results of one retention (results.retention: the TTL deletes older ones)."""
    gib = r.items_per_s * w.result_item_bytes * w.results_retention_s / L.GIB
    return gib * p["dynamodb.storage_gb_month"]


def lease_table(writes_per_s: Decimal, p: Prices) -> Decimal:
    return writes_per_s * L.SECONDS_PER_MONTH / MILLION * p["dynamodb.write_request_million"]


def lake(w: Workload, deliveries: list[Delivery], p: Prices) -> Decimal:
    """One month of Parquet kept for a month, plus one PUT per delivered object."""
    json_gib = sum(
        (d.rows_per_s * d.row_bytes * L.SECONDS_PER_MONTH / L.GIB for d in deliveries), Decimal(0)
    )
    objects = sum((d.objects_month for d in deliveries), Decimal(0))
    return (
        json_gib * w.parquet_ratio * p["s3.storage_gb_month"]
        + objects / THOUSAND * p["s3.request_thousand"]
    )


def snapshots(w: Workload, shards: int, p: Prices) -> Decimal:
    """State snapshots: a PUT and a LIST (pruning) per shard per checkpoint."""
    requests = 2 * shards * L.SECONDS_PER_MONTH / w.checkpoint_interval_s
    return requests / THOUSAND * p["s3.request_thousand"]


def athena(scan: ReportScan, p: Prices) -> Decimal:
    return scan.reports_per_month * scan.billed_bytes / L.TIB * p["athena.scanned_tb"]


def fargate(w: Workload, workers: int, p: Prices) -> Decimal:
    hourly = w.task_vcpu * p["fargate.vcpu_hour"] + w.task_memory_gib * p["fargate.gb_hour"]
    return workers * L.HOURS_PER_MONTH * hourly
