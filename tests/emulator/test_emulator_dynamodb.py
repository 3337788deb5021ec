"""TransactWriteItems on the emulator: AWS's all-or-nothing semantics without copying tables."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.emulator


def test_a_cancelled_transaction_changes_nothing_and_says_why(client, name):
    dynamodb = client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName=name, Item={"pk": {"S": "taken"}, "v": {"N": "1"}})
    dynamodb.put_item(TableName=name, Item={"pk": {"S": "old"}, "v": {"N": "1"}})
    puts = [
        {"Put": {"TableName": name, "Item": {"pk": {"S": "new"}, "v": {"N": "2"}}}},
        {"Put": {"TableName": name, "Item": {"pk": {"S": "old"}, "v": {"N": "2"}}}},
        {
            "Put": {
                "TableName": name,
                "Item": {"pk": {"S": "taken"}, "v": {"N": "2"}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        },
    ]
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=puts)
    codes = [r["Code"] for r in raised.value.response["CancellationReasons"]]
    assert codes == ["None", "None", "ConditionalCheckFailed"]
    items = {i["pk"]["S"]: i["v"]["N"] for i in dynamodb.scan(TableName=name)["Items"]}
    assert items == {"taken": "1", "old": "1"}  # "new" rolled back, "old" restored


def test_transactions_cost_the_same_on_a_large_table(client, name):
    dynamodb = client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def transaction(start: int) -> None:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": {"pk": {"S": f"k{start + i}"}}}}
                for i in range(100)
            ]
        )

    for start in range(0, 5_000, 100):
        transaction(start)
    # structural, not timed: moto alone deep-copies the whole table once per transaction item
    from moto.dynamodb.models.dynamo_type import Item

    original = Item.__deepcopy__
    copied = []

    def counting(self, memo):
        copied.append(self)
        return original(self, memo)

    Item.__deepcopy__ = counting
    try:
        transaction(2_500)  # 100 puts over existing items: each backed up once
    finally:
        Item.__deepcopy__ = original
    assert len(copied) == 100
    assert dynamodb.describe_table(TableName=name)["Table"]["ItemCount"] == 5_000
