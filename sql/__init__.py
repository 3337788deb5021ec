"""The reporting layer's SQL, shipped as package data: ``ddl/`` (Athena DDL) and ``reports/``.

Reports are written once in Athena (Trino) SQL and run on DuckDB locally (transpiled by sqlglot)
and on Athena in AWS. They read the ``v_*`` views, which count each deterministic id once.
"""
