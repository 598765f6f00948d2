"""SQS, for backfill work: send tasks to the backfill queue, and put back a message that must wait.

Waiting has two forms. A message keeps its place by being hidden (ChangeMessageVisibility, at most
12 hours from its receipt); or, when hiding it again would run it into the dead-letter queue (its
receive count) or past the queue's retention (its age), a fresh copy is sent and the original is
let go. The copy is sent before the original is acknowledged: at worst the task runs twice, and
the second run finds the object tagged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import QueueError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

#: SQS's own limits: ten entries per SendMessageBatch, a delay of at most 15 minutes.
BATCH = 10
MAX_DELAY_SECONDS = 900


class Queues:
    """Sends and hides messages; queue URLs are looked up once per ARN.

    Takes a function that makes its client: most invocations never touch SQS, and a client made at
    a cold start costs time every container pays.
    """

    def __init__(self, connect: Callable[[], SQSClient]) -> None:
        self._connect = connect
        self._urls: dict[str, str] = {}

    @cached_property
    def client(self) -> SQSClient:
        """Made on first use."""
        return self._connect()

    def send(self, url: str, bodies: Sequence[str], *, delay_seconds: int = 0) -> list[str]:
        """Send every body (ten per request, a failed entry tried once more); the message ids, in order."""
        ids: list[str] = []
        for start in range(0, len(bodies), BATCH):
            pending = dict(enumerate(bodies[start : start + BATCH]))
            sent: dict[int, str] = {}
            for _attempt in range(2):
                entries = [
                    {"Id": str(number), "MessageBody": body, "DelaySeconds": min(delay_seconds, MAX_DELAY_SECONDS)}
                    for number, body in pending.items()
                ]
                answer = self._call("SendMessageBatch", url, Entries=entries)
                for entry in answer.get("Successful", []):
                    sent[int(entry["Id"])] = str(entry["MessageId"])
                    pending.pop(int(entry["Id"]), None)
                if not pending:
                    break
            if pending:
                raise QueueError(f"SQS refused {len(pending)} message(s) for {url}")
            ids.extend(sent[number] for number in sorted(sent))
        return ids

    def hide(self, url: str, receipt_handle: str, seconds: int) -> None:
        self._call("ChangeMessageVisibility", url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds)

    def url_of(self, queue_arn: str) -> str:
        """The URL of a queue named by ARN (`arn:aws:sqs:<region>:<account>:<name>`), as this endpoint knows it."""
        if queue_arn not in self._urls:
            parts = queue_arn.split(":")
            if len(parts) != 6 or parts[2] != "sqs":
                raise QueueError(f"{queue_arn!r} is not an SQS queue ARN")
            answer = self._call("GetQueueUrl", None, QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])
            self._urls[queue_arn] = str(answer["QueueUrl"])
        return self._urls[queue_arn]

    def _call(self, operation: str, url: str | None, **arguments: Any) -> dict[str, Any]:
        if url is not None:
            arguments["QueueUrl"] = url
        # botocore's own operation names: one place maps its failures to QueueError.
        method: Callable[..., Any] = getattr(self.client, _SNAKE[operation])
        try:
            return dict(method(**arguments))
        except (ClientError, BotoCoreError) as exc:
            code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
            raise QueueError(f"SQS {operation} failed: {code or type(exc).__name__}") from exc


_SNAKE = {
    "SendMessageBatch": "send_message_batch",
    "ChangeMessageVisibility": "change_message_visibility",
    "GetQueueUrl": "get_queue_url",
}
