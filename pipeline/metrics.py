"""Serving metrics: Prometheus over HTTP (``--metrics-port``), CloudWatch embedded metric format.

Why both: a long-running worker on EC2, ECS or Kubernetes is scraped, and its health probed,
over HTTP (``prometheus_client`` writes the exposition and negotiates its format); on ECS,
CloudWatch-driven scaling reads metrics that the awslogs driver extracts from log lines in the
embedded metric format (EMF), with no agent and no API call from the task.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from socketserver import ThreadingMixIn
from typing import Any, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import msgspec
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

#: A route beside ``/metrics``: () -> (HTTP status, content type, body)
Route = Callable[[], tuple[int, str, bytes]]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics request: " + format, *args)


def registry_of(*collectors: Collector) -> CollectorRegistry:
    """A registry of its own (not the process-wide default): one per server, nothing shared."""
    registry = CollectorRegistry(auto_describe=True)
    for collector in collectors:
        registry.register(collector)
    return registry


class MetricsServer:
    """Serves ``registry`` on ``/metrics`` and ``routes`` beside it, on a background thread."""

    def __init__(
        self,
        registry: CollectorRegistry,
        port: int,
        host: str = "0.0.0.0",  # scraped from other hosts
        routes: Mapping[str, Route] | None = None,
    ) -> None:
        metrics = make_wsgi_app(registry)
        extra = dict(routes or {})
        known = ", ".join(["/metrics", *extra])

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/metrics":
                return metrics(environ, start_response)
            code, content_type, body = (
                extra[path]() if path in extra else (404, "text/plain", f"try {known}\n".encode())
            )
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}.get(code, "")
            headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
            start_response(f"{code} {reason}", headers)
            return [body]

        self._server = make_server(host, port, app, _Server, handler_class=_QuietHandler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True
        )

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics served", extra={"port": self.port})
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def emf_line(
    namespace: str,
    dimensions: Mapping[str, str],
    values: Mapping[str, float],
    units: Mapping[str, str],
    timestamp_ms: int,
) -> bytes:
    """One CloudWatch embedded-metric-format record: ``values`` under ``dimensions``."""
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [
                        {"Name": name, "Unit": units.get(name, "Count")} for name in values
                    ],
                }
            ],
        },
        **dimensions,
        **values,
    }
    return msgspec.json.encode(document)


class EmfWriter:
    """Writes EMF lines to a stream (stderr: ECS's awslogs driver forwards it) at most every
    ``interval_s`` seconds; stdout stays for a command's results."""

    def __init__(
        self,
        namespace: str,
        interval_s: float,
        out: TextIO | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.namespace = namespace
        self.interval_s = interval_s
        self.out = out or sys.stderr
        self.clock = clock
        self._last = float("-inf")

    def due(self) -> bool:
        return self.clock() - self._last >= self.interval_s

    def write(
        self,
        records: Iterable[tuple[Mapping[str, str], Mapping[str, float]]],
        units: Mapping[str, str],
    ) -> None:
        """One line per (dimensions, values) record, stamped now."""
        now = self.clock()
        self._last = now
        for dimensions, values in records:
            line = emf_line(self.namespace, dimensions, values, units, round(now * 1000))
            self.out.write(line.decode() + "\n")
        self.out.flush()
