"""Least-privilege IAM policy documents, one per component, shipped in ``deploy/policies/``.

Each is written once here; ``pipeline template`` writes them as JSON files (placeholders such as
``${StreamName}`` are the template's parameters and resources, ``${AWS::Region}`` its pseudo
parameters) and embeds the same statements in the template (each placeholder string becomes an
``Fn::Sub``). A test scans the components' code for the boto3 operations they call and checks
that each policy allows exactly those (plus what the Java KCL daemon and AWS services call, which
no scan of ours can see: listed here with their source).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.deploy.cfn import arn

STREAM = arn("kinesis", "stream/${StreamName}")
RESULTS_TABLE = arn("dynamodb", "table/${ResultsTableName}")
LEASE_TABLE = arn("dynamodb", "table/${ConsumerApplication}")
LAKE_BUCKET = arn("s3", "${LakeBucketName}")
STATE_BUCKET = arn("s3", "${StateBucketName}")
GLUE_CATALOG = arn("glue", "catalog")
GLUE_DATABASE = arn("glue", "database/${GlueDatabaseName}")
GLUE_TABLES = arn("glue", "table/${GlueDatabaseName}/*")
ATHENA_PREFIX = "_athena/"
SCALE_ALARMS = "${AWS::StackName}-stream-scale"


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": "Allow",
            "Action": sorted(self.actions),
            "Resource": list(self.resources) if len(self.resources) > 1 else self.resources[0],
        }
        if self.condition:
            out["Condition"] = self.condition
        return out


@dataclass(frozen=True)
class Policy:
    """A component's permissions; ``scanned`` statements hold what its Python code calls."""

    name: str
    description: str
    scanned: tuple[Statement, ...] = ()
    #: Called by code we cannot scan (the Java KCL daemon, an AWS service, a runtime)
    declared: tuple[Statement, ...] = ()

    @property
    def statements(self) -> tuple[Statement, ...]:
        return self.scanned + self.declared

    def document(self) -> dict[str, Any]:
        return {"Version": "2012-10-17", "Statement": [s.as_dict() for s in self.statements]}

    def actions(self, scanned_only: bool = False) -> set[str]:
        statements = self.scanned if scanned_only else self.statements
        return {action for s in statements for action in s.actions}


PRODUCER = Policy(
    "producer",
    "Producers: PutRecords; ListShards to address each open shard.",
    scanned=(Statement("WriteStream", ("kinesis:ListShards", "kinesis:PutRecords"), (STREAM,)),),
)

CONSUMER = Policy(
    "consumer",
    "The KCL consumer: stream reads, leases, Firehose, results, snapshots.",
    scanned=(
        Statement(
            "DeliverLake",
            ("firehose:PutRecordBatch",),
            (arn("firehose", "deliverystream/${FirehosePrefix}*"),),
        ),
        # TransactWriteItems is authorised per contained action: ours are conditional Puts
        Statement("WriteResults", ("dynamodb:GetItem", "dynamodb:PutItem"), (RESULTS_TABLE,)),
        Statement(
            "StateSnapshots",
            ("s3:DeleteObject", "s3:GetObject", "s3:PutObject"),
            (f"{STATE_BUCKET}/${{ConsumerApplication}}/*",),
        ),
        Statement(
            "ListStateSnapshots",
            ("s3:ListBucket",),
            (STATE_BUCKET,),
            {"StringLike": {"s3:prefix": "${ConsumerApplication}/*"}},
        ),
        # raw bytes of dead letters too large to inline in their lake row
        Statement("DeadLetterRawData", ("s3:PutObject",), (f"{LAKE_BUCKET}/dead_letters_raw/*",)),
    ),
    # KCL 3's documented minimum (docs: "IAM permissions required for KCL consumer applications":
    # the lease table, its owner index, the worker-metrics and coordinator-state tables; what the
    # daemon calls on the emulator is within it) for what the image runs: kcl.retrieval_mode
    # POLLING and kcl.metrics_level NONE. FANOUT adds kinesis:RegisterStreamConsumer,
    # DescribeStreamConsumer and SubscribeToShard (on the stream's consumers); other metrics
    # levels add cloudwatch:PutMetricData.
    declared=(
        Statement(
            "KclReadStream",
            (
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            ),
            (STREAM,),
        ),
        Statement(
            "KclLeaseTable",
            (
                "dynamodb:CreateTable",
                "dynamodb:DeleteItem",
                "dynamodb:DescribeTable",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Scan",
                "dynamodb:UpdateItem",
                "dynamodb:UpdateTable",
            ),
            (LEASE_TABLE,),
        ),
        Statement(
            "KclMetadataTables",
            (
                "dynamodb:CreateTable",
                "dynamodb:DeleteItem",
                "dynamodb:DescribeTable",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:Scan",
                "dynamodb:UpdateItem",
            ),
            (f"{LEASE_TABLE}-WorkerMetricStats", f"{LEASE_TABLE}-CoordinatorState"),
        ),
        Statement("KclLeaseIndex", ("dynamodb:Query",), (f"{LEASE_TABLE}/index/*",)),
    ),
)

