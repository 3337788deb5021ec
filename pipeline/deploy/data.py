"""The data plane of the template: buckets, stream, tables, Glue catalog, Firehose, Athena.

Built from the same definitions ``pipeline provision`` uses: :func:`lake_tables` (names, schemas,
prefixes) and :func:`glue_table_input` (the Glue table with partition projection), with the bucket
and database names replaced by the template's parameters.
"""

from __future__ import annotations

from typing import Any

from pipeline.aws.provision import glue_table_input
from pipeline.config import Config
from pipeline.deploy.cfn import arn, get_att, if_, ref, sub, substitute
from pipeline.deploy.policies import ATHENA_PREFIX, LAKE_BUCKET, STATE_BUCKET
from pipeline.lake.tables import LakeTable, lake_tables

ERRORS_PREFIX = "_errors/"
ATHENA_RESULTS_DAYS = 7
INCOMPLETE_UPLOAD_DAYS = 7
_RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


def logical_id(table: LakeTable) -> str:
    """``events_iot`` -> ``EventsIot``: the resource names of a lake table."""
    return "".join(part.capitalize() for part in table.name.split("_"))


def _private_bucket(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    rules = [
        *rules,
        {
            "Id": "abort-incomplete-uploads",
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": INCOMPLETE_UPLOAD_DAYS},
        },
    ]
    return {
        "Type": "AWS::S3::Bucket",
        **_RETAIN,
        "Properties": {
            "BucketName": ref(name),
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {"Rules": rules},
        },
    }


def _tls_only(bucket: str, bucket_arn: str) -> dict[str, Any]:
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": ref(bucket),
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "DenyInsecureTransport",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [sub(bucket_arn), sub(f"{bucket_arn}/*")],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            },
        },
    }


def _expire(rule_id: str, prefix: str, days: Any) -> dict[str, Any]:
    return {"Id": rule_id, "Status": "Enabled", "Prefix": prefix, "ExpirationInDays": days}


def buckets(config: Config) -> dict[str, Any]:
    """Lake (per-table expiry: raw data and window results), state snapshots; private, TLS only."""
    tables = lake_tables(config)
    rules = [
        _expire(
            f"expire-{table.name}",
            table.location,
            ref("ResultsRetentionDays" if key.startswith("result:") else "RawDataRetentionDays"),
        )
        for key, table in tables.items()
    ]
    rules.append(_expire("expire-errors", ERRORS_PREFIX, ref("RawDataRetentionDays")))
    rules.append(_expire("expire-athena-results", ATHENA_PREFIX, ATHENA_RESULTS_DAYS))
    return {
        "LakeBucket": _private_bucket("LakeBucketName", rules),
        "LakeBucketPolicy": _tls_only("LakeBucket", LAKE_BUCKET),
        # snapshots are pruned by the consumer after each checkpoint; never expired by age
        "StateBucket": _private_bucket("StateBucketName", []),
        "StateBucketPolicy": _tls_only("StateBucket", STATE_BUCKET),
    }


def stream() -> dict[str, Any]:
    return {
        "Stream": {
            "Type": "AWS::Kinesis::Stream",
            "Properties": {
                "Name": ref("StreamName"),
                "StreamModeDetails": {"StreamMode": ref("StreamMode")},
                "ShardCount": if_("Provisioned", ref("ShardCount")),
                "RetentionPeriodHours": ref("StreamRetentionHours"),
                "StreamEncryption": {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"},
            },
        }
    }


def _table(name: str, with_sort_key: bool) -> dict[str, Any]:
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    if with_sort_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attributes.append({"AttributeName": "sk", "AttributeType": "N"})
    properties: dict[str, Any] = {
        "TableName": ref(name),
        "KeySchema": keys,
        "AttributeDefinitions": attributes,
        "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"SSEEnabled": True},
        "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
    }
    return {"Type": "AWS::DynamoDB::Table", **_RETAIN, "Properties": properties}


def tables() -> dict[str, Any]:
    """Window results and the state table (checkpoints, progress, alert claims), both with a
    TTL on ``expires_at``: items without it (all but results and alert claims) are kept. The
    KCL creates its own lease tables (named after ConsumerApplication)."""
    return {
        "ResultsTable": _table("ResultsTableName", with_sort_key=True),
        "StateTable": _table("StateTableName", with_sort_key=False),
    }


def catalog(config: Config) -> dict[str, Any]:
    """The Glue database and one table per lake table, as provisioning creates them."""
    resources: dict[str, Any] = {
        "GlueDatabase": {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": ref("AWS::AccountId"),
                "DatabaseInput": {
                    "Name": ref("GlueDatabaseName"),
                    "Description": "kinesis-pipeline lake",
                },
            },
        }
    }
    for table in lake_tables(config).values():
        resources[f"GlueTable{logical_id(table)}"] = {
            "Type": "AWS::Glue::Table",
            "Properties": {
                "CatalogId": ref("AWS::AccountId"),
                "DatabaseName": ref("GlueDatabase"),
                "TableInput": substitute(
                    glue_table_input(table, "${LakeBucketName}"), {"LakeBucketName"}
                ),
            },
        }
    return resources


