"""The emulator's own HTTP routes, served on the same port as the AWS APIs.

Tests and demos need Firehose output *now*, not after a buffering interval, so
``POST /_emulator/firehose/flush[?stream=NAME]`` delivers the buffers synchronously and answers
``{"objects": <number of S3 objects written>}``. Nothing in AWS answers this path, which keeps
emulator-only behaviour out of the library: only tests and demos call :func:`flush_firehose`.
``/_emulator/faults`` sets fault plans (:mod:`.faults`), ``/_emulator/calls`` lists the AWS SDK
for Java's calls (:mod:`.calls`, :func:`java_calls`).
"""

from __future__ import annotations

import io
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from pipeline.emulator import calls, faults, firehose

log = logging.getLogger(__name__)

FLUSH_PATH = "/_emulator/firehose/flush"
FAULTS_PATH = "/_emulator/faults"
CALLS_PATH = "/_emulator/calls"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class EmulatorRoutes:
    """WSGI middleware: answers the emulator's routes and passes everything else to moto."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        if path == FAULTS_PATH:
            return _faults_route(environ, start_response)
        if path == CALLS_PATH:
            return _calls_route(environ, start_response)
        if path != FLUSH_PATH:
            _mark_input_terminated(environ)
            return _at_least_one_chunk(self.app(environ, start_response))
        if environ.get("REQUEST_METHOD") != "POST":
            return _json(start_response, "405 Method Not Allowed", {"error": "use POST"})
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        stream = query.get("stream", [None])[0]
        try:
            objects = firehose.flush(stream)
        except firehose.FlushError as error:
            body = {"error": str(error), "objects": error.objects}
            return _json(start_response, "500 Internal Server Error", body)
        return _json(start_response, "200 OK", {"objects": objects})


def _faults_route(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """GET: faults injected so far; POST: install a plan; DELETE: clear it. POST and DELETE
    answer with what the previous plan injected."""
    method = environ.get("REQUEST_METHOD")
    injected = faults.PLAN.stats()
    if method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            faults.set_plan(json.loads(environ["wsgi.input"].read(length) or b"{}"))
        except (ValueError, KeyError, TypeError) as error:
            return _json(start_response, "400 Bad Request", {"error": str(error)})
    elif method == "DELETE":
        faults.set_plan({})
    elif method != "GET":
        return _json(start_response, "405 Method Not Allowed", {"error": "use GET, POST or DELETE"})
    return _json(start_response, "200 OK", {"injected": injected})


def _calls_route(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """GET: the Java SDK's calls so far; DELETE: forget them (answers with what it forgot)."""
    method = environ.get("REQUEST_METHOD")
    if method not in ("GET", "DELETE"):
        return _json(start_response, "405 Method Not Allowed", {"error": "use GET or DELETE"})
    seen = calls.calls()
    if method == "DELETE":
        calls.clear()
    return _json(start_response, "200 OK", {"calls": seen})


def java_calls(endpoint_url: str, timeout_s: float = 10.0) -> list[tuple[str, str, str, int]]:
    """(service, operation, resource, count) of every call the AWS SDK for Java (the KCL
    daemon) made to the emulator so far."""
    url = endpoint_url.rstrip("/") + CALLS_PATH
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return [(str(s), str(o), str(r), int(n)) for s, o, r, n in json.load(response)["calls"]]


def set_faults(
    endpoint_url: str, plan: dict[str, Any] | None, timeout_s: float = 10.0
) -> dict[str, int]:
    """Install a fault plan (None clears it); returns the faults injected under the previous one."""
    method = "DELETE" if plan is None else "POST"
    data = b"" if plan is None else json.dumps(plan).encode()
    return _request(endpoint_url, method, data, timeout_s)


def fault_stats(endpoint_url: str, timeout_s: float = 10.0) -> dict[str, int]:
    """Counts of faults injected so far, ``{"kinesis.PutRecords.partial": 12, ...}``."""
    return _request(endpoint_url, "GET", None, timeout_s)


def _request(
    endpoint_url: str, method: str, data: bytes | None, timeout_s: float
) -> dict[str, int]:
    request = urllib.request.Request(
        endpoint_url.rstrip("/") + FAULTS_PATH, data=data, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.load(response)["injected"]
    except urllib.error.HTTPError as error:
        with error:
            detail = error.read().decode("utf-8", "replace")
        raise ValueError(f"fault plan refused ({error.code}): {detail}") from None


def _mark_input_terminated(environ: dict[str, Any]) -> None:
    """hypercorn hands over the whole body, read: say so. Without it werkzeug reads a chunked
    request body (the AWS SDK for C++ behind pyarrow's S3 filesystem streams uploads that way)
    as empty, and moto stores a 0-byte object."""
    if isinstance(environ.get("wsgi.input"), io.BytesIO):
        environ["wsgi.input_terminated"] = True


def _at_least_one_chunk(body: Iterable[bytes]) -> Iterable[bytes]:
    """hypercorn's WSGI adapter sends the status line with the first body chunk: an empty body
    (every HEAD response) would never start the response, so yield an empty chunk instead."""
    empty = True
    try:
        for chunk in body:
            empty = False
            yield chunk
        if empty:
            yield b""
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def _json(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode("utf-8")
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    start_response(status, headers)
    return [payload]


def flush_firehose(endpoint_url: str, stream: str | None = None, timeout_s: float = 60.0) -> int:
    """Deliver the emulator's Firehose buffers now; returns the number of S3 objects written.

    Raises ``RuntimeError`` with the server's reason if a delivery failed (its records are lost).
    """
    url = endpoint_url.rstrip("/") + FLUSH_PATH
    if stream is not None:
        url += "?" + urllib.parse.urlencode({"stream": stream})
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            objects = int(json.load(response)["objects"])
    except urllib.error.HTTPError as error:
        with error:
            detail = error.read().decode("utf-8", "replace")
        raise RuntimeError(f"firehose flush failed ({error.code}): {detail}") from None
    log.debug("flushed %d firehose objects at %s", objects, endpoint_url)
    return objects
