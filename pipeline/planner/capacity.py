"""Capacity: shards, workers, Firehose deliveries, DynamoDB units and Athena scans of a workload.

The formulas (N events/s of B bytes, headroom h, K consumer applications, P = N(1+h)):

* Shards for writes ``ceil(max(N*B / 1 MiB, N / 1000) * (1+h))`` (the stream autoscaler's
  :func:`shards_for`); for polling reads ``ceil(K*P*B / 2 MiB)`` (2 MiB/s per shard shared by
  every polling consumer; enhanced fan-out gives each consumer its own 2 MiB/s); for processing
  ``ceil(P / events_per_vcpu)`` (one record processor, one core, per shard). Polling also needs
  ``K * 1000 / poll_interval_ms <= 5`` GetRecords calls per second per shard.
* KCL workers: ``ceil(P / (events_per_vcpu * task_vcpu))``, at most one per shard.
* Firehose: an event row is ``B + 136`` bytes. The consumer packs the rows of one write (one
  GetRecords batch of a shard: ``N / shards * poll_interval`` events, one window close of a
  shard: ``groups / shards`` results of a grouped job, 1 of a global one) into records of up to
  ``record_kib``; each record is billed rounded up to 5 KiB. A delivery happens when the buffer
  fills or its interval ends, whichever is first.
* DynamoDB: per job, ``groups / window`` results per second; a result's first part is a
  transactional put (2 units per KiB), each further part a consistent read and a put.
* Athena: Parquet bytes of ``report_hours`` of events, rounded up to the MiB, at least 10 MiB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from pipeline.aws.stream_scaler import shards_for
from pipeline.planner import limits as L
from pipeline.planner.workload import Workload


@dataclass(frozen=True)
class StreamCapacity:
    write_shards: int
    read_shards: int
    processing_shards: int
    #: GetRecords calls per second per shard of all polling consumers (limit 5)
    polling_calls: Decimal

    @property
    def polling_possible(self) -> bool:
        return self.polling_calls <= L.SHARD_READ_CALLS

    def shards(self, fan_out: bool) -> int:
        """Shards for polling consumers, or with enhanced fan-out (no shared read limit)."""
        read = 0 if fan_out else self.read_shards
        return max(self.write_shards, read, self.processing_shards, 1)


def stream_capacity(w: Workload) -> StreamCapacity:
    planned = w.planned_events_per_second
    return StreamCapacity(
        write_shards=shards_for(
            w.events_per_second * w.event_bytes, w.events_per_second, w.headroom
        ),
        read_shards=math.ceil(w.consumers * planned * w.event_bytes / L.SHARD_READ_BYTES),
        processing_shards=math.ceil(planned / w.events_per_vcpu),
        polling_calls=Decimal(w.consumers * 1000) / w.poll_interval_ms,
    )


def workers(w: Workload, shards: int) -> int:
    """KCL workers (Fargate tasks): enough cores for the load, never more than the shards."""
    return max(
        1, min(shards, math.ceil(w.planned_events_per_second / (w.events_per_vcpu * w.task_vcpu)))
    )


@dataclass(frozen=True)
class Packing:
    """How the consumer's writes to one delivery stream become Firehose records."""

    #: Rows the consumer writes at once (at least 1)
    rows_per_put: int
    row_bytes: int
    #: Records per write, and their billed bytes (each rounded up to 5 KiB)
    records_per_put: int
    billed_bytes_per_put: int
    #: PutRecordBatch calls per write (500 records and 4 MiB each)
    calls_per_put: int


