"""The pure data path, in the order a record travels it.

``records`` (raw Kinesis records; ``kpl`` unpacks aggregated ones) -> ``events`` (decode and
validate into columns) -> ``dedupe`` (by event id over a horizon of event time) -> ``windows``
(event-time tumbling windows, mergeable aggregates) -> ``results`` (window results, late events,
dead letters) -> ``sinks`` (the protocols the AWS adapters implement). ``shard`` runs them for one
shard; ``errors`` is the library's error hierarchy.

Nothing here imports an AWS SDK, opens a file or a socket, or reads a clock: the same records
always give the same outputs, which is what makes a replay from a checkpoint safe.
"""
