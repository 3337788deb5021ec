"""Athena through awswrangler: a refused request is translated like any AWS call.

(What the report engine sends, and Athena's own query failures: tests/reports/test_athena.py.)"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from pipeline.aws.athena import AthenaQueries
from pipeline.core.errors import AccessDeniedError


class RefusingWrangler:
    class exceptions:
        class QueryFailed(Exception):
            pass

        class QueryCancelled(Exception):
            pass

    def __init__(self) -> None:
        self.athena = self

    def read_sql_query(self, sql, **kwargs):
        error = {"Code": "AccessDeniedException", "Message": "not authorized"}
        raise ClientError({"Error": error}, "StartQueryExecution")


def test_a_refused_query_is_access_denied_naming_the_workgroup():
    athena = AthenaQueries(None, "kpipe", "analysts", wrangler=RefusingWrangler())
    with pytest.raises(AccessDeniedError) as denied:
        athena.read("SELECT 1", [])
    assert str(denied.value) == (
        "access denied: Athena query on workgroup 'analysts' "
        "(AccessDeniedException: not authorized); fix: allow Athena query on it in the IAM policy "
        "of the credentials in use (pipeline template writes the policy each role needs)"
    )
