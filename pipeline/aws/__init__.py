"""Thin adapters between the pure core and AWS (or the embedded emulator).

One module per service. Each honours its service's limits (batch sizes, per-entry failures,
backoff) and translates botocore errors into :mod:`pipeline.core.errors`. Clients are built in one
place, :mod:`pipeline.aws.clients`.
"""