def packing(w: Workload, rows_per_put: Decimal, row_bytes: int) -> Packing:
    """Rows packed in order into records of up to ``record_kib`` (a larger row alone)."""
    rows = max(1, math.floor(rows_per_put))
    per_record = max(1, w.record_kib * L.KIB // row_bytes)
    full, rest = divmod(rows, per_record)
    billed = full * _billed(per_record * row_bytes) + (_billed(rest * row_bytes) if rest else 0)
    records = full + (1 if rest else 0)
    calls = max(
        math.ceil(records / L.FIREHOSE_BATCH_RECORDS),
        math.ceil(rows * row_bytes / L.FIREHOSE_BATCH_BYTES),
    )
    return Packing(rows, row_bytes, records, billed, calls)


def _billed(record_bytes: int) -> int:
    return math.ceil(record_bytes / L.FIREHOSE_BILLING_UNIT) * L.FIREHOSE_BILLING_UNIT


@dataclass(frozen=True)
class Delivery:
    """One Firehose delivery stream under the workload."""

    table: str
    rows_per_s: Decimal
    row_bytes: int
    packing: Packing
    #: Ingested GiB per month as billed (packed records rounded up to 5 KiB)
    billed_gib_month: Decimal
    #: Seconds between deliveries (buffer full or interval elapsed; at least 1)
    delivery_s: Decimal
    objects_month: Decimal

    @property
    def object_mib(self) -> Decimal:
        """JSON MiB per delivered object (before Parquet conversion)."""
        return self.rows_per_s * self.row_bytes * self.delivery_s / L.MIB

    @property
    def puts_per_s(self) -> Decimal:
        return self.rows_per_s / self.packing.rows_per_put

    @property
    def records_per_s(self) -> Decimal:
        return self.puts_per_s * self.packing.records_per_put


def _delivery(
    w: Workload, table: str, rows_per_s: Decimal, row_bytes: int, rows_per_put: Decimal
) -> Delivery:
    packed = packing(w, rows_per_put, row_bytes)
    puts_per_s = rows_per_s / packed.rows_per_put
    fill_s = Decimal(w.buffer_mib * L.MIB) / (rows_per_s * row_bytes)
    delivery_s = max(Decimal(1), min(fill_s, Decimal(w.buffer_seconds)))
    return Delivery(
        table,
        rows_per_s,
        row_bytes,
        packed,
        puts_per_s * packed.billed_bytes_per_put * L.SECONDS_PER_MONTH / L.GIB,
        delivery_s,
        L.SECONDS_PER_MONTH / delivery_s,
    )


def deliveries(w: Workload, shards: int) -> list[Delivery]:
    """The events table and each job's result table (late events and dead letters are assumed
    rare: not planned), each written a shard's batch (or window close) at a time."""
    batch = w.events_per_second / shards * w.poll_interval_ms / 1000
    row = w.event_bytes + L.EVENT_ROW_OVERHEAD
    out = [_delivery(w, "events", w.events_per_second, row, batch)]
    for job in w.jobs:
        closing = Decimal(job.groups) / shards if job.grouped else Decimal(1)
        rows_per_s = job.groups / job.window_s
        out.append(_delivery(w, f"window_{job.name}", rows_per_s, w.result_item_bytes, closing))
    return out


@dataclass(frozen=True)
class FirehoseQuota:
    """The events stream's share of one delivery stream's quotas, at the planned load."""

    bytes_share: Decimal
    records_share: Decimal
    requests_share: Decimal

    @property
    def within(self) -> bool:
        return max(self.bytes_share, self.records_share, self.requests_share) <= 1


def firehose_quota(w: Workload, events: Delivery) -> FirehoseQuota:
    """Shares of 5 MiB/s, 500,000 records/s and 2,000 calls/s, as ``events`` packs its rows."""
    scale = 1 + w.headroom
    planned = w.planned_events_per_second
    return FirehoseQuota(
        planned * events.row_bytes / L.FIREHOSE_STREAM_BYTES,
        events.records_per_s * scale / L.FIREHOSE_STREAM_RECORDS,
        events.puts_per_s * events.packing.calls_per_put * scale / L.FIREHOSE_STREAM_REQUESTS,
    )


@dataclass(frozen=True)
class ResultsCapacity:
    """The window-results table: average units per second and the burst when windows close."""

    write_units_per_s: Decimal
    read_units_per_s: Decimal
    #: Write units when every job's windows close at once (windows align to the epoch)
    burst_write_units: int
    items_per_s: Decimal
    headroom: Decimal

    @property
    def provisioned_wcu(self) -> int:
        return max(1, math.ceil(self.write_units_per_s * (1 + self.headroom)))

    @property
    def provisioned_rcu(self) -> int:
        return max(1, math.ceil(self.read_units_per_s * (1 + self.headroom)))

    @property
    def burst_absorbed(self) -> bool:
        """Whether provisioned WCU's banked burst capacity (300 s) covers one window close."""
        return self.burst_write_units <= L.BURST_SECONDS * self.provisioned_wcu


def results_capacity(w: Workload, shards: int) -> ResultsCapacity:
    write_unit = math.ceil(w.result_item_bytes / L.WRITE_UNIT)
    read_unit = math.ceil(w.result_item_bytes / L.READ_UNIT)
    writes = reads = items = Decimal(0)
    burst = 0
    for job in w.jobs:
        parts = 1 if job.grouped else shards
        per_window_writes = job.groups * (parts + 1) * write_unit
        writes += per_window_writes / job.window_s
        reads += job.groups * (parts - 1) * read_unit / job.window_s
        items += job.groups / job.window_s
        burst += per_window_writes
    return ResultsCapacity(writes, reads, burst, items, w.headroom)


def lease_writes_per_s(w: Workload, shards: int) -> Decimal:
    """KCL lease table writes: renewals and checkpoints per shard (reads not planned)."""
    return shards * (L.KCL_RENEWALS_PER_SHARD_S + 1 / w.checkpoint_interval_s)


@dataclass(frozen=True)
class ReportScan:
    scanned_bytes: Decimal
    billed_bytes: int
    reports_per_month: Decimal


def report_scan(w: Workload) -> ReportScan:
    row = w.event_bytes + L.EVENT_ROW_OVERHEAD
    scanned = w.events_per_second * row * w.report_hours * 3600 * w.parquet_ratio
    billed = max(L.ATHENA_MIN_BYTES, math.ceil(scanned / L.ATHENA_ROUNDING) * L.ATHENA_ROUNDING)
    return ReportScan(scanned, billed, w.reports_per_day * L.DAYS_PER_MONTH)
