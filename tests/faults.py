"""Fault-injecting wrappers around real boto3 clients (for tests).

They fail a seeded share of the entries of batch calls *without sending them*, exactly as the
service reports throttled entries (FailedRecordCount / FailedPutCount / UnprocessedItems), and
send the rest to the real (emulated) service.
"""

from __future__ import annotations

import random
from typing import Any


class FlakyKinesis:
    def __init__(self, client: Any, failure_rate: float, seed: int = 0) -> None:
        self.client = client
        self.rate = failure_rate
        self.rng = random.Random(seed)
        self.failed_entries = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        fail = [self.rng.random() < self.rate for _ in Records]
        sent = [r for r, f in zip(Records, fail, strict=True) if not f]
        real = iter(
            self.client.put_records(StreamName=StreamName, Records=sent)["Records"] if sent else []
        )
        results = []
        for failed in fail:
            if failed:
                self.failed_entries += 1
                results.append(
                    {
                        "ErrorCode": "ProvisionedThroughputExceededException",
                        "ErrorMessage": "Rate exceeded",
                    }
                )
            else:
                results.append(next(real))
        return {"FailedRecordCount": sum(fail), "Records": results}


class FlakyFirehose:
    def __init__(self, client: Any, failure_rate: float, seed: int = 0) -> None:
        self.client = client
        self.rate = failure_rate
        self.rng = random.Random(seed)
        self.failed_entries = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_record_batch(
        self, DeliveryStreamName: str, Records: list[dict[str, Any]]
    ) -> dict[str, Any]:
        fail = [self.rng.random() < self.rate for _ in Records]
        sent = [r for r, f in zip(Records, fail, strict=True) if not f]
        if sent:
            self.client.put_record_batch(DeliveryStreamName=DeliveryStreamName, Records=sent)
        self.failed_entries += sum(fail)
        responses = [
            {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down"}
            if f
            else {"RecordId": "x"}
            for f in fail
        ]
        return {"FailedPutCount": sum(fail), "RequestResponses": responses}


class FlakyDynamoDB:
    def __init__(self, client: Any, unprocessed_rate: float, seed: int = 0) -> None:
        self.client = client
        self.rate = unprocessed_rate
        self.rng = random.Random(seed)
        self.unprocessed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        sent: dict[str, list] = {}
        unprocessed: dict[str, list] = {}
        for table, requests in RequestItems.items():
            for request in requests:
                (unprocessed if self.rng.random() < self.rate else sent).setdefault(
                    table, []
                ).append(request)
        if sent:
            self.client.batch_write_item(RequestItems=sent)
        self.unprocessed += sum(len(v) for v in unprocessed.values())
        return {"UnprocessedItems": unprocessed}
