"""Event-time tumbling windows: declared jobs, mergeable aggregates, the window operator."""

from pipeline.core.windows.operator import WindowOperator
from pipeline.core.windows.spec import MetricSpec, WindowJob, compile_jobs, parse_duration

__all__ = ["MetricSpec", "WindowJob", "WindowOperator", "compile_jobs", "parse_duration"]
