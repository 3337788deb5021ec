"""The embedded AWS emulator: moto, made faithful where the pipeline's results depend on it.

moto 5.2.5 emulates Kinesis, DynamoDB, Firehose, S3 and Glue well enough to run the whole
pipeline offline, except in the places where its shortcuts would change what the pipeline
computes or how it behaves under test:

* Kinesis (:mod:`.kinesis`): puts and GetRecords that slow down as a shard grows; resharding that
  copies the parent's records into its children, keeps writing to the closed parent and never
  reports SHARD_END; PutRecord accepting records over 1 MiB.
* Firehose (:mod:`.firehose`): one S3 object per PutRecordBatch, unbuffered, unconverted, under
  unevaluated prefixes, with no error output. The lake needs AWS's buffering, Parquet conversion
  with the Glue schema, ``!{timestamp:...}`` partitions and the error prefix.
* S3 (:mod:`.routes`): bodies the AWS SDK for C++ (pyarrow's S3 filesystem) streams chunked
  were stored as empty objects.

:func:`install_patches` applies the fixes to moto's classes in this process; :func:`serve` and
:class:`EmbeddedEmulator` call it and serve moto with hypercorn (HTTP/1.1 and h2c on one port,
as the Java KCL needs). :func:`flush_firehose` delivers Firehose buffers on demand;
:func:`set_faults` makes the emulator throttle, fail, partially fail, slow down or lose responses
on purpose (:mod:`.faults`), reproducibly from a seed; :func:`java_calls` lists what the KCL
daemon (the AWS SDK for Java) called, on which resources (:mod:`.calls`), to check its IAM policy.
"""

from pipeline.emulator.patches import install_patches
from pipeline.emulator.routes import fault_stats, flush_firehose, java_calls, set_faults
from pipeline.emulator.server import EmbeddedEmulator, serve

__all__ = [
    "EmbeddedEmulator",
    "fault_stats",
    "flush_firehose",
    "install_patches",
    "java_calls",
    "serve",
    "set_faults",
]
