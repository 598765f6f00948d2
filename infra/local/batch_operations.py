"""S3 Batch Operations, played locally: each task one direct invocation, many at once.

A job invokes the function once per manifest row, synchronously, as concurrently as Lambda allows;
each concurrent invocation runs in a container of its own. Here every worker thread is one such
container (made by `new_container`, e.g. `LocalStack.new_container`) and keeps it for the tasks it
invokes next, as a warm Lambda container would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .event_source import LambdaContext

Handler = Callable[[dict[str, Any], Any], Any]


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
