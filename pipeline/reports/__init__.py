"""Reports: the SQL under ``sql/reports`` run on DuckDB (local) or Athena (AWS), with the same
answers (:mod:`.portable`, :mod:`.lint`), parameters bound by the engines (:mod:`.params`),
output as tables, CSV, JSON or Parquet, published to a reporting bucket and refreshed on S3
events (:mod:`.watch`)."""
