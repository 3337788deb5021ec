"""Thin adapters between the pure core and AWS (or the embedded emulator): every AWS call.

One module per service (kinesis, dynamodb, firehose, s3, sqs, sns, athena; the KCL's lease table
in leases, state snapshots in state, provisioning in provision). Each honours its service's
limits (batch sizes, per-entry failures, backoff) and turns botocore's exceptions into
:mod:`pipeline.core.errors` through :mod:`pipeline.aws.errors`, the one place that maps them.
Clients are built in one place, :mod:`pipeline.aws.clients`; :mod:`pipeline.aws.stream_scaler`
is standalone Lambda source inlined into the deployment template, so it builds its own. Outside
this package and the emulator nothing imports boto3 or botocore (tests/test_packaging.py).
"""
