"""Provisioning: idempotent, Glue matching the lake tables; an unreachable endpoint is named."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.aws.clients import AwsClients
from pipeline.aws.provision import Provisioner
from pipeline.config import load_config
from pipeline.core.errors import EndpointUnreachableError
from pipeline.lake.tables import lake_tables


@pytest.mark.emulator
def test_provision_is_idempotent_and_glue_matches_the_lake_tables(provisioned):
    config, clients = provisioned
    again = Provisioner(config, clients).run()
    assert again.created == []
    for table in (config.names.results_table, config.names.state_table):  # results, claims
        assert f"time to live of table {table} on expires_at" in again.existing
        ttl = clients.dynamodb.describe_time_to_live(TableName=table)
        assert ttl["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "expires_at",
        }
    for table in lake_tables(config).values():
        glue = clients.glue.get_table(DatabaseName=config.names.glue_database, Name=table.name)[
            "Table"
        ]
        assert glue["StorageDescriptor"]["Columns"] == table.glue_columns()
        assert [k["Name"] for k in glue["PartitionKeys"]] == ["dt", "hour"]
        stream = clients.firehose.describe_delivery_stream(DeliveryStreamName=table.delivery_stream)
        destination = stream["DeliveryStreamDescription"]["Destinations"][0][
            "ExtendedS3DestinationDescription"
        ]
        assert destination["Prefix"] == table.prefix


def test_an_unreachable_endpoint_is_named_with_the_first_call():
    config = load_config(env={}).with_endpoint("http://127.0.0.1:9")  # nothing listens there
    config = dataclasses.replace(config, aws=dataclasses.replace(config.aws, max_attempts=1))
    with pytest.raises(EndpointUnreachableError) as failed:
        Provisioner(config, AwsClients(config.aws)).run()
    assert (failed.value.operation, failed.value.resource) == (
        "HeadBucket",
        "S3 bucket 'kpipe-lake'",
    )
    assert str(failed.value).startswith(
        "cannot reach the endpoint for HeadBucket on S3 bucket 'kpipe-lake' "
        '(Could not connect to the endpoint URL: "http://127.0.0.1:9/kpipe-lake"'
    )
