"""A plan as text (``pipeline plan``) or as plain JSON-able data (``--json``)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pipeline.planner import limits as L
from pipeline.planner.plan import Plan
from pipeline.planner.prices import describe

CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    return f"${value.quantize(CENT, ROUND_HALF_UP):,}"


def _num(value: Decimal, places: str = "0.01") -> str:
    return f"{value.quantize(Decimal(places), ROUND_HALF_UP).normalize():,f}"


def _pct(value: Decimal) -> str:
    return f"{_num(value * 100, '0.1')}%"


def render_text(plan: Plan) -> str:
    w, s, r = plan.workload, plan.stream, plan.results
    consumers = f"{w.consumers} consumer application{'s' if w.consumers > 1 else ''}"
    lines = [
        f"Plan for {_num(w.events_per_second)} events/s of {w.event_bytes:,} bytes "
        f"(headroom {_pct(w.headroom)}, {consumers}, retention {w.retention_hours} h)",
        "",
        "Kinesis",
        f"  shards: {plan.shards} (writes need {s.write_shards}, polling reads {s.read_shards}, "
        f"processing {s.processing_shards})",
        f"  reads: {'enhanced fan-out' if plan.fan_out else 'polling'} "
        f"({_num(s.polling_calls)} GetRecords/s per shard if polling; limit {L.SHARD_READ_CALLS})",
        f"  stream mode: provisioned {money(plan.kinesis_provisioned)}/month, on-demand "
        f"{money(plan.kinesis_on_demand)}/month -> "
        f"{'on-demand' if plan.on_demand_stream else 'provisioned'}",
        f"  KCL workers: {plan.workers} Fargate task(s) of {w.task_vcpu} vCPU / "
        f"{w.task_memory_gib} GiB (more than {plan.shards} would sit idle)",
        "",
        *_firehose_lines(plan),
        "",
        "DynamoDB window results",
        f"  {_num(r.write_units_per_s)} write and {_num(r.read_units_per_s)} read units/s on "
        f"average; {r.burst_write_units:,} write units when windows close together",
        f"  on-demand {money(plan.results_on_demand)}/month, provisioned {r.provisioned_wcu} WCU "
        f"/ {r.provisioned_rcu} RCU {money(plan.results_provisioned)}/month"
        f"{'' if r.burst_absorbed else ' (burst not absorbed)'} -> "
        f"{'provisioned' if plan.provisioned_results else 'on-demand'}",
        "",
        "Athena",
        f"  a report over {w.report_hours} h of events scans at most "
        f"{_num(plan.scan.scanned_bytes / L.MIB)} MiB (billed {plan.scan.billed_bytes // L.MIB:,} "
        f"MiB); {_num(plan.scan.reports_per_month)} reports/month",
        "",
        *_cost_lines(plan),
    ]
    if plan.warnings:
        lines += ["", "Warnings", *(f"  - {text}" for text in plan.warnings)]
    return "\n".join(lines) + "\n"


def _firehose_lines(plan: Plan) -> list[str]:
    w, q = plan.workload, plan.quota
    return [
        f"Firehose (buffer {w.buffer_mib} MiB / {w.buffer_seconds} s; Parquet conversion needs "
        f">= {L.FIREHOSE_MIN_PARQUET_BUFFER_MIB} MiB)",
        *(
            f"  {d.table}: {_num(d.rows_per_s)} rows/s of {d.row_bytes:,} B, written "
            f"{d.packing.rows_per_put:,} at a time in {d.packing.records_per_put:,} record(s); "
            f"a delivery every {_num(d.delivery_s)} s of {_num(d.object_mib)} MiB JSON; "
            f"{_num(d.objects_month, '1')} objects/month; billed {_num(d.billed_gib_month)} "
            "GiB/month (records rounded up to 5 KiB)"
            for d in plan.deliveries
        ),
        f"  events stream quota use: {_pct(q.bytes_share)} of 5 MiB/s, {_pct(q.records_share)} of "
        f"500,000 records/s, {_pct(q.requests_share)} of 2,000 requests/s",
        "  dynamic partitioning: not used (dt/hour come from the arrival time); if enabled, at "
        f"most {L.FIREHOSE_ACTIVE_PARTITIONS} active partitions per stream (5,000 on request)",
    ]


def _cost_lines(plan: Plan) -> list[str]:
    width = max(len(line.item) for line in plan.costs)
    return [
        f"Monthly cost (prices {plan.prices.region}, taken {plan.prices.taken}"
        f"{'' if plan.prices.verified else ', not verified'})",
        *(
            f"  {line.item:<{width}}  {money(line.monthly):>12}  {line.detail}"
            for line in plan.costs
        ),
        f"  {'total':<{width}}  {money(plan.total):>12}",
        "  not included: CloudWatch alarms and logs, Lambda, Glue catalog, data transfer, NAT",
    ]


def plan_data(plan: Plan) -> dict[str, Any]:
    """The plan's figures as plain data (decimals as strings, exact)."""
    w, r = plan.workload, plan.results
    return {
        "shards": plan.shards,
        "write_shards": plan.stream.write_shards,
        "read_shards": plan.stream.read_shards,
        "processing_shards": plan.stream.processing_shards,
        "fan_out": plan.fan_out,
        "stream_mode": "ON_DEMAND" if plan.on_demand_stream else "PROVISIONED",
        "workers": plan.workers,
        "firehose": [
            {
                "table": d.table,
                "rows_per_s": str(d.rows_per_s),
                "delivery_s": str(d.delivery_s),
                "rows_per_put": d.packing.rows_per_put,
                "records_per_s": str(d.records_per_s),
                "billed_gib_month": str(d.billed_gib_month),
            }
            for d in plan.deliveries
        ],
        "results": {
            "write_units_per_s": str(r.write_units_per_s),
            "read_units_per_s": str(r.read_units_per_s),
            "burst_write_units": r.burst_write_units,
            "provisioned_wcu": r.provisioned_wcu,
            "provisioned_rcu": r.provisioned_rcu,
            "mode": "PROVISIONED" if plan.provisioned_results else "PAY_PER_REQUEST",
        },
        "athena_billed_bytes_per_report": plan.scan.billed_bytes,
        "monthly": {line.item: str(line.monthly) for line in plan.costs},
        "monthly_total": str(plan.total),
        "groups": {job.name: job.groups for job in w.jobs},
        "warnings": list(plan.warnings),
        "prices": describe(plan.prices),
    }
