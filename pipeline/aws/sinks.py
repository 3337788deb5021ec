"""The AWS output sink: lake tables through Firehose, window results into DynamoDB."""

from __future__ import annotations

from typing import Any

from pipeline.aws.clients import AwsClients
from pipeline.aws.dynamodb import ResultsTable
from pipeline.aws.errors import sink_errors
from pipeline.aws.firehose import FirehoseWriter
from pipeline.config import Config
from pipeline.core.results import INLINE_DEAD_LETTER_BYTES, DeadLetter, Outcome, event_rows
from pipeline.lake.tables import lake_tables


class AwsOutputSink:
    """Writes each outcome to its Firehose delivery streams and the results table."""

    def __init__(self, config: Config, clients: AwsClients) -> None:
        tables = lake_tables(config)
        firehose = clients.firehose
        record_kib = config.firehose.record_kib
        self._writers = {
            key: FirehoseWriter(firehose, t.delivery_stream, record_kib=record_kib)
            for key, t in tables.items()
        }
        self._s3 = clients.s3
        self._bucket = config.names.bucket
        self._results = ResultsTable(
            clients.dynamodb,
            config.names.results_table,
            config.window_jobs,
            retention_s=config.results.retention_s,
        )

    def _dead_letter_row(self, dead: DeadLetter) -> dict[str, Any]:
        if len(dead.data) <= INLINE_DEAD_LETTER_BYTES:
            return dead.as_row()
        uri = f"s3://{self._bucket}/{dead.raw_key}"
        what = f"cannot store the raw data of dead letter {dead.record_id}"
        with sink_errors(what, "PutObject", f"S3 object {uri}"):
            self._s3.put_object(Bucket=self._bucket, Key=dead.raw_key, Body=dead.data)
        return dead.as_row(uri)

    def write(self, outcome: Outcome, shard_id: str) -> None:
        if outcome.events:
            self._writers["events"].put_encoded(event_rows(outcome.events, shard_id))
        if outcome.late:
            self._writers["late"].put(late.as_row() for late in outcome.late)
        if outcome.dead_letters:
            self._writers["dead_letters"].put(
                self._dead_letter_row(d) for d in outcome.dead_letters
            )
        if outcome.results:
            # DynamoDB first: the lake receives the merged rows (every version; readers take
            # the highest), so a part is in the lake only once it is merged in the table
            by_job: dict[str, list[dict[str, Any]]] = {}
            for row in self._results.write(outcome.results, shard_id):
                by_job.setdefault(row["job"], []).append(row)
            for job, rows in by_job.items():
                self._writers[f"result:{job}"].put(rows)
