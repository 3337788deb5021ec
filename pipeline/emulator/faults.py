"""Fault injection: the emulator misbehaves the way AWS does, on purpose and reproducibly.

A *fault plan* (``POST /_emulator/faults`` with JSON, or :func:`set_plan`) lists rules; each
request to a matching service and operation draws from one seeded generator and may get:

* ``throttle``: the service's throttling error (Kinesis/DynamoDB
  ``ProvisionedThroughputExceededException``, Firehose ``ServiceUnavailableException``, S3
  ``SlowDown``), nothing applied;
* ``error``: an HTTP 500 internal error, nothing applied;
* ``partial``: for PutRecords, PutRecordBatch, BatchWriteItem and SQS's DeleteMessageBatch, a
  share ``rate`` of the *entries* fail (``FailedRecordCount`` / ``FailedPutCount`` /
  ``UnprocessedItems`` / ``Failed``) while the others are applied, as AWS reports throttled
  entries (SQS: an internal error, ``SenderFault`` false);
* ``delay``: the response is ``seconds`` late (a slow service);
* ``lost_response``: the request IS applied, then the response is held ``seconds`` (longer than
  the client's read timeout): the client times out and retries a request that succeeded, the
  way a KPL put produces duplicates;
* ``refuse``: the service's error ``code`` with HTTP ``status`` (default 400), nothing applied:
  a refusal AWS would give and moto does not (``AccessDeniedException``, ``ExpiredTokenException``,
  ``LimitExceededException``, S3's ``AccessDenied`` with status 403).

``GET /_emulator/faults`` returns the counts injected so far; ``DELETE`` clears the plan.
Rules: ``{"service": "kinesis", "operation": "PutRecords", "kind": "partial", "rate": 0.2,
"seconds": 0, "limit": null}``; ``operation`` omitted matches every operation of the service
(S3's operations are HTTP methods); a ``refuse`` rule adds ``"code"`` and ``"status"``.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

KINDS = ("throttle", "error", "partial", "delay", "lost_response", "refuse")
PARTIAL_OPERATIONS = {"PutRecords", "PutRecordBatch", "BatchWriteItem", "DeleteMessageBatch"}
_TARGET_SERVICES = {
    "Kinesis": "kinesis",
    "DynamoDB": "dynamodb",
    "Firehose": "firehose",
    "AmazonSQS": "sqs",
    "AWSGlue": "glue",
}
_THROTTLE = {
    "kinesis": (400, "ProvisionedThroughputExceededException"),
    "dynamodb": (400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"),
    "firehose": (503, "ServiceUnavailableException"),
}
_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_ERROR = {
    "kinesis": "InternalFailure",
    "dynamodb": "com.amazonaws.dynamodb.v20120810#InternalServerError",
    "firehose": "ServiceUnavailableException",
}


@dataclass(frozen=True)
class Rule:
    service: str
    kind: str
    rate: float
    operation: str | None = None
    seconds: float = 0.0
    limit: int | None = None
    code: str = ""
    status: int = 400

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Rule:
        rule = cls(
            service=str(raw["service"]).lower(),
            kind=str(raw["kind"]),
            rate=float(raw.get("rate", 1.0)),
            operation=raw.get("operation"),
            seconds=float(raw.get("seconds", 0.0)),
            limit=raw.get("limit"),
            code=str(raw.get("code", "")),
            status=int(raw.get("status", 400)),
        )
        if rule.kind not in KINDS:
            raise ValueError(f"unknown fault kind {rule.kind!r} (known: {', '.join(KINDS)})")
        if not 0.0 <= rule.rate <= 1.0:
            raise ValueError(f"fault rate must be in [0, 1], got {rule.rate}")
        if rule.kind == "partial" and rule.operation not in PARTIAL_OPERATIONS:
            raise ValueError(f"partial failures apply to {sorted(PARTIAL_OPERATIONS)} only")
        if rule.kind == "refuse" and not (rule.code and rule.status in _REASONS):
            raise ValueError(f"a refusal needs a code and a status in {sorted(_REASONS)}")
        return rule


class _Plan:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[Rule] = []
        self.rng = random.Random(0)
        self.injected: Counter[str] = Counter()

    def set(self, rules: list[Rule], seed: int) -> None:
        with self.lock:
            self.rules = rules
            self.rng = random.Random(seed)
            self.injected = Counter()

    def draw(self, service: str, operation: str) -> Rule | None:
        """The fault for this call: whole-call faults draw first; a partial rule (which draws
        per entry) applies to any call no whole-call fault took."""
        with self.lock:
            partial = None
            for rule in self.rules:
                if rule.service != service or (rule.operation and rule.operation != operation):
                    continue
                name = f"{service}.{operation}.{rule.kind}"
                if rule.limit is not None and self.injected[name] >= rule.limit:
                    continue
                if rule.kind == "partial":
                    partial = partial or rule
                elif self.rng.random() < rule.rate:
                    return rule
            return partial

    def fail_entries(self, count: int, rate: float, name: str) -> list[bool]:
        with self.lock:
            failed = [self.rng.random() < rate for _ in range(count)]
            self.injected[name] += sum(failed)
            return failed

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.injected[name] += n

    def stats(self) -> dict[str, int]:
        with self.lock:
            return dict(self.injected)


PLAN = _Plan()


def set_plan(raw: dict[str, Any]) -> None:
    """Install a fault plan ``{"seed": 1, "rules": [...]}`` (replaces the current one)."""
    PLAN.set([Rule.parse(r) for r in raw.get("rules", [])], int(raw.get("seed", 0)))


def service_and_operation(environ: dict[str, Any]) -> tuple[str, str] | None:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        prefix, _, operation = target.partition(".")
        service = _TARGET_SERVICES.get(prefix.split("_")[0])
        return (service, operation) if service else None
    if "/s3/aws4_request" in environ.get("HTTP_AUTHORIZATION", ""):
        return "s3", environ.get("REQUEST_METHOD", "")
    return None


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class FaultInjector:
    """WSGI middleware applying the current plan in front of moto."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if not PLAN.rules:
            return self.app(environ, start_response)
        found = service_and_operation(environ)
        if found is None:
            return self.app(environ, start_response)
        service, operation = found
        rule = PLAN.draw(service, operation)
        if rule is None:
            return self.app(environ, start_response)
        name = f"{service}.{operation}.{rule.kind}"
        if rule.kind == "throttle":
            PLAN.count(name)
            return _error(start_response, service, *(_THROTTLE.get(service) or (503, "SlowDown")))
        if rule.kind == "error":
            PLAN.count(name)
            return _error(start_response, service, 500, _ERROR.get(service, "InternalError"))
        if rule.kind == "refuse":
            PLAN.count(name)
            return _error(start_response, service, rule.status, rule.code)
        if rule.kind == "delay":
            PLAN.count(name)
            time.sleep(rule.seconds)
            return self.app(environ, start_response)
        if rule.kind == "lost_response":
            PLAN.count(name)
            status, headers, body = _call(self.app, environ)
            time.sleep(rule.seconds)  # applied; the client gives up waiting and retries
            start_response(status, headers)
            return [body]
        return self._partial(environ, start_response, operation, rule, name)

    def _partial(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        operation: str,
        rule: Rule,
        name: str,
    ) -> Iterable[bytes]:
        request = json.loads(_read_body(environ) or b"{}")
        if operation == "BatchWriteItem":
            return self._partial_batch_write(environ, start_response, request, rule, name)
        if operation == "DeleteMessageBatch":
            return self._partial_delete(environ, start_response, request, rule, name)
        entries_key = "Records"
        entries = request.get(entries_key, [])
        failed = PLAN.fail_entries(len(entries), rule.rate, name)
        request[entries_key] = [e for e, f in zip(entries, failed, strict=True) if not f]
        if request[entries_key]:
            status, headers, body = _call(self.app, _with_body(environ, request))
            if not status.startswith("200"):
                start_response(status, headers)
                return [body]
            applied = iter(
                json.loads(body)[
                    ("RequestResponses" if operation == "PutRecordBatch" else "Records")
                ]
            )
        else:
            headers = [("Content-Type", "application/x-amz-json-1.1")]
            applied = iter(())
        if operation == "PutRecordBatch":
            failure = {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
            responses = [failure if f else next(applied) for f in failed]
            result = {
                "FailedPutCount": sum(failed),
                "Encrypted": False,
                "RequestResponses": responses,
            }
        else:
            failure = {
                "ErrorCode": "ProvisionedThroughputExceededException",
                "ErrorMessage": "Rate exceeded for shard.",
            }
            result = {
                "FailedRecordCount": sum(failed),
                "Records": [failure if f else next(applied) for f in failed],
            }
        return _json(start_response, result, headers)

    def _partial_delete(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        request: dict[str, Any],
        rule: Rule,
        name: str,
    ) -> Iterable[bytes]:
        entries = request.get("Entries", [])
        failed = PLAN.fail_entries(len(entries), rule.rate, name)
        kept = [e for e, f in zip(entries, failed, strict=True) if not f]
        result: dict[str, Any] = {"Successful": [], "Failed": []}
        headers = [("Content-Type", "application/x-amz-json-1.0")]
        if kept:
            status, headers, body = _call(
                self.app, _with_body(environ, {**request, "Entries": kept})
            )
            if not status.startswith("200"):
                start_response(status, headers)
                return [body]
            result = json.loads(body)
        result.setdefault("Failed", []).extend(
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected"}
            for e, f in zip(entries, failed, strict=True)
            if f
        )
        return _json(start_response, result, headers)

    def _partial_batch_write(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        request: dict[str, Any],
        rule: Rule,
        name: str,
    ) -> Iterable[bytes]:
        kept: dict[str, list[Any]] = {}
        unprocessed: dict[str, list[Any]] = {}
        for table, requests in request.get("RequestItems", {}).items():
            failed = PLAN.fail_entries(len(requests), rule.rate, name)
            for item, fail in zip(requests, failed, strict=True):
                (unprocessed if fail else kept).setdefault(table, []).append(item)
        headers = [("Content-Type", "application/x-amz-json-1.0")]
        if kept:
            status, headers, body = _call(
                self.app, _with_body(environ, {**request, "RequestItems": kept})
            )
            if not status.startswith("200"):
                start_response(status, headers)
                return [body]
        return _json(start_response, {"UnprocessedItems": unprocessed}, headers)


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _with_body(environ: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(request).encode()
    return {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}


def _call(app: WSGIApp, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"], captured["headers"] = status, headers

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    return captured["status"], captured["headers"], body


def _json(
    start_response: Callable[..., Any], payload: dict[str, Any], headers: list[tuple[str, str]]
) -> list[bytes]:
    body = json.dumps(payload).encode()
    kept = [(k, v) for k, v in headers if k.lower() not in ("content-length", "x-amz-crc32")]
    start_response("200 OK", [*kept, ("Content-Length", str(len(body)))])
    return [body]


def _error(start_response: Callable[..., Any], service: str, status: int, code: str) -> list[bytes]:
    reason = _REASONS[status]
    if service == "s3":
        body = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
        content_type = "application/xml"
    else:
        body = json.dumps({"__type": code, "message": "injected fault"}).encode()
        content_type = "application/x-amz-json-1.1"
    start_response(
        f"{status} {reason}", [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    )
    return [body]
