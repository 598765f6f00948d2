"""Builds the function's collaborators once per container; tests pass their own clients in."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import boto3
import requests
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from botocore.config import Config

from .approvals import Approvals, DynamoDBApprovals, NoApprovals
from .assessment import CallLimit, Categorizer
from .budget import BudgetedCategorizer, SharedBudget
from .budget_table import DynamoDBBudgetStore
from .content_memory import ContentMemory, NoMemory
from .credentials import CredentialsSource
from .idempotency import IdempotentOnce
from .imagga import ImaggaClient
from .ledger import DynamoDBLedger
from .memory import DynamoDBContentMemory
from .notifications import EventBridgePublisher, Publisher, Publishers, SnsAlertPublisher
from .pipeline import Moderator, every_time
from .queues import Queues
from .settings import MEMORY_OFF, Settings
from .storage import S3Storage

#: Bounded AWS calls: short connects, standard retries with backoff for throttling and 5xx.
AWS_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 4})


IMAGGA_CALLS_PER_INSTANCE = 1


@dataclass
class Services:
    settings: Settings
    moderator: Moderator
    idempotency: IdempotentOnce | None = None
    #: The Imagga client itself; the moderator reaches it through a limit on calls at once.
    imagga: ImaggaClient | None = None
    #: The deployment's shared Imagga budget (BUDGET_TABLE), when there is one.
    budget: SharedBudget | None = None
    #: SQS, for the backfill queue (BACKFILL_QUEUE_URL): sending tasks, putting messages back to wait.
    queues: Queues | None = None


def build_services(
    settings: Settings,
    *,
    s3_client: Any = None,
    http_session: requests.Session | None = None,
    secrets_client: Any = None,
    dynamodb_client: Any = None,
    events_client: Any = None,
    sns_client: Any = None,
    sqs_client: Any = None,
    endpoint_url: str | None = None,
    backoff_base: float = 0.5,
) -> Services:
    """Wire the pipeline. Clients not given are created with bounded timeouts and retries.

    `backoff_base` is the first Imagga retry's longest wait, in seconds (tests shorten it).
    """

    def client(name: str, given: Any) -> Any:
        return given if given is not None else boto3.client(name, config=AWS_CONFIG, endpoint_url=endpoint_url)  # type: ignore[call-overload]

    provider = None
    if settings.imagga_secret_arn:
        provider = SecretsProvider(boto3_client=client("secretsmanager", secrets_client))
    credentials = CredentialsSource(settings, provider)
    imagga = ImaggaClient(
        http_session or requests.Session(),
        endpoint=settings.imagga_endpoint,
        credentials=credentials,
        categorizer=settings.categorizer,
        upload_mode=settings.upload_mode,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_attempts=settings.max_attempts,
        backoff_base=backoff_base,
        on_credentials_rejected=credentials.invalidate,
    )
    publishers: list[Publisher] = []
    if settings.event_bus_name:
        publishers.append(EventBridgePublisher(client("events", events_client), settings.event_bus_name))
    if settings.alert_topic_arn:
        publishers.append(SnsAlertPublisher(client("sns", sns_client), settings.alert_topic_arn))
    # One DynamoDB client for the ledger, idempotency and approvals: each client costs start-up time.
    dynamodb: Any = None
    if settings.decisions_table or settings.idempotency_table or settings.approvals_table or settings.budget_table:
        dynamodb = client("dynamodb", dynamodb_client)
    if settings.decisions_table:
        publishers.append(DynamoDBLedger(dynamodb, settings.decisions_table, settings.decisions_ttl_days))
    idempotency = None
    if settings.idempotency_table:
        idempotency = IdempotentOnce(settings.idempotency_table, settings.idempotency_expiry_seconds, dynamodb)
    approvals: Approvals = NoApprovals()
    if settings.approvals_table:
        approvals = DynamoDBApprovals(dynamodb, settings.approvals_table, settings.approval_ttl_days)
    budget = None
    categorizer: Categorizer = imagga
    if settings.budget_table:
        store = DynamoDBBudgetStore(dynamodb, settings.budget_table)
        budget = SharedBudget(store, slots=settings.imagga_max_concurrency, reserve=settings.backfill_quota_reserve)
        # Every call of every instance holds a slot of the one budget, live uploads first (budget.py).
        categorizer = BudgetedCategorizer(imagga, budget)
    queues = None
    if settings.backfill_queue_url or settings.budget_table:
        # Backfill tasks arrive only where there is a budget; putting one back to wait needs SQS.
        queues = Queues(lambda: client("sqs", sqs_client))
    memory: ContentMemory = NoMemory()
    if settings.decisions_table and settings.content_memory != MEMORY_OFF:
        # Kept in the decisions table: rejections as long as the decisions that made them.
        memory = DynamoDBContentMemory(
            dynamodb,
            settings.decisions_table,
            scores_days=settings.verdict_memory_days,
            rejection_days=settings.decisions_ttl_days,
        )
    moderator = Moderator(
        storage=S3Storage(client("s3", s3_client)),
        # One Imagga call at a time per instance, while the instance's other record reads and tags
        # (delivery.py); the slot of the shared budget is taken only once the instance's own is.
        categorizer=CallLimit(categorizer, IMAGGA_CALLS_PER_INSTANCE),
        publisher=Publishers(publishers),
        settings=settings,
        once=idempotency or every_time,
        approvals=approvals,
        memory=memory,
    )
    return Services(
        settings=settings, moderator=moderator, imagga=imagga, idempotency=idempotency, budget=budget, queues=queues
    )


@lru_cache(maxsize=1)
def default_services() -> Services:
    """The container's collaborators, from the environment, built on the first invocation."""
    return build_services(Settings.from_env(os.environ))
