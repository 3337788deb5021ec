"""Athena through awswrangler: a query started in a workgroup, waited for, and its result read.

A failed or cancelled query raises :class:`PipelineError` with Athena's own reason
(``StateChangeReason``); a failed request is translated like every AWS call
(:mod:`pipeline.aws.errors`).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from pipeline.aws.errors import aws_errors
from pipeline.core.errors import PipelineError


def _wrangler() -> Any:
    try:
        import awswrangler
    except ImportError as exc:
        raise PipelineError(
            "the athena engine needs awswrangler: pip install 'kinesis-pipeline[athena]'"
        ) from exc
    return awswrangler


class AthenaQueries:
    """Runs Athena SQL in one database and workgroup; ``wrangler`` replaces awswrangler (tests)."""

    def __init__(
        self,
        session: Any,
        database: str,
        workgroup: str,
        output: str | None = None,
        wrangler: Any = None,
    ) -> None:
        self.session = session
        self.database = database
        self.workgroup = workgroup
        self.output = output
        self._wr = wrangler or _wrangler()

    def read(self, sql: str, values: list[str]) -> pa.Table:
        """Run ``sql`` with ``?`` bound to ``values`` server side, wait, and return the result."""
        try:
            with aws_errors("Athena query", f"workgroup {self.workgroup!r}"):
                frame = self._wr.athena.read_sql_query(
                    sql,
                    database=self.database,
                    workgroup=self.workgroup,
                    s3_output=self.output,
                    ctas_approach=False,
                    unload_approach=False,
                    params=values or None,
                    paramstyle="qmark",
                    boto3_session=self.session,
                    dtype_backend="pyarrow",
                )
        except self._wr.exceptions.QueryFailed as exc:
            raise PipelineError(
                f"Athena query failed in workgroup {self.workgroup}: {exc}"
            ) from exc
        except self._wr.exceptions.QueryCancelled as exc:
            raise PipelineError(
                f"Athena query cancelled in workgroup {self.workgroup}: {exc}"
            ) from exc
        return pa.Table.from_pandas(frame, preserve_index=False)
