"""Streaming analytics on AWS: the core of the pipeline.

The data path reads top to bottom in this package:
``records`` (raw Kinesis records) -> ``events`` (decode and validate) -> ``dedupe`` ->
``windows`` (event-time tumbling windows) -> ``results`` -> ``sinks``. None of these modules
talks to AWS; the adapters live in :mod:`pipeline.aws` and the embedded emulator in
:mod:`pipeline.emulator`.
"""

__version__ = "0.1.0"
