"""The Athena engine: what it sends through awswrangler, and how it fails.

The emulator's Athena answers every query with nothing, so awswrangler is replaced by a stub
that records the request and returns (or raises) what Athena would; nothing here proves Athena
accepts the SQL beyond its parsing by sqlglot's Athena dialect.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
import sqlglot
from click.testing import CliRunner

from pipeline.aws import athena
from pipeline.aws.clients import AwsClients
from pipeline.cli import main
from pipeline.config import load_config
from pipeline.core.errors import PipelineError
from pipeline.lake.tables import lake_tables
from pipeline.reports.athena import AthenaSession
from pipeline.reports.catalog import report
from pipeline.reports.params import bind
from pipeline.reports.runner import run_report


class QueryFailed(Exception):
    pass


class QueryCancelled(Exception):
    pass


class StubWrangler:
    """awswrangler's surface the engine uses: athena.read_sql_query and two exceptions."""

    class exceptions:  # mirrors awswrangler.exceptions
        QueryFailed = QueryFailed
        QueryCancelled = QueryCancelled

    def __init__(self, frame: pd.DataFrame | None = None, error: Exception | None = None):
        self.frame = frame if frame is not None else pd.DataFrame({"n": [1]})
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.athena = self

    def read_sql_query(self, sql: str, **kwargs: Any) -> pd.DataFrame:
        self.calls.append((sql, kwargs))
        if self.error:
            raise self.error
        return self.frame


@pytest.fixture
def config():
    return load_config(env={})


def test_the_request_binds_every_parameter_server_side(config):
    stub = StubWrangler()
    session = AthenaSession(config, AwsClients(config.aws), wrangler=stub)
    values = bind({"since_ms": 1_767_225_600_000, "site": "o'brien; DROP TABLE x --"})
    run_report(session, report("device_summary"), lake_tables(config), values)

    ((sql, kwargs),) = stub.calls
    assert kwargs["paramstyle"] == "qmark"
    assert (kwargs["database"], kwargs["workgroup"]) == ("kpipe", "kpipe")
    assert kwargs["ctas_approach"] is False and kwargs["unload_approach"] is False
    assert kwargs["s3_output"] is None  # the workgroup's location
    params = kwargs["params"]
    assert sql.count("?") == len(params)
    assert "o'brien" not in sql and "DROP" not in sql  # values never enter the text
    assert "'o''brien; DROP TABLE x --'" in params
    # the pruned view's partition predicate first: from an hour before the range
    assert params[:3] == ["'2025-12-31'", "'2025-12-31'", "'23'"]
    assert "1767225600000" in params
    parsed = sqlglot.parse_one(sql, read="athena")  # Athena SQL as sent
    assert "WHERE dt > ? OR (dt = ? AND hour >= ?)" in parsed.sql(dialect="athena")


def test_a_failed_query_reports_athenas_reason(config):
    reason = "SYNTAX_ERROR: line 3:8: Column 'nope' cannot be resolved"
    stub = StubWrangler(error=QueryFailed(reason))
    session = AthenaSession(config, AwsClients(config.aws), workgroup="analysts", wrangler=stub)
    with pytest.raises(PipelineError, match="Athena query failed in workgroup analysts: SYNTAX"):
        session.query("SELECT 1 AS n ORDER BY n")


def test_the_cli_runs_athena_and_fails_in_one_line(config, monkeypatch):
    stub = StubWrangler(
        frame=pd.DataFrame({"output": ["events"], "reason": ["valid"], "records": [7]})
    )
    monkeypatch.setattr(athena, "_wrangler", lambda: stub)
    args = ["report", "pipeline_health", "--engine", "athena", "--athena-output", "s3://r/q/"]
    result = CliRunner().invoke(main, args, env={})
    assert result.exit_code == 0, result.output
    assert "events  valid   7" in result.stdout
    assert stub.calls[0][1]["s3_output"] == "s3://r/q/"

    stub.error = QueryFailed("HIVE_CANNOT_OPEN_SPLIT: NoSuchKey")
    result = CliRunner().invoke(main, args, env={})
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: Athena query failed in workgroup kpipe: HIVE_CANNOT_OPEN_SPLIT: NoSuchKey"
    )


def test_without_awswrangler_the_athena_engine_says_how_to_install_it(config, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "awswrangler", None)
    with pytest.raises(PipelineError, match=r"pip install 'kinesis-pipeline\[athena\]'"):
        AthenaSession(config, AwsClients(config.aws))
