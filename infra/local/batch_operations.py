"""S3 Batch Operations, played locally: each task one direct invocation, many at once.

A job invokes the function once per manifest row, synchronously, as concurrently as Lambda allows;
each concurrent invocation runs in a container of its own. Here every worker thread is one such
container (made by `new_container`, e.g. `LocalStack.new_container`) and keeps it for the tasks it
invokes next, as a warm Lambda container would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .event_source import LambdaContext

Handler = Callable[[dict[str, Any], Any], Any]
#: AWS's schema 2.0 invocation as Powertools publishes it (infra/events/README.md says where it is from).
SCHEMA_2_SAMPLE = Path(__file__).resolve().parents[1] / "events" / "batch-operations-2.0.json"


def task_event(bucket: str, key: str, task: int = 1) -> dict[str, Any]:
    """The published schema 2.0 invocation, its one task naming this bucket and key (URL-encoded, as
    `backfill --batch-operations` writes the manifest), with ids of its own."""
    event: dict[str, Any] = json.loads(SCHEMA_2_SAMPLE.read_text(encoding="utf-8"))
    event["invocationId"] = f"invocation-{task}"
    event["tasks"][0].update({"taskId": f"task-{task}", "s3Bucket": bucket, "s3Key": quote(key, safe="/")})
    return event


def play_batch_operations(
    events: list[dict[str, Any]],
    new_container: Callable[[], Handler],
    concurrency: int,
    *,
    function_timeout: float = 900.0,
) -> list[dict[str, Any]]:
    """Invoke the function once per event, `concurrency` at once; the answers, in the events' order."""
    local = threading.local()

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        if not hasattr(local, "handler"):
            local.handler = new_container()
        answer: dict[str, Any] = local.handler(event, LambdaContext("batch-operations-local", function_timeout))
        return answer

    with ThreadPoolExecutor(concurrency, thread_name_prefix="batch-operations") as pool:
        return list(pool.map(invoke, events))
