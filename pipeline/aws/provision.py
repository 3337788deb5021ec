"""Create every resource the pipeline needs, idempotently (``pipeline provision``).

Creates the Kinesis stream, the DynamoDB tables (TTL on ``expires_at``: results, alert claims),
the buckets, the Glue database and the lake's tables (with Athena partition projection, so no
partition management is needed), and one Firehose delivery stream per lake table with JSON ->
Parquet conversion from the Glue schema. Running it again changes nothing that exists (Glue
tables are updated to the current schema).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.aws.clients import AwsClients, is_loopback
from pipeline.aws.dynamodb import EXPIRES_AT
from pipeline.aws.errors import AwsFailure, aws_errors, error_code, translate
from pipeline.aws.kinesis import KinesisStream
from pipeline.aws.s3 import head_bucket
from pipeline.config import Config
from pipeline.core.errors import ConfigError, PipelineError, ResourceMissingError
from pipeline.lake.tables import PARTITION_KEYS, LakeTable, lake_tables

log = logging.getLogger(__name__)

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
EMULATOR_FIREHOSE_ROLE = "arn:aws:iam::123456789012:role/kpipe-firehose"
_EXISTS = {"ResourceInUseException", "AlreadyExistsException", "BucketAlreadyOwnedByYou"}


@dataclass
class ProvisionReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


class Provisioner:
    """Creates the resources of one configuration on one endpoint."""

    def __init__(self, config: Config, clients: AwsClients) -> None:
        self.config = config
        self.clients = clients
        self.report = ProvisionReport()

    def run(self) -> ProvisionReport:
        names = self.config.names
        for bucket in (names.bucket, names.state_bucket):
            # in us-east-1, CreateBucket of a bucket one already owns succeeds: ask first
            if self._bucket_exists(bucket):
                self.report.existing.append(f"bucket {bucket}")
            else:
                self._create("CreateBucket", f"bucket {bucket}", lambda b=bucket: self._bucket(b))
        self._create("CreateStream", f"stream {names.stream}", self._stream)
        for table, with_sort_key in ((names.results_table, True), (names.state_table, False)):
            self._create(
                "CreateTable", f"table {table}", lambda t=table, k=with_sort_key: self._table(t, k)
            )
        for table in (names.results_table, names.state_table):
            self._time_to_live(table)
        self._create("CreateDatabase", f"glue database {names.glue_database}", self._database)
        for table in lake_tables(self.config).values():
            self._glue_table(table)
            self._create(
                "CreateDeliveryStream",
                f"delivery stream {table.delivery_stream}",
                lambda t=table: self._firehose(t),
            )
        self._wait_stream_active()
        return self.report

    def _create(self, operation: str, what: str, create: Callable[[], None]) -> None:
        try:
            create()
        except AwsFailure as exc:
            if error_code(exc) in _EXISTS:
                self.report.existing.append(what)
                return
            raise translate(exc, operation, what) from exc
        self.report.created.append(what)
        log.info("created", extra={"resource": what})

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            head_bucket(self.clients.s3, bucket)
        except ResourceMissingError:
            return False
        return True

    def _bucket(self, bucket: str) -> None:
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if self.config.aws.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.config.aws.region}
        self.clients.s3.create_bucket(**kwargs)

    def _stream(self) -> None:
        self.clients.kinesis.create_stream(
            StreamName=self.config.names.stream,
            ShardCount=self.config.stream.shards,
            StreamModeDetails={"StreamMode": "PROVISIONED"},
        )

    def _wait_stream_active(self, timeout_s: float = 120.0) -> None:
        stream = KinesisStream(self.clients.kinesis, self.config.names.stream)
        deadline = time.monotonic() + timeout_s
        while stream.summary().status != "ACTIVE":
            if time.monotonic() > deadline:
                raise PipelineError(
                    f"stream {self.config.names.stream} not ACTIVE after {timeout_s} s"
                )
            time.sleep(1.0)

    def _table(self, name: str, with_sort_key: bool) -> None:
        keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
        attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
        if with_sort_key:
            keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
            attributes.append({"AttributeName": "sk", "AttributeType": "N"})
        self.clients.dynamodb.create_table(
            TableName=name,
            KeySchema=keys,
            AttributeDefinitions=attributes,
            BillingMode="PAY_PER_REQUEST",
            SSESpecification={"Enabled": True},
        )
        self.clients.dynamodb.get_waiter("table_exists").wait(TableName=name)

    def _time_to_live(self, table: str) -> None:
        """TTL on ``expires_at``: results (each write sets it: results.retention) and alert
        claims in the state table (:func:`pipeline.alerts.deliver.claim_lifetime_s`)."""
        what = f"time to live of table {table} on {EXPIRES_AT}"
        dynamodb = self.clients.dynamodb
        with aws_errors("DescribeTimeToLive", f"DynamoDB table {table!r}"):
            current = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            self.report.existing.append(what)
            return
        with aws_errors("UpdateTimeToLive", f"DynamoDB table {table!r}"):
            dynamodb.update_time_to_live(
                TableName=table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": EXPIRES_AT},
            )
        self.report.created.append(what)

    def _database(self) -> None:
        self.clients.glue.create_database(
            DatabaseInput={
                "Name": self.config.names.glue_database,
                "Description": "kinesis-pipeline lake",
            }
        )

    def _glue_table(self, table: LakeTable) -> None:
        what = f"glue table {table.name}"
        database = self.config.names.glue_database
        table_input = glue_table_input(table, self.config.names.bucket)
        glue = self.clients.glue
        try:
            glue.create_table(DatabaseName=database, TableInput=table_input)
        except AwsFailure as exc:
            if error_code(exc) not in _EXISTS:
                raise translate(exc, "CreateTable", what) from exc
            with aws_errors("UpdateTable", what):
                glue.update_table(DatabaseName=database, TableInput=table_input)
            self.report.existing.append(what)
            return
        self.report.created.append(what)

    def _firehose(self, table: LakeTable) -> None:
        config = self.config
        self.clients.firehose.create_delivery_stream(
            DeliveryStreamName=table.delivery_stream,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": self._firehose_role(),
                "BucketARN": f"arn:aws:s3:::{config.names.bucket}",
                "Prefix": table.prefix,
                "ErrorOutputPrefix": table.error_prefix,
                "BufferingHints": {
                    "SizeInMBs": config.firehose.buffer_mib,
                    "IntervalInSeconds": config.firehose.buffer_seconds,
                },
                # Parquet compresses its own pages; S3-level compression must stay off
                "CompressionFormat": "UNCOMPRESSED",
                "DataFormatConversionConfiguration": {
                    "Enabled": True,
                    "SchemaConfiguration": {
                        "RoleARN": self._firehose_role(),
                        "DatabaseName": config.names.glue_database,
                        "TableName": table.name,
                        "Region": config.aws.region,
                        "VersionId": "LATEST",
                    },
                    "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                    "OutputFormatConfiguration": {
                        "Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}
                    },
                },
            },
        )

    def _firehose_role(self) -> str:
        role = self.config.names.firehose_role_arn
        if role:
            return role
        if self.config.aws.endpoint_url and is_loopback(self.config.aws.endpoint_url):
            return EMULATOR_FIREHOSE_ROLE
        raise ConfigError("names.firehose_role_arn: required on AWS (the role Firehose assumes)")


def glue_table_input(table: LakeTable, bucket: str) -> dict[str, Any]:
    """The Glue table of a lake table: Parquet, Hive partitions dt/hour, partition projection."""
    return {
        "Name": table.name,
        "Description": table.description,
        "TableType": "EXTERNAL_TABLE",
        "PartitionKeys": [{"Name": key, "Type": "string"} for key in PARTITION_KEYS],
        "Parameters": {
            "classification": "parquet",
            "id_column": table.id_column,
            "projection.enabled": "true",
            "projection.dt.type": "date",
            "projection.dt.format": "yyyy-MM-dd",
            "projection.dt.range": "2020-01-01,NOW",
            "projection.hour.type": "integer",
            "projection.hour.range": "0,23",
            "projection.hour.digits": "2",
            "storage.location.template": f"s3://{bucket}/{table.location}dt=${{dt}}/hour=${{hour}}/",
        },
        "StorageDescriptor": {
            "Columns": table.glue_columns(),
            "Location": f"s3://{bucket}/{table.location}",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE},
        },
    }