def delivery_streams(config: Config) -> dict[str, Any]:
    """One Direct PUT delivery stream per lake table: JSON -> Parquet with the Glue schema."""
    resources: dict[str, Any] = {
        "FirehoseLogGroup": log_group(sub("/kpipe/${AWS::StackName}/firehose")),
        "FirehoseLogStream": {
            "Type": "AWS::Logs::LogStream",
            "Properties": {"LogGroupName": ref("FirehoseLogGroup"), "LogStreamName": "S3Delivery"},
        },
    }
    prefix = config.names.firehose_prefix
    for table in lake_tables(config).values():
        name = table.delivery_stream.removeprefix(prefix)
        resources[f"Firehose{logical_id(table)}"] = {
            "Type": "AWS::KinesisFirehose::DeliveryStream",
            "DependsOn": f"GlueTable{logical_id(table)}",
            "Properties": {
                "DeliveryStreamName": sub(f"${{FirehosePrefix}}{name}"),
                "DeliveryStreamType": "DirectPut",
                "DeliveryStreamEncryptionConfigurationInput": {"KeyType": "AWS_OWNED_CMK"},
                "ExtendedS3DestinationConfiguration": _destination(table),
            },
        }
    return resources


def _destination(table: LakeTable) -> dict[str, Any]:
    role = get_att("FirehoseRole", "Arn")
    return {
        "RoleARN": role,
        "BucketARN": sub(arn("s3", "${LakeBucketName}")),
        "Prefix": table.prefix,
        "ErrorOutputPrefix": table.error_prefix,
        "BufferingHints": {
            "SizeInMBs": ref("FirehoseBufferMiB"),
            "IntervalInSeconds": ref("FirehoseBufferSeconds"),
        },
        "CompressionFormat": "UNCOMPRESSED",
        "DataFormatConversionConfiguration": {
            "Enabled": True,
            "SchemaConfiguration": {
                "RoleARN": role,
                "DatabaseName": ref("GlueDatabase"),
                "TableName": table.name,
                "Region": ref("AWS::Region"),
                "VersionId": "LATEST",
            },
            "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
            "OutputFormatConfiguration": {
                "Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}
            },
        },
        "CloudWatchLoggingOptions": {
            "Enabled": True,
            "LogGroupName": ref("FirehoseLogGroup"),
            "LogStreamName": ref("FirehoseLogStream"),
        },
    }


def athena() -> dict[str, Any]:
    """A workgroup that enforces its result location (encrypted) and a per-query scan limit."""
    return {
        "AthenaWorkGroupResource": {
            "Type": "AWS::Athena::WorkGroup",
            "Properties": {
                "Name": ref("AthenaWorkGroup"),
                "Description": "kinesis-pipeline reports",
                "RecursiveDeleteOption": True,
                "WorkGroupConfiguration": {
                    "EnforceWorkGroupConfiguration": True,
                    "PublishCloudWatchMetricsEnabled": True,
                    "BytesScannedCutoffPerQuery": ref("AthenaBytesScannedCutoff"),
                    "ResultConfiguration": {
                        "OutputLocation": sub(f"s3://${{LakeBucket}}/{ATHENA_PREFIX}"),
                        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                    },
                },
            },
        }
    }


def log_group(name: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::LogGroup",
        "Properties": {"LogGroupName": name, "RetentionInDays": ref("LogRetentionDays")},
    }
