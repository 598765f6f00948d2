"""`doctor s3://BUCKET`: is this bucket ready for fail-closed? Four checks, each ok / warn / fail in one line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import click
from botocore.exceptions import BotoCoreError, ClientError

from .. import tags
from ..ledger import DynamoDBLedger
from ..preflight import (
    Check,
    Level,
    TaggedVersion,
    check_moderation_tags,
    check_notifications,
    check_policy,
    check_versioning,
)
from .output import console, print_json, print_table
from .runtime import Runtime, parse_s3_url, with_runtime

MISSING_BUCKET = frozenset({"404", "NoSuchBucket", "NotFound"})


@click.command()
@click.argument("location", metavar="s3://BUCKET")
@click.option("--incoming-prefix", default="incoming/", show_default=True, help="The stack's IncomingPrefix.")
@click.option(
    "--max-objects",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000_000),
    help="Object versions to read the tags of (one request each), streamed page by page.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_runtime
def doctor(runtime: Runtime, location: str, incoming_prefix: str, max_objects: int, as_json: bool) -> None:
    """Check a bucket before (and after) turning fail-closed on.

    Versioning (fail-closed needs it), the notifications that bring new uploads to the function
    (EventBridge for an existing bucket, or S3 -> SQS), the bucket policy's fail-closed
    statements, and objects under the incoming prefix whose moderation:* tags the function did
    not write (any case; with DECISIONS_TABLE set, tags are checked against the decisions
    ledger). Exits 1 when a check fails.
    """
    from .main import EXIT_FAILED, EXIT_SETUP, ExpectedError

    try:
        bucket = parse_s3_url(location).bucket
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if not incoming_prefix.endswith("/"):
        raise click.BadParameter("must end with '/'", param_hint="--incoming-prefix")
    s3 = runtime.s3
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if _code(exc) in MISSING_BUCKET:
            raise ExpectedError(f"the bucket {bucket} does not exist", EXIT_SETUP) from exc
        raise ExpectedError(f"cannot reach the bucket {bucket} ({_code(exc)})") from exc
    settings = runtime.storage_settings
    ledger = DynamoDBLedger(runtime.client("dynamodb"), settings.decisions_table) if settings.decisions_table else None

    checks = [
        _guarded("versioning", lambda: check_versioning(s3.get_bucket_versioning(Bucket=bucket).get("Status"))),
        _guarded(
            "notifications",
            lambda: check_notifications(s3.get_bucket_notification_configuration(Bucket=bucket), incoming_prefix),
        ),
        _guarded(
            "policy",
            lambda: check_policy(
                _policy(s3, bucket),
                bucket=bucket,
                incoming_prefix=incoming_prefix,
                quarantine_prefix=settings.quarantine_prefix,
            ),
        ),
        _guarded(
            "moderation-tags",
            lambda: check_moderation_tags(
                _tagged_versions(s3, ledger, bucket, incoming_prefix),
                ledger=ledger is not None,
                max_objects=max_objects,
                incoming_prefix=incoming_prefix,
                location=f"s3://{bucket}/{incoming_prefix}",
            ),
        ),
    ]
    if as_json:
        print_json({"bucket": bucket, "ready": _ready(checks), "checks": [c.to_dict() for c in checks]})
    else:
        print_table(f"fail-closed readiness of {bucket}", ("check", "status", "detail"), _rows(checks))
        console.print("ready" if _ready(checks) else "not ready: fix what failed, then run doctor again")
    if not _ready(checks):
        click.get_current_context().exit(EXIT_FAILED)


def _guarded(name: str, run: Callable[[], Check]) -> Check:
    """A check that cannot read what it needs fails, saying what it could not read; the others still run."""
    try:
        return run()
    except ClientError as exc:
        return Check(name, Level.FAIL, f"could not be checked: {exc.operation_name} answered {_code(exc)}")
    except BotoCoreError as exc:
        return Check(name, Level.FAIL, f"could not be checked: {type(exc).__name__}")


def _policy(s3: Any, bucket: str) -> dict[str, Any] | None:
    try:
        text = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as exc:
        if _code(exc) == "NoSuchBucketPolicy":
            return None
        raise
    policy: dict[str, Any] = json.loads(text)
    return policy


def _tagged_versions(s3: Any, ledger: DynamoDBLedger | None, bucket: str, prefix: str) -> Iterator[TaggedVersion]:
    """Every object version under the prefix with its tags, one listing page at a time (the caller stops early)."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Versions", []):
            version = entry.get("VersionId")
            params = {"Bucket": bucket, "Key": entry["Key"]}
            if version and version != "null":
                params["VersionId"] = version
            found = {t["Key"]: t["Value"] for t in s3.get_object_tagging(**params).get("TagSet", [])}
            scanned_at = found.get(tags.SCANNED_AT)
            item = ledger.decision(bucket, entry["Key"], scanned_at) if ledger and scanned_at else None
            yield TaggedVersion(
                key=entry["Key"],
                version_id=version if version and version != "null" else None,
                etag=str(entry.get("ETag", "")).strip('"'),
                tags=found,
                ledger_item=item,
            )


def _ready(checks: list[Check]) -> bool:
    return all(check.level is not Level.FAIL for check in checks)


def _rows(checks: list[Check]) -> Iterator[tuple[str, str, str]]:
    for check in checks:
        yield check.name, str(check.level), check.detail


def _code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    return str(error.get("Code") or status)
