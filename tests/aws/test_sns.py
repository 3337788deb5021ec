"""SNS: topics by name, messages with attributes and a subject SNS accepts."""

from __future__ import annotations

import json

import pytest

from pipeline.aws.sns import SUBJECT_LIMIT, create_topic, publish

pytestmark = pytest.mark.emulator


def test_a_published_message_arrives_with_its_attributes_and_a_valid_subject(client, name):
    sns, sqs = client("sns"), client("sqs")
    arn = create_topic(sns, name)
    assert create_topic(sns, name) == arn  # idempotent
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn["QueueArn"])
    publish(sns, arn, "température " + "x" * 200, '{"n": 1}', {"alert_id": "a|1"})
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    body = json.loads(message["Body"])
    assert body["Message"] == '{"n": 1}'
    assert body["Subject"] == ("temp?rature " + "x" * 200)[:SUBJECT_LIMIT]
    assert body["MessageAttributes"]["alert_id"] == {"Type": "String", "Value": "a|1"}
