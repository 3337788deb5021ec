"""Event-time tumbling windows: declared jobs, mergeable aggregates, the window operator."""

from pipeline.core.times import parse_duration
from pipeline.core.windows.operator import WindowOperator
from pipeline.core.windows.spec import MetricSpec, WindowJob, compile_jobs

__all__ = ["MetricSpec", "WindowJob", "WindowOperator", "compile_jobs", "parse_duration"]
