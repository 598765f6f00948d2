"""The local stack: an AWS emulator, the Imagga emulator and Lambda's SQS event source mapping.

Two AWS emulators, chosen by `backend`: "moto" (the default: moto in server mode, in this process,
starts in milliseconds) or "localstack" (LocalStack for S3, SQS, Secrets Manager, EventBridge, SNS
and STS, closer to AWS in what the function relies on: version ids in S3 events, copy
preconditions; see infra/local/localstack_server.py). DynamoDB is moto's on both.

Provisioned like the SAM template (defaults read from `template.yaml`): a versioned bucket whose
new objects under the incoming prefix are announced to an SQS queue; with `extra_buckets`, more
buckets whose EventBridge notifications reach the same queue through one rule (the template's
`ExistingBucketNames`); the backfill queue; the dead-letter queue both queues redrive to; the
idempotency table; the decisions table (which also holds the content memory); the Imagga
budget's table; a Secrets Manager secret holding the emulator's
credentials. The function runs in this process, fed by two event source mappings (the live queue
and the backfill queue, `max_concurrency` pollers each, as the template's two SQS events): each
poller thread is one "container" with its own `build_services(...)`, and calls
`moderator.app.lambda_handler` as Lambda would.

    with LocalStack() as stack:
        key = stack.upload("cat.jpg", data)
        print(stack.wait_for_status([key], timeout=30)[key].status)

Everything binds 127.0.0.1 on free ports; `stop()` ends every thread and server it started (a
LocalStack passed in is left running: tests share one). moto keeps its state per process and a
shared LocalStack outlives a stack, so each stack names its resources with a random suffix.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from moderator.budget_table import table_definition as budget_table_definition
from moderator.ledger import table_definition as decisions_table_definition

from .event_source import EventSourceMapping, Handler
from .imagga_emulator import Faults, ImaggaEmulator
from .localstack_server import LocalStackServer
from .template_defaults import TemplateDefaults, template_defaults

REGION = "us-east-1"
#: Obviously fake credentials: moto accepts any, the emulator expects these.
AWS_KEY, AWS_SECRET = "test-key", "test-secret"
IMAGGA_KEY, IMAGGA_SECRET = "test-key", "test-secret"
SAMPLES = Path(__file__).resolve().parent / "samples"
#: The clearly labelled demo image that shows the quarantine path (fixed scores, not the model's).
DEMO_UNSAFE_SAMPLE = SAMPLES / "demo-unsafe-sample.png"
DEMO_UNSAFE_NSFW = 97.5
STATUS_TAG = "moderation:status"
BACKENDS = ("moto", "localstack")
#: What S3 answers for a key whose current version is a delete marker: 404 (moto) or 405 (LocalStack, AWS).
_ABSENT_CODES = ("NoSuchKey", "404", "NotFound", "MethodNotAllowed", "405")
_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3})


@dataclass(frozen=True)
class ObjectStatus:
    """Where an uploaded object is now, and its tags there."""

    key: str  # the key it was uploaded under
    location: str  # "incoming", "quarantine" or "missing"
    current_key: str | None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str | None:
        return self.tags.get(STATUS_TAG)

    @property
    def scores(self) -> dict[str, str]:
        skip = {STATUS_TAG, "moderation:reason", "moderation:scanned-at", "moderation:categorizer"}
        return {k.split(":", 1)[1]: v for k, v in self.tags.items() if k.startswith("moderation:") and k not in skip}


class LocalStack:
    """The whole system on 127.0.0.1. Keyword options override the template's defaults for fast tests."""

    def __init__(
        self,
        *,
        categorizer: str = "nsfw_beta",
        upload_mode: str = "direct",
        idempotency: bool = True,
        function_timeout: int | None = None,
        visibility_timeout: int | None = None,
        max_receive_count: int | None = None,
        batch_size: int | None = None,
        max_concurrency: int | None = None,
        imagga_latency: float = 0.0,
        imagga_latency_max: float | None = None,
        imagga_faults: Faults | None = None,
        imagga_concurrency_limit: int = 2,
        imagga_concurrency_status: int = 429,
        imagga_seed: int = 0,
        wrong_credentials: bool = False,
        env: Mapping[str, str] | None = None,
        name: str | None = None,
        register_demo_sample: bool = True,
        start_pollers: bool = True,
        template: TemplateDefaults | None = None,
        function_client_hook: Callable[[str, Any], None] | None = None,
        moto_port: int = 0,
        backend: str = "moto",
        localstack: LocalStackServer | None = None,
        shared_budget: bool = True,
        extra_buckets: int = 0,
        imagga_monthly_limit: int = 100_000,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
        defaults = template or template_defaults()
        self.backend = backend
        self.defaults = defaults
        self.categorizer = categorizer
        self.upload_mode = upload_mode
        self.idempotency = idempotency
        self.incoming_prefix = defaults.incoming_prefix
        self.quarantine_prefix = defaults.quarantine_prefix
        self.function_timeout = function_timeout or defaults.function_timeout
        self.visibility_timeout = visibility_timeout or 6 * self.function_timeout
        self.max_receive_count = max_receive_count or defaults.max_receive_count
        self.batch_size = batch_size or defaults.batch_size
        self.max_concurrency = max_concurrency or defaults.max_concurrency
        self.wrong_credentials = wrong_credentials
        self.region = REGION
        self._env_overrides = dict(env or {})
        self._register_demo = register_demo_sample
        self._start_pollers = start_pollers
        # Called with (service name, client) for each AWS client a function container gets, before it
        # gets it: register botocore event handlers there, e.g. to inject S3 throttling.
        self._function_client_hook = function_client_hook
        self.name = name or f"moderator-local-{uuid.uuid4().hex[:8]}"
        self.bucket = self.name
        #: Buckets moderated through EventBridge, like the template's ExistingBucketNames.
        self.extra_buckets = [f"{self.name}-b{number}" for number in range(2, 2 + extra_buckets)]
        self.function_name = f"{self.name}-function"
        faults = imagga_faults or Faults(latency=imagga_latency, latency_max=imagga_latency_max)
        self.imagga = ImaggaEmulator(
            api_key=IMAGGA_KEY,
            api_secret=IMAGGA_SECRET,
            concurrency_limit=imagga_concurrency_limit,
            concurrency_status=imagga_concurrency_status,
            faults=faults,
            seed=imagga_seed,
            monthly_limit=imagga_monthly_limit,
        )
        self._moto: Any = None
        self._moto_port = moto_port
        # A LocalStack given by the caller is shared (and left running); one started here is stopped here.
        self._localstack = localstack
        self._own_localstack = False
        #: Where S3, SQS, Secrets Manager, EventBridge and SNS are; DynamoDB is at `dynamodb_endpoint_url`.
        self.endpoint_url = ""
        self.dynamodb_endpoint_url = ""
        self.queue_url = self.queue_arn = self.dlq_url = self.dlq_arn = self.secret_arn = ""
        self.backfill_queue_url = self.backfill_queue_arn = ""
        self.idempotency_table: str | None = f"{self.name}-idempotency" if idempotency else None
        #: The Imagga budget's record (BUDGET_TABLE), shared by every container of both mappings.
        self.budget_table: str | None = f"{self.name}-budget" if shared_budget else None
        #: The decisions ledger, as the template creates it; approvals are kept there too.
        self.decisions_table = f"{self.name}-decisions"
        self.mapping: EventSourceMapping | None = None
        #: The backfill queue's event source mapping.
        self.backfill_mapping: EventSourceMapping | None = None
        self._started = False

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> LocalStack:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        try:
            self.imagga.start()
            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=self._moto_port, verbose=False)
            self._moto.start()
            host, port = self._moto.get_host_and_port()
            self.endpoint_url = self.dynamodb_endpoint_url = f"http://{host}:{port}"
            if self.backend == "localstack":
                if self._localstack is None:
                    self._localstack = LocalStackServer().start()
                    self._own_localstack = True
                self.endpoint_url = self._localstack.endpoint_url
            self._provision()
            if self._register_demo and DEMO_UNSAFE_SAMPLE.exists():
                # Recognised by its pixels too, so it is found as a frame of an animation or in a HEIC.
                self.register_fixed_scores(DEMO_UNSAFE_SAMPLE.read_bytes(), DEMO_UNSAFE_NSFW, perceptual=True)
            sqs = self.boto3_client("sqs")
            self.mapping, self.backfill_mapping = (
                EventSourceMapping(
                    sqs,
                    queue_url=url,
                    queue_arn=arn,
                    handler_factory=self._container,
                    function_name=self.function_name,
                    function_timeout=self.function_timeout,
                    batch_size=self.batch_size,
                    max_concurrency=self.max_concurrency,
                    region=self.region,
                )
                for url, arn in ((self.queue_url, self.queue_arn), (self.backfill_queue_url, self.backfill_queue_arn))
            )
            if self._start_pollers:
                self.mapping.start()
                self.backfill_mapping.start()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Stop the pollers (a batch in progress finishes), then the emulator, moto and our own LocalStack."""
        for mapping in (self.mapping, self.backfill_mapping):
            if mapping is not None:
                mapping.stop()
        self.imagga.stop()
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self._own_localstack and self._localstack is not None:
            self._localstack.stop()
            self._localstack = None
            self._own_localstack = False
        self._started = False

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the function gets -------------------------------------------------------------

    @property
    def imagga_url(self) -> str:
        return self.imagga.url

    def function_env(self) -> dict[str, str]:
        """The environment the deployed function would have, pointed at this stack."""
        env = {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": AWS_KEY,
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_endpoint_url,
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "POWERTOOLS_SERVICE_NAME": "imagga-s3-moderator",
            "IMAGGA_API_ENDPOINT": self.imagga_url,
            "IMAGGA_SECRET_ARN": self.secret_arn,
            "IMAGGA_CATEGORIZER": self.categorizer,
            "IMAGGA_UPLOAD_MODE": self.upload_mode,
            "QUARANTINE_PREFIX": self.quarantine_prefix,
            "MAX_RECEIVE_COUNT": str(self.max_receive_count),
            "BUCKET_NAME": self.bucket,
            "INCOMING_PREFIX": self.incoming_prefix,
            # The content memory, kept in the decisions table as the template deploys it.
            "CONTENT_MEMORY": self.defaults.content_memory,
            "VERDICT_MEMORY_DAYS": str(self.defaults.verdict_memory_days),
        }
        if self.idempotency_table:
            env["IDEMPOTENCY_TABLE"] = self.idempotency_table
        env["DECISIONS_TABLE"] = self.decisions_table
        # One budget for both mappings' containers, as the template's ImaggaMaxConcurrency sets it.
        env["IMAGGA_MAX_CONCURRENCY"] = str(self.max_concurrency)
        env["BACKFILL_QUEUE_URL"] = self.backfill_queue_url
        if self.budget_table:
            env["BUDGET_TABLE"] = self.budget_table
        env.update(self._env_overrides)
        return env

    def settings(self) -> Any:
        from moderator.settings import Settings

        return Settings.from_env(self.function_env())

    def endpoint_for(self, service: str) -> str:
        return self.dynamodb_endpoint_url if service == "dynamodb" else self.endpoint_url

    def boto3_client(self, name: str) -> Any:
        """A client for the service's endpoint with fake credentials (each call makes a new one)."""
        session = boto3.session.Session(
            aws_access_key_id=AWS_KEY, aws_secret_access_key=AWS_SECRET, region_name=self.region
        )
        return session.client(name, endpoint_url=self.endpoint_for(name), config=_CLIENT_CONFIG)  # type: ignore[call-overload]

    def new_container(self) -> Handler:
        """A new Lambda container of the function: what a direct invocation (S3 Batch Operations) reaches."""
        return self._container()

    def _container(self) -> Handler:
        """One Lambda container: its services are built once, like the function's cached factory."""
        from moderator.app import lambda_handler
        from moderator.wiring import build_services

        def client(name: str) -> Any:
            built = self.boto3_client(name)
            if self._function_client_hook is not None:
                self._function_client_hook(name, built)
            return built

        services = build_services(
            self.settings(),
            s3_client=client("s3"),
            secrets_client=client("secretsmanager"),
            dynamodb_client=client("dynamodb"),
            sqs_client=client("sqs"),
            endpoint_url=self.endpoint_url,
        )

        def handler(event: dict[str, Any], context: Any) -> Any:
            return lambda_handler(event, context, services=services)

        return handler

    # --- provisioning, like template.yaml ---------------------------------------------------

    def _provision(self) -> None:
        s3 = self.boto3_client("s3")
        sqs = self.boto3_client("sqs")
        s3.create_bucket(Bucket=self.bucket)
        s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        self.dlq_url = sqs.create_queue(QueueName=f"{self.name}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})[
            "QueueUrl"
        ]
        self.dlq_arn = self._queue_arn(sqs, self.dlq_url)
        redrive = {"deadLetterTargetArn": self.dlq_arn, "maxReceiveCount": self.max_receive_count}
        self.queue_url = sqs.create_queue(
            QueueName=f"{self.name}-queue",
            Attributes={"VisibilityTimeout": str(self.visibility_timeout), "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        self.queue_arn = self._queue_arn(sqs, self.queue_url)
        self.backfill_queue_url = sqs.create_queue(
            QueueName=f"{self.name}-backfill",
            Attributes={"VisibilityTimeout": str(self.visibility_timeout), "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        self.backfill_queue_arn = self._queue_arn(sqs, self.backfill_queue_url)
        s3.put_bucket_notification_configuration(
            Bucket=self.bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": self.queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": self.incoming_prefix}]}},
                    }
                ]
            },
        )
        if self.idempotency_table:
            dynamodb = self.boto3_client("dynamodb")
            dynamodb.create_table(
                TableName=self.idempotency_table,
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
            dynamodb.update_time_to_live(
                TableName=self.idempotency_table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiration"},
            )
        self.boto3_client("dynamodb").create_table(**decisions_table_definition(self.decisions_table))
        if self.budget_table:
            self.boto3_client("dynamodb").create_table(**budget_table_definition(self.budget_table))
        if self.extra_buckets:
            self._provision_extra_buckets(s3)
        key, secret = (IMAGGA_KEY, IMAGGA_SECRET) if not self.wrong_credentials else ("wrong-key", "wrong-secret")
        self.secret_arn = self.boto3_client("secretsmanager").create_secret(
            Name=f"{self.name}/imagga", SecretString=json.dumps({"api_key": key, "api_secret": secret})
        )["ARN"]

    def _provision_extra_buckets(self, s3: Any) -> None:
        """Buckets outside "the stack": EventBridge notifications on, one rule for all of them into the queue."""
        for bucket in self.extra_buckets:
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        events = self.boto3_client("events")
        pattern = {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": self.extra_buckets}, "object": {"key": [{"prefix": self.incoming_prefix}]}},
        }
        rule = f"{self.name}-existing-buckets"
        events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=rule, Targets=[{"Id": "moderation-queue", "Arn": self.queue_arn}])

    @staticmethod
    def _queue_arn(sqs: Any, url: str) -> str:
        return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    # --- using it ---------------------------------------------------------------------------

    def full_key(self, key: str) -> str:
        """Keys not already under a known prefix are taken as relative to the incoming prefix."""
        if key.startswith((self.incoming_prefix, self.quarantine_prefix)):
            return key
        return self.incoming_prefix + key

    def upload(self, key: str, data: bytes, *, bucket: str | None = None, **extra: Any) -> str:
        """PUT an object (extra: ContentType, Tagging, Metadata...); returns its full key."""
        full = self.full_key(key)
        self.boto3_client("s3").put_object(Bucket=bucket or self.bucket, Key=full, Body=data, **extra)
        return full

    def register_fixed_scores(
        self, data: bytes, scores: Mapping[str, float] | float, *, perceptual: bool = False
    ) -> None:
        """Make the emulator answer fixed scores for this image: its own bytes and what the function sends.

        With `perceptual`, also for any image that looks like it (a frame of an animation made from it,
        a HEIC of it...): the emulator matches the pixels, and its request log says so.
        """
        from moderator.imaging import UnsupportedImageError, prepare

        self.imagga.register_image(data, scores, perceptual=perceptual)
        settings = self.settings()
        try:
            prepared = prepare(data, short_side=settings.resize_short_side, max_pixels=settings.max_image_pixels)
        except UnsupportedImageError:
            return
        self.imagga.register_image(prepared.data, scores)

    def imagga_calls_for(self, data: bytes) -> int:
        """Successful categorizations of this image (as the function sends it)."""
        import hashlib

        from moderator.imaging import prepare

        settings = self.settings()
        shas = {hashlib.sha256(data).hexdigest()}
        shas.add(
            hashlib.sha256(
                prepare(data, short_side=settings.resize_short_side, max_pixels=settings.max_image_pixels).data
            ).hexdigest()
        )
        return sum(len(self.imagga.categorizations(sha)) for sha in shas)

    def object_status(self, key: str, *, bucket: str | None = None) -> ObjectStatus:
        """The object's tags where it is now: under its key, or under the quarantine prefix."""
        s3 = self.boto3_client("s3")
        full = self.full_key(key)
        for location, candidate in (("incoming", full), ("quarantine", self.quarantine_prefix + full)):
            try:
                tag_set = s3.get_object_tagging(Bucket=bucket or self.bucket, Key=candidate)["TagSet"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in _ABSENT_CODES:
                    continue
                raise
            return ObjectStatus(full, location, candidate, {t["Key"]: t["Value"] for t in tag_set})
        return ObjectStatus(full, "missing", None, {})

    def wait_for_status(
        self, keys: Iterable[str], timeout: float = 30.0, poll: float = 0.1, *, bucket: str | None = None
    ) -> dict[str, ObjectStatus]:
        """Wait until every object has `moderation:status` and has settled where its status puts it.

        Raises TimeoutError naming each object still without a final status.
        """
        settings = self.settings()
        quarantined = {str(s) for s in settings.quarantine_statuses} if settings.enforce else set()
        wanted = [self.full_key(k) for k in keys]
        deadline = time.monotonic() + timeout
        done: dict[str, ObjectStatus] = {}
        while True:
            for key in wanted:
                if key in done:
                    continue
                found = self.object_status(key, bucket=bucket)
                # An object tagged for quarantine is final only once it is there (tag first, then move).
                if found.status and (found.status not in quarantined or found.location == "quarantine"):
                    done[key] = found
            if len(done) == len(wanted):
                return {key: done[key] for key in wanted}
            if time.monotonic() >= deadline:
                missing = [f"{k} ({self.object_status(k, bucket=bucket).location})" for k in wanted if k not in done]
                raise TimeoutError(f"no final moderation:status after {timeout:g}s for: {', '.join(missing)}")
            time.sleep(poll)

    def pause(self) -> None:
        """Disable both event source mappings: messages wait in their queues."""
        for mapping in (self.mapping, self.backfill_mapping):
            if mapping is not None:
                mapping.pause()

    def resume(self) -> None:
        for mapping in (self.mapping, self.backfill_mapping):
            if mapping is not None:
                mapping.resume()

    def notification_for(self, key: str) -> str | None:
        """The body of an S3 notification the function received for this key (for `redeliver`)."""
        from urllib.parse import unquote_plus

        wanted = self.full_key(key)
        for invocation in self.mapping.invocations if self.mapping else []:
            for body in invocation.bodies.values():
                try:
                    records = json.loads(body).get("Records") or []
                except (ValueError, AttributeError):
                    continue
                if any(unquote_plus(str(r.get("s3", {}).get("object", {}).get("key", ""))) == wanted for r in records):
                    return body
        return None

    def redeliver(self, body: str) -> str:
        """Send an S3 notification again, as S3's at-least-once delivery sometimes does."""
        return str(self.boto3_client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=body)["MessageId"])

    def queue_depth(self, url: str | None = None) -> int:
        """Messages in a queue (the main one by default), visible or in flight."""
        attributes = self.boto3_client("sqs").get_queue_attributes(
            QueueUrl=url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def dlq_bodies(self) -> list[str]:
        """Bodies of the messages in the dead-letter queue (left there, visible again at once)."""
        sqs = self.boto3_client("sqs")
        bodies: list[str] = []
        seen: set[str] = set()
        for _ in range(5):
            messages = sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=0
            ).get("Messages", [])
            for message in messages:
                if message["MessageId"] not in seen:
                    seen.add(message["MessageId"])
                    bodies.append(message["Body"])
            if not messages:
                break
        return bodies

    def describe(self) -> dict[str, Any]:
        """What a user needs to reach the stack."""
        return {
            "backend": self.backend,
            "endpoint_url": self.endpoint_url,
            "dynamodb_endpoint_url": self.dynamodb_endpoint_url,
            "region": self.region,
            "bucket": self.bucket,
            "incoming_prefix": self.incoming_prefix,
            "quarantine_prefix": self.quarantine_prefix,
            "queue_url": self.queue_url,
            "backfill_queue_url": self.backfill_queue_url,
            "dlq_url": self.dlq_url,
            "budget_table": self.budget_table,
            "extra_buckets": list(self.extra_buckets),
            "idempotency_table": self.idempotency_table,
            "decisions_table": self.decisions_table,
            "secret_arn": self.secret_arn,
            "imagga_url": self.imagga_url,
            "categorizer": self.categorizer,
            "batch_size": self.batch_size,
            "max_concurrency": self.max_concurrency,
            "function_timeout": self.function_timeout,
            "visibility_timeout": self.visibility_timeout,
            "max_receive_count": self.max_receive_count,
        }
