"""Metrics of a long producer run (``pipeline produce ... --metrics-port P``), for Prometheus.

The writer's cumulative figures (:class:`~producers.writer.WriterStats`) are read at each
scrape, so the counters are exact and nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline.metrics import MetricsServer, registry_of
from producers.writer import WriterStats

#: (WriterStats attribute, metric name after ``kpipe_producer_``, help)
COUNTERS = (
    ("user_records", "records_total", "Records delivered (user records when aggregated)."),
    ("records", "kinesis_records_total", "Kinesis records delivered."),
    ("bytes", "bytes_total", "Bytes delivered, as Kinesis counts them (data and keys)."),
    ("calls", "put_records_calls_total", "PutRecords calls made."),
    ("retried_entries", "retried_entries_total", "Entries retried after a partial failure."),
    ("failed", "failed_records_total", "Records given up on after every retry."),
    ("throttled_s", "throttled_seconds_total", "Seconds held back by the shards' budgets."),
)


class ProducerCollector(Collector):
    """The ``kpipe_producer_*`` series of the run's latest figures (:meth:`observe`)."""

    def __init__(self) -> None:
        self.stats = WriterStats()

    def observe(self, stats: WriterStats) -> None:
        """The writer's progress callback: keep its latest figures."""
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self.stats
        for attribute, name, help_text in COUNTERS:
            yield CounterMetricFamily(
                f"kpipe_producer_{name}", help_text, value=getattr(stats, attribute)
            )
        errors = CounterMetricFamily(
            "kpipe_producer_errors_total", "Failed entries by AWS error code.", labels=["code"]
        )
        for code, count in sorted(stats.error_codes.items()):
            errors.add_metric([code], count)
        yield errors


def producer_metrics_server(
    collector: ProducerCollector, port: int, host: str = "0.0.0.0"
) -> MetricsServer:
    return MetricsServer(registry_of(collector), port, host)
