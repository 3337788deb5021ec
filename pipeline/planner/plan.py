"""A capacity and cost plan: capacities, the cheaper of each option, and the monthly bill.

Choices: enhanced fan-out only when polling cannot work (more than 5 GetRecords/s per shard) or
costs less (its consumer-shard-hours against the extra shards polling readers need); the cheaper
stream mode; provisioned DynamoDB capacity only when cheaper and its banked burst capacity covers
a window close.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal

from pipeline.core.times import format_duration
from pipeline.planner import costs
from pipeline.planner import limits as L
from pipeline.planner.capacity import (
    Delivery,
    FirehoseQuota,
    ReportScan,
    ResultsCapacity,
    StreamCapacity,
    deliveries,
    firehose_quota,
    lease_writes_per_s,
    report_scan,
    results_capacity,
    stream_capacity,
    workers,
)
from pipeline.planner.prices import Prices
from pipeline.planner.workload import Workload


@dataclass(frozen=True)
class CostLine:
    item: str
    monthly: Decimal
    detail: str


@dataclass(frozen=True)
class Plan:
    workload: Workload
    stream: StreamCapacity
    fan_out: bool
    shards: int
    workers: int
    kinesis_provisioned: Decimal
    kinesis_on_demand: Decimal
    deliveries: tuple[Delivery, ...]
    quota: FirehoseQuota
    results: ResultsCapacity
    results_on_demand: Decimal
    results_provisioned: Decimal
    lease_writes_per_s: Decimal
    scan: ReportScan
    costs: tuple[CostLine, ...]
    warnings: tuple[str, ...]
    prices: Prices

    @property
    def on_demand_stream(self) -> bool:
        return self.kinesis_on_demand < self.kinesis_provisioned

    @property
    def provisioned_results(self) -> bool:
        return self.results_provisioned < self.results_on_demand and self.results.burst_absorbed

    @property
    def total(self) -> Decimal:
        return sum((line.monthly for line in self.costs), Decimal(0))


def _fan_out(w: Workload, stream: StreamCapacity, p: Prices) -> bool:
    if not stream.polling_possible:
        return True
    polling = costs.kinesis_provisioned(w, p, stream.shards(False), fan_out=False)
    efo = costs.kinesis_provisioned(w, p, stream.shards(True), fan_out=True)
    return efo < polling


def make_plan(w: Workload, p: Prices) -> Plan:
    stream = stream_capacity(w)
    fan_out = _fan_out(w, stream, p)
    shards = stream.shards(fan_out)
    n_workers = workers(w, shards)
    flows = tuple(deliveries(w, shards))
    results = results_capacity(w, shards)
    lease = lease_writes_per_s(w, shards)
    scan = report_scan(w)
    quota = firehose_quota(w, flows[0])
    plan = Plan(
        w,
        stream,
        fan_out,
        shards,
        n_workers,
        costs.kinesis_provisioned(w, p, shards, fan_out),
        costs.kinesis_on_demand(w, p, fan_out),
        flows,
        quota,
        results,
        costs.results_on_demand(results, p),
        costs.results_provisioned(results, p),
        lease,
        scan,
        (),
        _warnings(w, stream, quota, p),
        p,
    )
    return _with_costs(plan)


def _with_costs(plan: Plan) -> Plan:
    w, p = plan.workload, plan.prices
    shards = f"{plan.shards} shard{'' if plan.shards == 1 else 's'}"
    mode = "on-demand" if plan.on_demand_stream else f"provisioned, {shards}"
    reads = "enhanced fan-out" if plan.fan_out else "polling"
    results_mode = (
        f"provisioned {plan.results.provisioned_wcu} WCU / {plan.results.provisioned_rcu} RCU"
        if plan.provisioned_results
        else "on-demand"
    )
    lines = (
        CostLine(
            "Kinesis stream",
            min(plan.kinesis_on_demand, plan.kinesis_provisioned),
            f"{mode}, {reads}",
        ),
        CostLine(
            "KCL workers (Fargate)",
            costs.fargate(w, plan.workers, p),
            f"{plan.workers} x {w.task_vcpu} vCPU / {w.task_memory_gib} GiB",
        ),
        CostLine("KCL lease table", costs.lease_table(plan.lease_writes_per_s, p), "on-demand"),
        CostLine(
            "Firehose",
            costs.firehose(list(plan.deliveries), p),
            f"ingestion + Parquet conversion, rows packed in records of <= {w.record_kib} KiB",
        ),
        CostLine(
            "DynamoDB results",
            plan.results_provisioned if plan.provisioned_results else plan.results_on_demand,
            results_mode,
        ),
        CostLine(
            "DynamoDB storage",
            costs.results_storage(w, plan.results, p),
            f"results kept {format_duration(w.results_retention_s * 1000)} (TTL)",
        ),
        CostLine("S3 lake", costs.lake(w, list(plan.deliveries), p), "one month of Parquet + PUTs"),
        CostLine("S3 state snapshots", costs.snapshots(w, plan.shards, p), "PUT + LIST"),
        CostLine("Athena reports", costs.athena(plan.scan, p), f"{w.reports_per_day} per day"),
    )
    return dataclasses.replace(plan, costs=lines)


def _warnings(
    w: Workload, stream: StreamCapacity, quota: FirehoseQuota, p: Prices
) -> tuple[str, ...]:
    out = []
    if w.buffer_mib < L.FIREHOSE_MIN_PARQUET_BUFFER_MIB:
        out.append(
            f"Firehose buffer {w.buffer_mib} MiB: Parquet conversion needs at least "
            f"{L.FIREHOSE_MIN_PARQUET_BUFFER_MIB} MiB"
        )
    if not quota.within:
        out.append(
            "the events delivery stream exceeds a Firehose quota: request an increase or split it"
        )
    if not stream.polling_possible:
        out.append(
            f"{w.consumers} polling consumers would make {stream.polling_calls} GetRecords calls/s "
            f"per shard (limit {L.SHARD_READ_CALLS}): enhanced fan-out, or raise the poll interval"
        )
    if stream.processing_shards > max(stream.write_shards, stream.read_shards):
        out.append(
            f"shards are set by processing ({w.events_per_vcpu} events/s per record processor, "
            "an assumption: measure and pass --events-per-vcpu)"
        )
    out.extend(
        f"job {job.name}: {job.groups} groups per window is an upper bound (one per event): "
        f"pass --groups {job.name}=N"
        for job in w.jobs
        if job.groups_bound
    )
    if not p.verified:
        out.append(f"unit prices taken {p.taken} and not verified: check them at the sources")
    return tuple(out)
