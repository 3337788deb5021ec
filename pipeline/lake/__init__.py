"""The lake: the Parquet tables Firehose writes to S3, their Glue schemas and their layout."""

from pipeline.lake.tables import LakeTable, hive_type, lake_tables

__all__ = ["LakeTable", "hive_type", "lake_tables"]
