"""The floor of a cold start: a Lambda handler that imports boto3 and creates one S3 client.

The cold-start benchmark packages it as the function is packaged (functions/build_package.py, the
same boto3 pin) and runs it under the same runtime client: what the function costs above this
floor is its own.
"""

from __future__ import annotations

from typing import Any

import boto3

_clients: list[Any] = []


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Made at the first invocation, as the function makes its clients.
    if not _clients:
        _clients.append(boto3.client("s3"))
    return {"batchItemFailures": []}
