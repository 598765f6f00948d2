"""Lambda's SQS event source mapping, run in threads: poll, invoke, delete what succeeded.

As Lambda does it: up to `max_concurrency` pollers long-poll the queue, each hands a batch of up
to `batch_size` messages to the handler in an event shaped exactly like Lambda's, with a context
whose remaining time follows the function timeout. Messages named in `batchItemFailures` stay in
the queue and come back after the visibility timeout; a handler that raises (or names a message
that is not in the batch) fails the whole batch. Moving exhausted messages to the dead-letter
queue is the queue's redrive policy: moto applies it on receive, as SQS does.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("local-event-source")

Handler = Callable[[dict[str, Any], Any], Any]
#: Builds one "container": called once per poller thread, returns the handler it invokes.
HandlerFactory = Callable[[], Handler]


@dataclass
class LambdaContext:
    """The parts of Lambda's context object Powertools and the function read."""

    function_name: str
    timeout_seconds: float
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    region: str = "us-east-1"
    account_id: str = "123456789012"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@dataclass(frozen=True)
class Invocation:
    """One handler call: which messages it got, which failed, what it answered."""

    poller: int
    message_ids: tuple[str, ...]
    failed_ids: tuple[str, ...]
    receive_counts: dict[str, int]
    bodies: dict[str, str]
    response: Any
    error: str | None
    duration_ms: float


def lambda_sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message as Lambda puts it in the event (camelCase, attributes as strings)."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": str(attributes.get("ApproximateReceiveCount", "1")),
            "SentTimestamp": str(attributes.get("SentTimestamp", int(time.time() * 1000))),
            "SenderId": str(attributes.get("SenderId", "AIDAIENQZJOLO23YVJ4VO")),
            "ApproximateFirstReceiveTimestamp": str(
                attributes.get("ApproximateFirstReceiveTimestamp", int(time.time() * 1000))
            ),
        },
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType", "String"),
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class EventSourceMapping:
    """Pollers feeding an SQS queue to a handler. `start()`, `pause()`/`resume()`, `stop()`."""

    def __init__(
        self,
        sqs_client: Any,
        *,
        queue_url: str,
        queue_arn: str,
        handler_factory: HandlerFactory,
        function_name: str,
        function_timeout: float,
        batch_size: int,
        max_concurrency: int,
        region: str = "us-east-1",
        wait_time_seconds: int = 1,
    ) -> None:
        self._sqs = sqs_client
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self._factory = handler_factory
        self.function_name = function_name
        self.function_timeout = function_timeout
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.region = region
        # Short long-polls: an idle poller notices stop() within a second.
        self._wait = wait_time_seconds
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._invocations: list[Invocation] = []
        self._busy = 0

    def start(self) -> None:
        self._stop.clear()
        for number in range(self.max_concurrency):
            thread = threading.Thread(target=self._poll, args=(number,), name=f"esm-poller-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop polling; a batch in progress is finished first (as Lambda lets it run)."""
        self._stop.set()
        self._running.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]

    def pause(self) -> None:
        """Like disabling the mapping: pollers finish their batch and stop receiving."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def invocations(self) -> list[Invocation]:
        with self._lock:
            return list(self._invocations)

    @property
    def busy(self) -> int:
        with self._lock:
            return self._busy

    def _poll(self, number: int) -> None:
        # Each poller is one warm container: built before its first batch, so a test's short
        # visibility timeout never has to cover a cold start.
        try:
            handler = self._factory()
        except Exception:
            log.exception("the function failed to initialise; this poller stops")
            return
        while not self._stop.is_set():
            if not self._running.wait(0.2):
                continue
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    WaitTimeSeconds=self._wait,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as exc:  # the poller must outlive a failed poll, as Lambda's does
                if self._stop.is_set():
                    return
                log.warning("receive failed: %s", exc)
                self._stop.wait(0.5)
                continue
            if not messages:
                continue
            self._invoke(number, handler, messages)

    def _invoke(self, number: int, handler: Handler, messages: list[dict[str, Any]]) -> None:
        records = [lambda_sqs_record(m, self.queue_arn, self.region) for m in messages]
        ids = [r["messageId"] for r in records]
        context = LambdaContext(self.function_name, self.function_timeout, region=self.region)
        started = time.perf_counter()
        response: Any = None
        error: str | None = None
        with self._lock:
            self._busy += 1
        try:
            response = handler({"Records": records}, context)
            failed = _failed_ids(response, ids)
        except Exception as exc:  # a crashed invocation: Lambda retries the whole batch
            error = f"{type(exc).__name__}: {exc}"
            log.warning("invocation failed, the whole batch returns to the queue: %s", error)
            failed = list(ids)
        finally:
            with self._lock:
                self._busy -= 1
        succeeded = [m for m in messages if m["MessageId"] not in failed]
        self._delete(succeeded)
        invocation = Invocation(
            poller=number,
            message_ids=tuple(ids),
            failed_ids=tuple(failed),
            receive_counts={r["messageId"]: int(r["attributes"]["ApproximateReceiveCount"]) for r in records},
            bodies={r["messageId"]: r["body"] for r in records},
            response=response,
            error=error,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        with self._lock:
            self._invocations.append(invocation)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
            try:
                self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:  # undeleted messages come back: at-least-once, as in AWS
                log.warning("delete failed: %s", exc)


def _failed_ids(response: Any, ids: list[str]) -> list[str]:
    """Lambda's reading of a partial batch response; anything it cannot trust fails the whole batch."""
    if not isinstance(response, dict) or "batchItemFailures" not in response:
        return []
    failures = response.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return list(ids)
    failed: list[str] = []
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in ids:
            return list(ids)
        failed.append(identifier)
    return failed
