"""S3 throttling and 500s for the function's S3 client, and latency for any of its clients, injected
with botocore's `before-send` event.

A handler registered on `before-send.s3` may answer instead of the network: botocore then parses
that answer like a real one, so its standard retry mode backs off and retries (SlowDown is a
throttling error, 500 a transient one) and, when its attempts run out, the function sees the
ClientError S3 would have given. Pass `attach` as the stack's `function_client_hook`.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

from botocore.awsrequest import AWSResponse

#: Injected answers, by S3 error code: HTTP status and message.
KINDS = {
    "SlowDown": (503, "Please reduce your request rate."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
}


class _Body:
    """The `raw` of an AWSResponse: botocore reads it through `stream()`."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


class S3Faults:
    """Answers a share of S3 requests with 503 SlowDown or 500 InternalError, from a seeded RNG."""

    def __init__(self, *, rate_slowdown: float = 0.0, rate_500: float = 0.0, seed: int = 0) -> None:
        self.rates = {"SlowDown": rate_slowdown, "InternalError": rate_500}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self.enabled = True

    def attach(self, service: str, client: Any) -> None:
        """`LocalStack(function_client_hook=faults.attach)`: only S3 clients get faults."""
        if service == "s3":
            client.meta.events.register("before-send.s3", self._before_send)

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        with self._lock:
            self.requests += 1
            draw = self._rng.random()
            if not self.enabled:
                return None
            edge = 0.0
            for kind, rate in self.rates.items():
                edge += rate
                if draw < edge:
                    self.injected[kind] += 1
                    break
            else:
                return None
        status, message = KINDS[kind]
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{kind}</Code><Message>{message}</Message>'
            "<RequestId>SOAKFAULT</RequestId></Error>"
        ).encode()
        headers = {"Content-Type": "application/xml", "x-amz-request-id": "SOAKFAULT"}
        return AWSResponse(request.url, status, headers, _Body(body))


class Latency:
    """A fixed delay before every request of some services' clients, like a network round trip.

    The local emulators answer in about a millisecond; AWS's in-region DynamoDB takes a few. Pass
    `attach` as the stack's `function_client_hook` (or call it from one) to see what that costs.
    """

    def __init__(self, seconds: float, services: tuple[str, ...] = ("dynamodb",)) -> None:
        self.seconds = seconds
        self.services = services
        self.delayed = 0
        self._lock = threading.Lock()

    def attach(self, service: str, client: Any) -> None:
        if service in self.services and self.seconds > 0:
            client.meta.events.register(f"before-send.{service}", self._wait)

    def _wait(self, **_: Any) -> None:
        with self._lock:
            self.delayed += 1
        time.sleep(self.seconds)
