"""Per-shard health and metrics of a KCL worker, served over HTTP for Prometheus.

``pipeline consume --engine kcl --metrics-port 9464`` serves the consumer's per-shard series
(:mod:`consumers.metrics`, read from the children's status files at each scrape) and
``kpipe_kcl_daemon_up``; ``/healthz`` is 200 ``ok`` while the daemon runs and no shard failed,
else 503 and the reason; ``/status`` is every shard's status as JSON (including the checkpoint's
sequence number). The KCL's own CloudWatch metrics are separate (``kcl.metrics_level``).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import generate_latest

from consumers import metrics
from consumers.kcl.status import ShardStatus
from pipeline.metrics import MetricsServer as HttpMetricsServer
from pipeline.metrics import registry_of

STOPPED = "the MultiLangDaemon is not running"


def _collector(
    statuses: Callable[[], list[ShardStatus]], daemon_up: Callable[[], bool]
) -> metrics.ShardCollector:
    up = ("kpipe_kcl_daemon_up", "1 while the MultiLangDaemon runs.", daemon_up)
    return metrics.ShardCollector(statuses, up)


def prometheus_text(statuses: list[ShardStatus], daemon_up: bool) -> str:
    """The text exposition of ``statuses`` (one status per shard)."""
    registry = registry_of(_collector(lambda: statuses, lambda: daemon_up))
    return generate_latest(registry).decode()


def health(statuses: list[ShardStatus], daemon_up: bool) -> tuple[bool, str]:
    return metrics.health(statuses, daemon_up, STOPPED)


class MetricsServer(HttpMetricsServer):
    """``/metrics``, ``/healthz`` and ``/status`` of a KCL worker."""

    def __init__(
        self,
        statuses: Callable[[], list[ShardStatus]],
        daemon_up: Callable[[], bool],
        port: int,
        host: str = "0.0.0.0",  # scraped from other hosts
    ) -> None:
        routes = metrics.consumer_routes(statuses, lambda: health(statuses(), daemon_up()))
        super().__init__(registry_of(_collector(statuses, daemon_up)), port, host, routes)
