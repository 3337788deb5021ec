"""The service limits and billing units the planner computes with (AWS documentation, us-east-1).

Sizes are binary: AWS meters Kinesis and Firehose records in KiB units (1,024 bytes), and the
planner prices "GB" as GiB (2**30 bytes) and "TB" as TiB (2**40 bytes), the larger, so costs err
up, never down. A month is 730 hours, AWS's own convention.
"""

from __future__ import annotations

from decimal import Decimal

KIB = 1024
MIB = 1024**2
GIB = 1024**3
TIB = 1024**4
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
DAYS_PER_MONTH = Decimal(HOURS_PER_MONTH) / 24

# Kinesis Data Streams, per shard
SHARD_WRITE_BYTES = MIB  # per second (the 1,000 records/s limit is in stream_scaler.shards_for)
SHARD_READ_BYTES = 2 * MIB  # per second, shared by every polling consumer
SHARD_READ_CALLS = 5  # GetRecords per second, shared by every polling consumer
PUT_PAYLOAD_UNIT = 25 * KIB  # provisioned mode bills PUTs in 25 KiB units per record
ON_DEMAND_RECORD_UNIT = KIB  # on-demand mode bills data in and out per record rounded up to 1 KiB
BASE_RETENTION_HOURS = 24  # included in the price
EXTENDED_RETENTION_HOURS = 168  # up to 7 days: extended; beyond: long-term (per GB-month)

# Kinesis Client Library
#: Lease renewals per shard per second (failoverTimeMillis 10 s, renewed every third of it)
KCL_RENEWALS_PER_SHARD_S = Decimal(3) / 10

# Amazon Data Firehose (Direct PUT), per delivery stream
FIREHOSE_BILLING_UNIT = 5 * KIB  # each record is billed rounded up to 5 KiB
FIREHOSE_MIN_PARQUET_BUFFER_MIB = 64  # format conversion requires a buffer of at least 64 MiB
FIREHOSE_BUFFER_MIB = (1, 128)
FIREHOSE_BUFFER_SECONDS = (0, 900)
FIREHOSE_STREAM_BYTES = 5 * MIB  # per second (us-east-1, us-west-2, eu-west-1; quota)
FIREHOSE_STREAM_RECORDS = 500_000  # per second (same regions; quota)
FIREHOSE_STREAM_REQUESTS = 2_000  # PutRecordBatch calls per second (same regions; quota)
FIREHOSE_BATCH_RECORDS = 500  # per PutRecordBatch call
FIREHOSE_BATCH_BYTES = 4 * MIB  # per PutRecordBatch call
FIREHOSE_ACTIVE_PARTITIONS = 500  # dynamic partitioning, per stream (5,000 on request)
#: A lake row of an event: the event's JSON plus the metadata columns (shard id, 56-digit
#: sequence number, sub-sequence number) and the newline
EVENT_ROW_OVERHEAD = 136

# DynamoDB
WRITE_UNIT = KIB  # one write unit per KiB of item; transactional writes cost two
READ_UNIT = 4 * KIB  # one strongly consistent read unit per 4 KiB
BURST_SECONDS = 300  # provisioned tables bank up to 300 s of unused capacity

# Athena
ATHENA_MIN_BYTES = 10 * MIB  # per query
ATHENA_ROUNDING = MIB  # bytes scanned are rounded up to the megabyte
