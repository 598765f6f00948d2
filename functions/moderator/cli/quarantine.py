"""`quarantine list | release | purge`: what sits in quarantine, and a human's decision on it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from .. import tags
from ..approvals import DynamoDBApprovals
from ..ledger import DynamoDBLedger
from ..model import ObjectRef, StoredObject
from ..review import NotQuarantinedError, original_key, purge, purge_every_version, release
from .output import console, format_scores, print_json, print_table
from .runtime import Runtime, now_utc, parse_s3_url, with_runtime


@click.group()
def quarantine() -> None:
    """Review the quarantine: list it, release an image a human approved, purge old ones."""


def _location(url: str) -> tuple[str, str]:
    try:
        target = parse_s3_url(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    return target.bucket, target.key


@quarantine.command("list")
@click.argument("location", metavar="s3://BUCKET")
@click.option("--json", "as_json", is_flag=True)
@with_runtime
def list_quarantine(runtime: Runtime, location: str, as_json: bool) -> None:
    """Every quarantined object version: key, version, original key, status, scores, scanned-at."""
    bucket, _ = _location(location)
    prefix = runtime.storage_settings.quarantine_prefix
    rows: list[dict[str, Any]] = []
    for item in runtime.storage.list_versions(bucket, prefix):
        current = runtime.storage.get_tags(StoredObject(bucket, item.key, item.version_id, item.etag, item.size))
        scores = tags.scores_from(current)
        rows.append(
            {
                "key": item.key,
                "version_id": item.version_id,
                "original_key": item.key.removeprefix(prefix),
                "status": current.get(tags.STATUS),
                "scores": scores,
                "scanned_at": current.get(tags.SCANNED_AT),
                "size": item.size,
                "last_modified": item.last_modified.isoformat(),
            }
        )
    if as_json:
        print_json(rows)
        return
    print_table(
        f"quarantine of {bucket}",
        ("key", "version", "original key", "status", "scores", "scanned at"),
        (
            (
                r["key"],
                r["version_id"] or "-",
                r["original_key"],
                r["status"],
                format_scores(r["scores"]),
                r["scanned_at"],
            )
            for r in rows
        ),
    )


@quarantine.command("release")
@click.argument("location", metavar="s3://BUCKET/QUARANTINE_KEY")
@click.option(
    "--version-id", help="The quarantined version to release (quarantine list shows them); default: the current one."
)
@click.option("--to-bucket", help="The bucket it came from, when the quarantine is a bucket of its own.")
@with_runtime
def release_command(runtime: Runtime, location: str, version_id: str | None, to_bucket: str | None) -> None:
    """Move a quarantined image back to its original key as APPROVED, and record the approval.

    Only that version moves, and only if its bytes are those the function judged (when the
    decisions ledger, DECISIONS_TABLE, has the scan); the approval lasts APPROVAL_TTL_DAYS.
    """
    from .main import EXIT_SETUP, ExpectedError

    bucket, key = _location(location)
    settings = runtime.storage_settings
    if not settings.approvals_table:
        raise ExpectedError(
            "set APPROVALS_TABLE (or IDEMPOTENCY_TABLE) to the stack's table: an approval must be recorded there",
            EXIT_SETUP,
        )
    approvals = DynamoDBApprovals(runtime.client("dynamodb"), settings.approvals_table, settings.approval_ttl_days)
    try:
        released = release(
            runtime.storage,
            approvals,
            ObjectRef(bucket, key, version_id),
            quarantine_prefix=settings.quarantine_prefix,
            to_bucket=to_bucket,
            reviewer=runtime.caller_identity(),
            now=now_utc(),
            ledger=_ledger(runtime),
        )
    except NotQuarantinedError as exc:
        raise ExpectedError(str(exc), EXIT_SETUP) from exc
    console.print(f"released to s3://{released.bucket}/{released.key} as APPROVED", markup=False)


@quarantine.command("purge")
@click.argument("location", metavar="s3://BUCKET[/QUARANTINE_KEY]")
@click.option(
    "--version-id", help="Delete only this version of the key (checked against the ledger), not every version."
)
@click.option("--older-than", help="Purge everything quarantined longer ago than this, e.g. 30d or 12h.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_runtime
def purge_command(runtime: Runtime, location: str, version_id: str | None, older_than: str | None, yes: bool) -> None:
    """Delete quarantined objects for good: one version, one key, or all older than --older-than.

    Without --version-id every version of the key is deleted, including any other upload
    quarantined at the same key: your explicit choice, so that nothing stays readable behind a
    delete marker. With --version-id only that version goes, and only if its bytes are those the
    function judged (when the decisions ledger has the scan). Approvals of the deleted bytes are
    revoked, and each image is remembered as rejected in the ledger's table: uploaded again, under
    any name or as a near-copy, it is quarantined without an Imagga call.
    """
    from .main import EXIT_SETUP, ExpectedError

    bucket, key = _location(location)
    settings = runtime.storage_settings
    prefix = settings.quarantine_prefix
    if key and older_than:
        raise ExpectedError("give either a key or --older-than, not both", EXIT_SETUP)
    if version_id and not key:
        raise ExpectedError("--version-id needs the quarantined key it belongs to", EXIT_SETUP)
    if key:
        try:
            original_key(key, prefix)
        except NotQuarantinedError as exc:
            raise ExpectedError(str(exc), EXIT_SETUP) from exc
        keys = [key]
    elif older_than:
        cutoff = datetime.now(UTC) - parse_age(older_than)
        keys = [item.key for item in runtime.storage.list_objects(bucket, prefix) if item.last_modified < cutoff]
    else:
        raise ExpectedError("give a quarantined key or --older-than", EXIT_SETUP)
    if not keys:
        console.print("nothing to purge")
        return
    what = f"version {version_id} of {key}" if version_id else f"{len(keys)} quarantined object(s), every version,"
    if not yes and not click.confirm(f"Delete {what} in {bucket} for good?"):
        raise ExpectedError("nothing deleted", EXIT_SETUP)
    ledger, reviewer, now = _ledger(runtime), runtime.caller_identity(), now_utc()
    approvals = (
        DynamoDBApprovals(runtime.client("dynamodb"), settings.approvals_table, settings.approval_ttl_days)
        if settings.approvals_table
        else None
    )
    common: dict[str, Any] = {
        "quarantine_prefix": prefix,
        "approvals": approvals,
        "reviewer": reviewer,
        "now": now,
        "ledger": ledger,
        "settings": settings,
    }
    if version_id:
        deleted = purge(runtime.storage, ObjectRef(bucket, key, version_id), **common)
    else:
        deleted = sum(purge_every_version(runtime.storage, bucket, k, **common) for k in keys)
    console.print(f"purged {len(keys)} object(s), {deleted} version(s)")


def _ledger(runtime: Runtime) -> DynamoDBLedger | None:
    settings = runtime.storage_settings
    table = settings.decisions_table
    return DynamoDBLedger(runtime.client("dynamodb"), table, settings.decisions_ttl_days) if table else None


def parse_age(text: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", text)
    if not match:
        raise click.BadParameter(f"{text!r}: use a number and d, h or m, e.g. 30d")
    amount, unit = int(match.group(1)), match.group(2)
    return {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}[unit]
