"""STS: whom the configured credentials belong to.

``GetCallerIdentity`` needs no permission and changes nothing, so it is the harmless call that
proves credentials work (found, unexpired, accepted by AWS) before anything else is tried.
"""

from __future__ import annotations

from typing import Any

from pipeline.aws.errors import aws_errors


def caller_arn(client: Any) -> str:
    """The ARN of the identity the credentials belong to (a user, or an assumed role)."""
    with aws_errors("GetCallerIdentity", "STS"):
        return str(client.get_caller_identity()["Arn"])
