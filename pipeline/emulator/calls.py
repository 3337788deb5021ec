"""Which AWS operations the AWS SDK for Java called, on what: what an IAM policy must allow.

The KCL daemon's calls are visible to no scan of our Python code, and the documentation of what
it needs can lag behind a new KCL version. The emulator counts every JSON-protocol request
(``X-Amz-Target``: Kinesis, DynamoDB, Firehose) made by the AWS SDK for Java as (service,
operation, resource), where the resource is the part of the ARN that IAM evaluates after the
account: ``table/NAME``, ``table/NAME/index/INDEX``, ``stream/NAME`` (empty when the request
names none: GetRecords reads through a shard iterator, authorised on its stream).
``GET /_emulator/calls`` returns the counts; ``DELETE`` clears them.
"""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from pipeline.emulator.faults import WSGIApp, service_and_operation

_lock = threading.Lock()
_calls: Counter[tuple[str, str, str]] = Counter()


def _resource(service: str, request: dict[str, Any]) -> str:
    if service == "dynamodb" and "TableName" in request:
        index = request.get("IndexName")
        return f"table/{request['TableName']}" + (f"/index/{index}" if index else "")
    if service == "kinesis":
        if "StreamARN" in request:
            return str(request["StreamARN"]).split(":", 5)[-1]
        if "StreamName" in request:
            return f"stream/{request['StreamName']}"
    if service == "firehose" and "DeliveryStreamName" in request:
        return f"deliverystream/{request['DeliveryStreamName']}"
    return ""


class CallLog:
    """WSGI middleware counting the Java SDK's calls before passing them on unchanged."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        found = service_and_operation(environ)
        if found is not None and environ.get("HTTP_USER_AGENT", "").startswith("aws-sdk-java"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                request = {}
            service, operation = found
            with _lock:
                _calls[(service, operation, _resource(service, request))] += 1
        return self.app(environ, start_response)


def calls() -> list[tuple[str, str, str, int]]:
    """(service, operation, resource, count) of the Java SDK's calls so far, sorted."""
    with _lock:
        return sorted((*key, count) for key, count in _calls.items())


def clear() -> None:
    with _lock:
        _calls.clear()
