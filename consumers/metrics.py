"""Per-shard metrics and health of a consumer, whichever engine runs it.

Both engines describe each shard with a :class:`~consumers.kcl.status.ShardStatus` (the KCL's
children write them to files, the local engine keeps them in memory); this module turns them
into Prometheus series (label ``shard``), ``/healthz`` and ``/status``, and into CloudWatch
embedded-metric-format lines (dimension ``Shard``). Counters are restored with the shard's
state, so each record counts once across restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import msgspec
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from consumers.kcl.status import STATES, ShardStatus
from pipeline.metrics import EmfWriter, MetricsServer, Route, registry_of

#: (ShardStatus attribute, metric name after ``kpipe_shard_``, help)
COUNTERS = (
    ("records", "records_total", "Records read from the shard."),
    ("events", "events_total", "Valid events kept (after dedupe)."),
    ("duplicates", "duplicates_total", "Duplicate events dropped."),
    ("late", "late_events_total", "Events that arrived after their window closed."),
    ("dead_letters", "dead_letters_total", "Records sent to the dead-letter table."),
    ("results", "window_results_total", "Window results emitted."),
)
GAUGES = (
    ("records_per_second", "records_per_second", "Records per second over the last 10 s."),
    ("millis_behind_latest", "millis_behind_latest", "Lag behind the tip of the shard (ms)."),
    ("checkpoint_s", "last_checkpoint_timestamp_seconds", "When the last checkpoint was written."),
)
#: CloudWatch units of the EMF metrics (the rest are counts)
EMF_UNITS = {
    "records_per_second": "Count/Second",
    "millis_behind_latest": "Milliseconds",
}

Statuses = Callable[[], list[ShardStatus]]


class ShardCollector(Collector):
    """The ``kpipe_shard_*`` series of every shard, read from ``statuses`` at each scrape;
    with ``up``, also a gauge ``up[0]`` that is 1 while ``up[2]()`` holds."""

    def __init__(
        self, statuses: Statuses, up: tuple[str, str, Callable[[], bool]] | None = None
    ) -> None:
        self._statuses = statuses
        self._up = up

    def collect(self) -> Iterator[Metric]:
        statuses = self._statuses()
        if self._up is not None:
            name, help_text, running = self._up
            yield GaugeMetricFamily(name, help_text, value=int(running()))
        for family, fields in ((CounterMetricFamily, COUNTERS), (GaugeMetricFamily, GAUGES)):
            for attribute, name, help_text in fields:
                metric = family(f"kpipe_shard_{name}", help_text, labels=["shard"])
                for status in statuses:
                    metric.add_metric([status.shard_id], getattr(status, attribute))
                yield metric
        state = GaugeMetricFamily(
            "kpipe_shard_state",
            "1 for the shard's current lifecycle state.",
            labels=["shard", "state"],
        )
        for status in statuses:
            for name in STATES:
                state.add_metric([status.shard_id, name], int(status.state == name))
        yield state


def health(statuses: list[ShardStatus], running: bool, stopped: str) -> tuple[bool, str]:
    """Healthy while ``running`` and no shard failed; else the reason (``stopped``, or each
    failed shard and its error)."""
    if not running:
        return False, stopped
    failed = [f"{s.shard_id}: {s.error}" for s in statuses if s.state == "failed"]
    if failed:
        return False, "; ".join(failed)
    return True, "ok"


def consumer_routes(
    statuses: Statuses, healthy: Callable[[], tuple[bool, str]]
) -> dict[str, Route]:
    """``/healthz`` (200 ``ok`` or 503 and the reason) and ``/status`` (every shard, JSON)."""

    def healthz() -> tuple[int, str, bytes]:
        ok, reason = healthy()
        return 200 if ok else 503, "text/plain", reason.encode() + b"\n"

    def status() -> tuple[int, str, bytes]:
        return 200, "application/json", msgspec.json.encode(statuses())

    return {"/healthz": healthz, "/status": status}


def local_metrics_server(statuses: Statuses, port: int, host: str = "0.0.0.0") -> MetricsServer:
    """The local engine's ``/metrics``, ``/healthz`` and ``/status`` (healthy while it serves:
    a failing shard stops the engine)."""
    registry = registry_of(ShardCollector(statuses))
    routes = consumer_routes(statuses, lambda: health(statuses(), True, ""))
    return MetricsServer(registry, port, host, routes)


class ShardEmf:
    """EMF lines of the shards (dimensions ``Application`` and ``Shard``): each counter as its
    increase since the previous line (CloudWatch sums them), the rate and lag as they are."""

    def __init__(self, writer: EmfWriter, application: str) -> None:
        self.writer = writer
        self.application = application
        self._previous: dict[str, ShardStatus] = {}

    def emit(self, statuses: list[ShardStatus]) -> None:
        records = []
        for status in statuses:
            before = self._previous.get(status.shard_id)
            values: dict[str, float] = {
                name: getattr(status, name) - (getattr(before, name) if before else 0)
                for name, _, _ in COUNTERS
            }
            values |= {name: getattr(status, name) for name in EMF_UNITS}
            records.append(({"Application": self.application, "Shard": status.shard_id}, values))
            self._previous[status.shard_id] = status
        self.writer.write(records, EMF_UNITS)
