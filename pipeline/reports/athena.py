"""Reports on Athena, through awswrangler, in a workgroup of the user's AWS account.

The report SQL goes to Athena as written (Athena is the dialect it is written in); its ``:name``
parameters become ``?`` bound server side (``ExecutionParameters``). awswrangler starts the
query in the workgroup (whose configuration decides the results location; ``output`` sets one
for workgroups that do not), waits for it, and reads the result. A failed query raises
:class:`PipelineError` with Athena's own reason (``StateChangeReason``). The views the reports
read are created once per account from ``sql/ddl/`` (``pipeline ddl``).

The emulator's Athena is a stub that answers every query with nothing, so this path is tested
against a stubbed awswrangler (request construction and error handling), not against Athena.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError
from sqlglot import exp

from pipeline.aws.clients import AwsClients
from pipeline.config import Config
from pipeline.core.errors import PipelineError
from pipeline.reports.portable import to_athena

log = logging.getLogger(__name__)


def _wrangler() -> Any:
    try:
        import awswrangler
    except ImportError as exc:
        raise PipelineError(
            "the athena engine needs awswrangler: pip install 'kinesis-pipeline[athena]'"
        ) from exc
    return awswrangler


class AthenaSession:
    """Runs report SQL on Athena; ``wrangler`` replaces the awswrangler module (tests)."""

    def __init__(
        self,
        config: Config,
        clients: AwsClients,
        workgroup: str | None = None,
        output: str | None = None,
        wrangler: Any = None,
    ) -> None:
        self.database = config.names.glue_database
        # the deployed stack names its workgroup after the Glue database (deploy/template.yaml)
        self.workgroup = workgroup or config.names.glue_database
        self.output = output
        self.session = clients.session
        self._wr = wrangler or _wrangler()

    def query(
        self, sql: str | exp.Expression, parameters: Mapping[str, Any] | None = None
    ) -> pa.Table:
        """Run Athena SQL (parameters as ``:name``), wait, and return the result."""
        text, values = to_athena(sql, parameters or {})
        log.info("athena query", extra={"workgroup": self.workgroup, "parameters": len(values)})
        try:
            frame = self._wr.athena.read_sql_query(
                text,
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
        except (ClientError, BotoCoreError) as exc:
            raise PipelineError(f"Athena request failed: {exc}") from exc
        return pa.Table.from_pandas(frame, preserve_index=False)

    def close(self) -> None:
        """Nothing to release (symmetry with :class:`~pipeline.reports.duck.LakeSession`)."""

    def __enter__(self) -> AthenaSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
