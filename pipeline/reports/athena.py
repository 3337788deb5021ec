"""Reports on Athena, through awswrangler, in a workgroup of the user's AWS account.

The report SQL goes to Athena as written (Athena is the dialect it is written in); its ``:name``
parameters become ``?`` bound server side (``ExecutionParameters``). awswrangler starts the
query in the workgroup (whose configuration decides the results location; ``output`` sets one
for workgroups that do not), waits for it, and reads the result (:mod:`pipeline.aws.athena`). A
failed query raises :class:`PipelineError` with Athena's own reason. The views the reports
read are created once per account from ``sql/ddl/`` (``pipeline ddl``).

The emulator's Athena is a stub that answers every query with nothing, so this path is tested
against a stubbed awswrangler (request construction and error handling), not against Athena.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from sqlglot import exp

from pipeline.aws.athena import AthenaQueries
from pipeline.aws.clients import AwsClients
from pipeline.config import Config
from pipeline.reports.portable import to_athena

log = logging.getLogger(__name__)


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
        # the deployed stack names its workgroup after the Glue database (deploy/template.yaml)
        self.workgroup = workgroup or config.names.glue_database
        self._athena = AthenaQueries(
            clients.session, config.names.glue_database, self.workgroup, output, wrangler
        )

    def query(
        self, sql: str | exp.Expression, parameters: Mapping[str, Any] | None = None
    ) -> pa.Table:
        """Run Athena SQL (parameters as ``:name``), wait, and return the result."""
        text, values = to_athena(sql, parameters or {})
        log.info("athena query", extra={"workgroup": self.workgroup, "parameters": len(values)})
        return self._athena.read(text, values)

    def close(self) -> None:
        """Nothing to release (symmetry with :class:`~pipeline.reports.duck.LakeSession`)."""

    def __enter__(self) -> AthenaSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
