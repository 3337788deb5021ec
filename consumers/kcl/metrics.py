"""Per-shard health and metrics of a KCL worker, served over HTTP in Prometheus' text format.

Why Prometheus: a long-running worker on EC2, ECS or Kubernetes is scraped, and its health is
probed, over HTTP; the KCL's own CloudWatch metrics can be switched on separately
(``kcl.metrics_level``). ``pipeline consume --engine kcl --metrics-port 9464`` serves:

* ``/metrics``: per shard (label ``shard``) ``kpipe_shard_records_total``, ``_events_total``,
  ``_duplicates_total``, ``_late_events_total``, ``_dead_letters_total``,
  ``_window_results_total`` (counters, restored with the shard's state, so each record counts
  once across restarts), ``kpipe_shard_records_per_second`` (last 10 s),
  ``kpipe_shard_millis_behind_latest`` (lag behind the tip), ``kpipe_shard_last_checkpoint_
  timestamp_seconds``, ``kpipe_shard_state{state=...}`` (1 for the current lifecycle state); and
  ``kpipe_kcl_daemon_up``;
* ``/healthz``: 200 ``ok`` while the daemon runs and no shard failed, else 503 and the reason;
* ``/status``: every shard's status as JSON (including the checkpoint's sequence number).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec

from consumers.kcl.status import STATES, ShardStatus

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_COUNTERS = (
    ("records", "records_total", "Records read from the shard."),
    ("events", "events_total", "Valid events kept (after dedupe)."),
    ("duplicates", "duplicates_total", "Duplicate events dropped."),
    ("late", "late_events_total", "Events that arrived after their window closed."),
    ("dead_letters", "dead_letters_total", "Records sent to the dead-letter table."),
    ("results", "window_results_total", "Window results emitted."),
)
_GAUGES = (
    ("records_per_second", "records_per_second", "Records per second over the last 10 s."),
    ("millis_behind_latest", "millis_behind_latest", "Lag behind the tip of the shard (ms)."),
    ("checkpoint_s", "last_checkpoint_timestamp_seconds", "When the last checkpoint was written."),
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(statuses: list[ShardStatus], daemon_up: bool) -> str:
    """The exposition of ``statuses`` (one status per shard)."""
    lines = [
        "# HELP kpipe_kcl_daemon_up 1 while the MultiLangDaemon runs.",
        "# TYPE kpipe_kcl_daemon_up gauge",
        f"kpipe_kcl_daemon_up {int(daemon_up)}",
    ]
    for kind, fields in (("counter", _COUNTERS), ("gauge", _GAUGES)):
        for attribute, name, help_text in fields:
            lines += [f"# HELP kpipe_shard_{name} {help_text}", f"# TYPE kpipe_shard_{name} {kind}"]
            lines += [
                f'kpipe_shard_{name}{{shard="{_label(s.shard_id)}"}} {getattr(s, attribute)}'
                for s in statuses
            ]
    lines += [
        "# HELP kpipe_shard_state 1 for the shard's current lifecycle state.",
        "# TYPE kpipe_shard_state gauge",
    ]
    for status in statuses:
        shard = _label(status.shard_id)
        lines += [
            f'kpipe_shard_state{{shard="{shard}",state="{state}"}} {int(status.state == state)}'
            for state in STATES
        ]
    return "\n".join(lines) + "\n"


def health(statuses: list[ShardStatus], daemon_up: bool) -> tuple[bool, str]:
    if not daemon_up:
        return False, "the MultiLangDaemon is not running"
    failed = [f"{s.shard_id}: {s.error}" for s in statuses if s.state == "failed"]
    if failed:
        return False, "; ".join(failed)
    return True, "ok"


class MetricsServer:
    """Serves :func:`prometheus_text`, :func:`health` and the statuses on a background thread."""

    def __init__(
        self,
        statuses: Callable[[], list[ShardStatus]],
        daemon_up: Callable[[], bool],
        port: int,
        host: str = "0.0.0.0",  # scraped from other hosts
    ) -> None:
        self._statuses = statuses
        self._daemon_up = daemon_up
        server = ThreadingHTTPServer((host, port), self._handler())
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, name="kcl-metrics", daemon=True
        )

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics served", extra={"port": self.port})
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                statuses = server._statuses()
                up = server._daemon_up()
                if self.path == "/metrics":
                    self._reply(200, CONTENT_TYPE, prometheus_text(statuses, up).encode())
                elif self.path == "/healthz":
                    ok, reason = health(statuses, up)
                    self._reply(200 if ok else 503, "text/plain", reason.encode() + b"\n")
                elif self.path == "/status":
                    self._reply(200, "application/json", msgspec.json.encode(statuses))
                else:
                    self._reply(404, "text/plain", b"not found: try /metrics, /healthz, /status\n")

            def _reply(self, code: int, content_type: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("metrics request: " + format, *args)

        return Handler