REPORTING = Policy(
    "reporting",
    "Reports, compaction, watch, publish, alerts.",
    scanned=(
        # compaction deletes the objects it replaced (pyarrow writes the new ones: declared)
        Statement("CompactLake", ("s3:DeleteObject",), (f"{LAKE_BUCKET}/*",)),
        Statement(
            "LakeNotifications",
            ("s3:GetBucketNotification", "s3:PutBucketNotification"),
            (LAKE_BUCKET,),
        ),
        Statement(
            "LakeEventsQueue",
            (
                "sqs:ChangeMessageVisibility",
                "sqs:CreateQueue",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage",
                "sqs:SetQueueAttributes",
            ),
            (arn("sqs", "${LakeEventsQueueName}"),),
        ),
        Statement(
            "Alerts", ("sns:CreateTopic", "sns:Publish"), (arn("sns", "${AlertsTopicName}"),)
        ),
        Statement(
            "AlertsSent",
            ("dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
            (arn("dynamodb", "table/${StateTableName}"),),
        ),
        Statement("ReadResults", ("dynamodb:Scan",), (RESULTS_TABLE,)),
    ),
    declared=(
        Statement(
            "ReadLake",
            ("s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"),
            (LAKE_BUCKET, f"{LAKE_BUCKET}/*"),
        ),
        # pyarrow's S3 filesystem writes compacted files and published reports
        Statement("WriteLake", ("s3:PutObject",), (f"{LAKE_BUCKET}/*",)),
        Statement(
            "AthenaQueries",
            (
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:GetWorkGroup",
                "athena:StartQueryExecution",
                "athena:StopQueryExecution",
            ),
            (arn("athena", "workgroup/${AthenaWorkGroup}"),),
        ),
        Statement(
            "AthenaCatalog",
            ("glue:GetDatabase", "glue:GetPartitions", "glue:GetTable", "glue:GetTables"),
            (GLUE_CATALOG, GLUE_DATABASE, GLUE_TABLES),
        ),
        Statement(
            "AthenaResults",
            ("s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:PutObject"),
            (f"{LAKE_BUCKET}/{ATHENA_PREFIX}*",),
        ),
    ),
)

FIREHOSE_DELIVERY = Policy(
    "firehose-delivery",
    "Firehose: write the lake bucket, read the Glue schema for Parquet conversion, log errors "
    "(the actions of the Firehose developer guide's S3 destination role).",
    declared=(
        Statement(
            "WriteLake",
            (
                "s3:AbortMultipartUpload",
                "s3:GetBucketLocation",
                "s3:GetObject",
                "s3:ListBucket",
                "s3:ListBucketMultipartUploads",
                "s3:PutObject",
            ),
            (LAKE_BUCKET, f"{LAKE_BUCKET}/*"),
        ),
        Statement(
            "ReadSchema",
            ("glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"),
            (GLUE_CATALOG, GLUE_DATABASE, GLUE_TABLES),
        ),
        Statement(
            "LogErrors",
            ("logs:PutLogEvents",),
            (arn("logs", "log-group:${FirehoseLogGroup}:log-stream:*"),),
        ),
    ),
)

STREAM_SCALER = Policy(
    "stream-scaler",
    "The stream autoscaling function: read the stream's load, UpdateShardCount, retarget alarms.",
    scanned=(
        Statement(
            "ScaleStream",
            ("kinesis:DescribeStreamSummary", "kinesis:UpdateShardCount"),
            (STREAM,),
        ),
        Statement(
            "RetargetAlarms",
            ("cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm", "cloudwatch:SetAlarmState"),
            (arn("cloudwatch", f"alarm:{SCALE_ALARMS}-*"),),
        ),
        # GetMetricData has no resource-level permissions
        Statement("ReadLoad", ("cloudwatch:GetMetricData",), ("*",)),
    ),
    declared=(
        Statement(
            "Logs",
            ("logs:CreateLogStream", "logs:PutLogEvents"),
            (arn("logs", "log-group:${StreamScalerLogGroup}:*"),),
        ),
    ),
)

TASK_EXECUTION = Policy(
    "task-execution",
    "ECS pulls the consumer image and ships its logs (what AmazonECSTaskExecutionRolePolicy "
    "grants, narrowed to this account's repositories and the consumer's log group).",
    declared=(
        Statement("EcrLogin", ("ecr:GetAuthorizationToken",), ("*",)),
        Statement(
            "PullImage",
            ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"),
            (arn("ecr", "repository/*"),),
        ),
        Statement(
            "Logs",
            ("logs:CreateLogStream", "logs:PutLogEvents"),
            (arn("logs", "log-group:${ConsumerLogGroup}:*"),),
        ),
    ),
)

POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (PRODUCER, CONSUMER, REPORTING, FIREHOSE_DELIVERY, STREAM_SCALER, TASK_EXECUTION)
}
