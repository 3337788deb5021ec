"""Reports: the SQL under ``sql/reports`` run on DuckDB (local) or Athena (AWS)."""
