"""Fault-injecting wrappers around real boto3 clients (for tests).

They fail a seeded share of the entries of batch calls *without sending them*, exactly as the
service reports throttled entries (FailedRecordCount / FailedPutCount / UnprocessedItems), and
send the rest to the real (emulated) service.
"""

from __future__ import annotations

import random
from typing import Any

from botocore.exceptions import ClientError


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
    """Throttles a seeded share of TransactWriteItems / PutItem calls (before they apply)."""

    def __init__(self, client: Any, throttle_rate: float, seed: int = 0) -> None:
        self.client = client
        self.rate = throttle_rate
        self.rng = random.Random(seed)
        self.throttled = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def _maybe_throttle(self, operation: str) -> None:
        if self.rng.random() < self.rate:
            self.throttled += 1
            error = {
                "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
            }
            raise ClientError(error, operation)

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
        self._maybe_throttle("TransactWriteItems")
        return self.client.transact_write_items(**kwargs)

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        self._maybe_throttle("PutItem")
        return self.client.put_item(**kwargs)
