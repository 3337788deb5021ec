"""Streaming analytics on AWS, as a Python library: ``import pipeline``.

The supported API is the names below (``pipeline.__all__``); anything else may change between
releases. They load on first use, so ``import pipeline`` stays cheap: the AWS SDK, DuckDB and
the charting library are imported only by the names that need them.

Configuration
    :func:`load_config` -> :class:`Config` (``config.types``, ``config.jobs_for(type)``);
    :func:`compile_event_types` turns ``[[event_types]]`` declarations into :class:`EventType`,
    :func:`compile_jobs` ``[[jobs]]`` into :class:`WindowJob`.
The per-shard core (pure: no AWS, no I/O, no clock)
    :class:`ShardCore` turns :class:`RawRecord` batches into an :class:`Outcome`
    (:class:`WindowResults` of :class:`WindowResult`, by columns from each
    :class:`ClosedWindows`; :class:`LateEvent`, :class:`DeadLetter`, :class:`Counters`);
    :data:`END_OF_STREAM` is the control record that closes a bounded input's windows.
The record processor (the KCL lifecycle, engine-neutral)
    :class:`ShardProcessor` drives a core, an :class:`OutputSink` and a
    :class:`ShardStateStore` through :class:`InitializeInput`, :class:`ProcessRecordsInput`,
    :class:`LeaseLostInput`, :class:`ShardEndedInput` and :class:`ShutdownRequestedInput`;
    a :class:`Checkpointer` records progress. Sinks: :class:`AwsOutputSink` (Firehose and
    DynamoDB, through :class:`AwsClients`), :class:`SnapshotStore` (S3); fakes for tests:
    :class:`MemorySink`, :class:`MemoryStateStore`, :class:`MemoryCheckpointer`.
Producers
    Sources :class:`IotFleet`, :class:`WebUsers`, :class:`SyntheticSource` (any declared type)
    and :class:`FileSource` (your NDJSON); :class:`KinesisWriter` (PutRecords within the
    shards' limits, retrying failed entries); :func:`produce` runs a whole
    :class:`ProduceOptions`.
Reports
    :func:`report_catalog` (every shipped :class:`Report` by name) and :func:`report` (one);
    :func:`run_report` runs one on a :class:`LakeSession` (DuckDB over the lake) or an
    :class:`AthenaSession`, with parameters from :func:`bind` and tables from
    :func:`lake_tables`.
Errors
    :class:`PipelineError` and its kinds :class:`ConfigError`, :class:`SinkError`,
    :class:`StateError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "END_OF_STREAM",
    "AthenaSession",
    "AwsClients",
    "AwsOutputSink",
    "Checkpoint",
    "CheckpointFailed",
    "Checkpointer",
    "ClosedWindows",
    "Config",
    "ConfigError",
    "Counters",
    "DeadLetter",
    "EventType",
    "FileSource",
    "InitializeInput",
    "IotFleet",
    "KinesisWriter",
    "LakeSession",
    "LateEvent",
    "LeaseLostInput",
    "MemoryCheckpointer",
    "MemorySink",
    "MemoryStateStore",
    "Outcome",
    "OutputSink",
    "PipelineError",
    "ProcessRecordsInput",
    "ProduceOptions",
    "RawRecord",
    "RecordBatch",
    "Report",
    "ShardCore",
    "ShardEndedInput",
    "ShardProcessor",
    "ShardStateStore",
    "ShutdownRequestedInput",
    "SinkError",
    "SnapshotStore",
    "StateError",
    "StateStore",
    "SyntheticSource",
    "WebUsers",
    "WindowJob",
    "WindowResult",
    "WindowResults",
    "WriterStats",
    "__version__",
    "bind",
    "compile_event_types",
    "compile_jobs",
    "lake_tables",
    "load_config",
    "produce",
    "report",
    "report_catalog",
    "run_report",
]

# Where each name is defined, for the first use (the imports below are the type checkers' view
# of the same names; tests/test_api.py keeps the three lists equal)
_MODULES = {
    "pipeline.config": ("Config", "load_config"),
    "pipeline.core.events.schema": ("EventType", "compile_event_types"),
    "pipeline.core.windows.spec": ("WindowJob", "compile_jobs"),
    "pipeline.core.shard": ("ShardCore", "END_OF_STREAM"),
    "pipeline.core.records": ("RawRecord", "RecordBatch", "Checkpoint"),
    "pipeline.core.results": (
        "Outcome",
        "WindowResults",
        "ClosedWindows",
        "WindowResult",
        "LateEvent",
        "DeadLetter",
        "Counters",
    ),
    "pipeline.core.errors": ("PipelineError", "ConfigError", "SinkError", "StateError"),
    "pipeline.core.sinks": ("OutputSink", "StateStore"),
    "consumers.processor": ("ShardProcessor", "ShardStateStore"),
    "consumers.lifecycle": (
        "Checkpointer",
        "CheckpointFailed",
        "InitializeInput",
        "ProcessRecordsInput",
        "LeaseLostInput",
        "ShardEndedInput",
        "ShutdownRequestedInput",
    ),
    "pipeline.aws.clients": ("AwsClients",),
    "pipeline.aws.sinks": ("AwsOutputSink",),
    "pipeline.aws.state": ("SnapshotStore",),
    "pipeline.testing": ("MemorySink", "MemoryStateStore", "MemoryCheckpointer"),
    "producers.iot": ("IotFleet",),
    "producers.web": ("WebUsers",),
    "producers.synthetic": ("SyntheticSource",),
    "producers.file_source": ("FileSource",),
    "producers.writer": ("KinesisWriter", "WriterStats"),
    "producers.run": ("ProduceOptions", "produce"),
    "pipeline.reports.catalog": ("Report", "report", "report_catalog"),
    "pipeline.reports.runner": ("run_report",),
    "pipeline.reports.params": ("bind",),
    "pipeline.reports.duck": ("LakeSession",),
    "pipeline.reports.athena": ("AthenaSession",),
    "pipeline.lake.tables": ("lake_tables",),
}
#: Exported under another name than its module's (``pipeline.reports`` is the subpackage)
_RENAMED = {"report_catalog": "reports"}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}

if TYPE_CHECKING:
    from consumers.lifecycle import Checkpointer as Checkpointer
    from consumers.lifecycle import CheckpointFailed as CheckpointFailed
    from consumers.lifecycle import InitializeInput as InitializeInput
    from consumers.lifecycle import LeaseLostInput as LeaseLostInput
    from consumers.lifecycle import ProcessRecordsInput as ProcessRecordsInput
    from consumers.lifecycle import ShardEndedInput as ShardEndedInput
    from consumers.lifecycle import ShutdownRequestedInput as ShutdownRequestedInput
    from consumers.processor import ShardProcessor as ShardProcessor
    from consumers.processor import ShardStateStore as ShardStateStore
    from pipeline.aws.clients import AwsClients as AwsClients
    from pipeline.aws.sinks import AwsOutputSink as AwsOutputSink
    from pipeline.aws.state import SnapshotStore as SnapshotStore
    from pipeline.config import Config as Config
    from pipeline.config import load_config as load_config
    from pipeline.core.errors import ConfigError as ConfigError
    from pipeline.core.errors import PipelineError as PipelineError
    from pipeline.core.errors import SinkError as SinkError
    from pipeline.core.errors import StateError as StateError
    from pipeline.core.events.schema import EventType as EventType
    from pipeline.core.events.schema import compile_event_types as compile_event_types
    from pipeline.core.records import Checkpoint as Checkpoint
    from pipeline.core.records import RawRecord as RawRecord
    from pipeline.core.records import RecordBatch as RecordBatch
    from pipeline.core.results import ClosedWindows as ClosedWindows
    from pipeline.core.results import Counters as Counters
    from pipeline.core.results import DeadLetter as DeadLetter
    from pipeline.core.results import LateEvent as LateEvent
    from pipeline.core.results import Outcome as Outcome
    from pipeline.core.results import WindowResult as WindowResult
    from pipeline.core.results import WindowResults as WindowResults
    from pipeline.core.shard import END_OF_STREAM as END_OF_STREAM
    from pipeline.core.shard import ShardCore as ShardCore
    from pipeline.core.sinks import OutputSink as OutputSink
    from pipeline.core.sinks import StateStore as StateStore
    from pipeline.core.windows.spec import WindowJob as WindowJob
    from pipeline.core.windows.spec import compile_jobs as compile_jobs
    from pipeline.lake.tables import lake_tables as lake_tables
    from pipeline.reports.athena import AthenaSession as AthenaSession
    from pipeline.reports.catalog import Report as Report
    from pipeline.reports.catalog import report as report
    from pipeline.reports.catalog import reports as report_catalog
    from pipeline.reports.duck import LakeSession as LakeSession
    from pipeline.reports.params import bind as bind
    from pipeline.reports.runner import run_report as run_report
    from pipeline.testing import MemoryCheckpointer as MemoryCheckpointer
    from pipeline.testing import MemorySink as MemorySink
    from pipeline.testing import MemoryStateStore as MemoryStateStore
    from producers.file_source import FileSource as FileSource
    from producers.iot import IotFleet as IotFleet
    from producers.run import ProduceOptions as ProduceOptions
    from producers.run import produce as produce
    from producers.synthetic import SyntheticSource as SyntheticSource
    from producers.web import WebUsers as WebUsers
    from producers.writer import KinesisWriter as KinesisWriter
    from producers.writer import WriterStats as WriterStats


def __getattr__(name: str) -> Any:
    """Import an exported name's module on first use (PEP 562)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
