"""Runs the real handler against moto and the local Imagga server, and captures what it said.

`Moderation` builds the function's services from environment-like settings, the way the
container does, but with moto-backed clients, a session to the local Imagga server and a
short retry backoff; `invoke` calls `lambda_handler` and collects the log lines and metrics
of that invocation.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from botocore.client import BaseClient

from moderator.app import lambda_handler
from moderator.observability import SERVICE
from moderator.observability import logger as function_logger
from moderator.settings import Settings
from moderator.wiring import Services, build_services
from tests.builders import FakeLambdaContext

from .fake_imagga import API_KEY, API_SECRET, FakeImagga

#: Retries in tests wait microseconds, not seconds.
TEST_BACKOFF_BASE = 0.001


class _Collector(logging.Handler):
    """Keeps each record formatted by the function's own (Powertools JSON) formatter."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Invocation:
    """What one invocation returned (or raised), logged and counted."""

    response: dict[str, Any] | None
    log_lines: list[str]
    stdout: str
    stderr: str = ""
    error: BaseException | None = None

    @property
    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_lines]

    def logged(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.logs if line.get("message") == message]

    @property
    def metrics(self) -> dict[str, float]:
        """Every metric flushed in Embedded Metric Format on stdout, summed by name."""
        totals: dict[str, float] = {}
        for line in self.stdout.splitlines():
            if not line.startswith("{") or '"_aws"' not in line:
                continue
            blob = json.loads(line)
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = blob[metric["Name"]]
                    values = value if isinstance(value, list) else [value]
                    totals[metric["Name"]] = totals.get(metric["Name"], 0.0) + sum(float(v) for v in values)
        return totals

    @property
    def failed_message_ids(self) -> list[str]:
        assert self.response is not None, f"the invocation raised {self.error!r}"
        return [item["itemIdentifier"] for item in self.response["batchItemFailures"]]


@dataclass
class Moderation:
    """The function under test, wired to moto clients and the local Imagga server."""

    imagga: FakeImagga
    s3: BaseClient
    secrets: BaseClient
    dynamodb: BaseClient
    capsys: Any
    env: dict[str, str] = field(default_factory=dict)
    _services: Services | None = None

    def base_env(self) -> dict[str, str]:
        return {
            "IMAGGA_API_ENDPOINT": self.imagga.endpoint,
            "IMAGGA_API_KEY": API_KEY,
            "IMAGGA_API_SECRET": API_SECRET,
            "IMAGGA_CONNECT_TIMEOUT": "1",
            "IMAGGA_READ_TIMEOUT": "5",
        }

    def configure(self, **env: str) -> None:
        """Environment variables of the function (on top of the base); services are rebuilt."""
        self.env = dict(env)
        self._services = None

    def settings(self) -> Settings:
        return Settings.from_env({**self.base_env(), **self.env})

    def build(self, s3_client: BaseClient | None = None) -> Services:
        return build_services(
            self.settings(),
            s3_client=s3_client or self.s3,
            http_session=requests.Session(),
            secrets_client=self.secrets,
            dynamodb_client=self.dynamodb,
            backoff_base=TEST_BACKOFF_BASE,
        )

    @property
    def services(self) -> Services:
        """One set per 'container': repeated invocations share it, as a warm Lambda does."""
        if self._services is None:
            self._services = self.build()
        return self._services

    def invoke(
        self, event: dict[str, Any], *, context: FakeLambdaContext | None = None, services: Services | None = None
    ) -> Invocation:
        """Call the handler; a raised exception is kept in `error` (the test asserts on it)."""
        self.capsys.readouterr()
        with _collecting_logs() as collector:
            response: dict[str, Any] | None = None
            error: BaseException | None = None
            try:
                response = lambda_handler(event, context or FakeLambdaContext(), services=services or self.services)
            except Exception as exc:
                error = exc
        captured = self.capsys.readouterr()
        return Invocation(response, collector.lines, captured.out, captured.err, error)


@contextmanager
def _collecting_logs() -> Iterator[_Collector]:
    stdlib_logger = logging.getLogger(SERVICE)
    collector = _Collector(function_logger.registered_formatter)
    stdlib_logger.addHandler(collector)
    try:
        yield collector
    finally:
        stdlib_logger.removeHandler(collector)


def notify_queue(s3: BaseClient, sqs: BaseClient, bucket: str, queue_name: str = "moderation-test-queue") -> str:
    """Have the bucket send ObjectCreated notifications to a new SQS queue, as the template does; its URL."""
    queue_url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    return str(queue_url)


def sqs_event_from_queue(sqs: BaseClient, queue_url: str, *, expect: int = 0, timeout: float = 30.0) -> dict[str, Any]:
    """Receive what is waiting in the queue and shape it as the SQS event Lambda would be given.

    `expect`: wait (bounded) until that many messages came: LocalStack, like S3, sends its
    notifications a moment after the upload, not during it.
    """
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        waiting = len(records) < expect and time.monotonic() < deadline
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1 if waiting else 0
        )
        messages = batch.get("Messages", [])
        if not messages and not waiting:
            break
        records.extend(lambda_record(message, queue_arn) for message in messages)
    return {"Records": records}


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A received SQS message as Lambda's event source mapping hands it to the function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def tags_of(s3: BaseClient, bucket: str, key: str, version_id: str | None = None) -> dict[str, str]:
    params = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
    return {tag["Key"]: tag["Value"] for tag in s3.get_object_tagging(**params)["TagSet"]}


class Subscriber:
    """An SQS queue that receives whatever a rule or a subscription sends it."""

    def __init__(self, sqs: BaseClient, name: str) -> None:
        self.sqs = sqs
        self.url = sqs.create_queue(QueueName=name)["QueueUrl"]
        self.arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def bodies(self, expect: int = 0, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Every message delivered so far, after waiting (bounded) for `expect` of them: LocalStack, like
        AWS, delivers a moment after the publish. Expecting none still gives a late one a second to come."""
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            waiting = (len(received) < expect or not waited) and time.monotonic() < deadline
            batch = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1 if waiting else 0
            )
            waited = True
            messages = batch.get("Messages", [])
            if not messages and not waiting:
                return received
            for message in messages:
                received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
