"""What every command shares: AWS clients for the chosen endpoint, settings, the wired pipeline."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import boto3
import click
from botocore.configprovider import ConfiguredEndpointProvider
from botocore.exceptions import BotoCoreError, ClientError

from ..imagga import ImaggaClient
from ..settings import Settings
from ..storage import S3Storage
from ..wiring import AWS_CONFIG, Services, build_services


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str


#: What S3 accepts in a bucket name (botocore's check, without access-point ARNs).
_BUCKET_NAME = re.compile(r"[A-Za-z0-9._-]{1,255}")


def parse_s3_url(url: str) -> S3Location:
    """`s3://bucket/key`: the bucket, and the key exactly as written after the first '/'.

    Not `urlparse`: `#`, `?`, `%` and `+` are ordinary characters of S3 keys, not a fragment, a
    query or escapes, so `s3://b/pic #1.png` names the key `pic #1.png`, never `pic `.
    """
    scheme, separator, rest = url.partition("://")
    bucket, _, key = rest.partition("/")
    if scheme != "s3" or not separator or not _BUCKET_NAME.fullmatch(bucket):
        raise ValueError(f"{url!r} is not an s3://bucket[/key] location")
    return S3Location(bucket, key)


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Runtime:
    """Built lazily: `quarantine list` needs no Imagga credentials, `check` of a file needs no AWS."""

    endpoint_url: str | None = None
    region: str | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def client(self, name: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            name, config=AWS_CONFIG, endpoint_url=self.endpoint_for(name), region_name=self.region
        )

    def endpoint_for(self, service: str) -> str | None:
        """`AWS_ENDPOINT_URL_<SERVICE>` when set, else `--endpoint-url` (or `AWS_ENDPOINT_URL`).

        botocore ranks a service's own variable above AWS_ENDPOINT_URL, but an endpoint_url given
        to a client overrides both: DynamoDB on its own endpoint must not follow S3's. The variable's
        name comes from botocore (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, `..._EVENTBRIDGE`, ...).
        """
        if self.env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
            return self.endpoint_url  # botocore would ignore the variable too
        own_only = {name: value for name, value in self.env.items() if name != "AWS_ENDPOINT_URL"}
        own: str | None = ConfiguredEndpointProvider({}, {}, service, environ=own_only).provide()
        return own or self.endpoint_url

    @cached_property
    def settings(self) -> Settings:
        """Full settings, Imagga credentials included; operator runs never use the idempotency cache."""
        settings = Settings.from_env(self.env)
        return _without_idempotency(settings)

    @cached_property
    def storage_settings(self) -> Settings:
        return _without_idempotency(Settings.from_env(self.env, require_credentials=False))

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def storage(self) -> S3Storage:
        return S3Storage(self.s3)

    @cached_property
    def services(self) -> Services:
        # Every client from `self.client`, so --region / AWS_REGION reach them all (boto3 alone reads
        # only AWS_DEFAULT_REGION); only those the settings need are made.
        settings = self.settings
        return build_services(
            settings,
            s3_client=self.s3,
            secrets_client=self.client("secretsmanager") if settings.imagga_secret_arn else None,
            dynamodb_client=self.client("dynamodb") if settings.approvals_table or settings.decisions_table else None,
            events_client=self.client("events") if settings.event_bus_name else None,
            sns_client=self.client("sns") if settings.alert_topic_arn else None,
            sqs_client=self.client("sqs") if settings.backfill_queue_url or settings.budget_table else None,
            endpoint_url=self.endpoint_url,
        )

    @property
    def imagga(self) -> ImaggaClient:
        imagga = self.services.imagga
        assert imagga is not None, "build_services always wires the Imagga client"
        return imagga

    def caller_identity(self) -> str:
        """Who is acting, for the approval record: the caller's AWS identity."""
        try:
            return str(self.client("sts").get_caller_identity()["Arn"])
        except (ClientError, BotoCoreError):
            return os.environ.get("USER", "unknown")


def _without_idempotency(settings: Settings) -> Settings:
    # A rescan after a threshold change must call Imagga again: skip the redelivery cache.
    # Approvals (settings.approvals_table) stay on.
    return replace(settings, idempotency_table=None)


def with_runtime(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command `--endpoint-url` and `--region` of its own, and its Runtime as first argument."""

    @click.option("--endpoint-url", "cmd_endpoint_url", help="AWS endpoint, e.g. the local stack's.")
    @click.option("--region", "cmd_region", help="AWS region.")
    @click.pass_context  # type: ignore[arg-type]
    @functools.wraps(command)
    def wrapper(ctx: click.Context, cmd_endpoint_url: str | None, cmd_region: str | None, **kwargs: Any) -> Any:
        base = ctx.find_object(Runtime) or Runtime()
        runtime = Runtime(
            endpoint_url=cmd_endpoint_url or base.endpoint_url,
            region=cmd_region or base.region,
            env=base.env,
        )
        return command(runtime, **kwargs)

    return wrapper
