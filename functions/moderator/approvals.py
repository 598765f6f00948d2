"""Human approvals the function can trust: items in DynamoDB, never just a tag.

Anyone allowed to upload can set `moderation:status=APPROVED` on their own object, so the tag
proves nothing. An approval is an item written by an operator (the CLI's `quarantine release`)
and keyed by bucket, key and the SHA-256 of the content: a changed image is a new image.
The content hash, not the ETag, because a copy under SSE-KMS (or of a multipart upload)
gets a new ETag for the same bytes.

An approval lasts `APPROVAL_TTL_DAYS` from `approved_at`, checked on every read (DynamoDB's TTL
deletes expired items only eventually), and is revoked when the approved bytes are purged or
rejected, or when the release that recorded it does not complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .dynamodb_errors import table_error
from .errors import StorageAccessError
from .observability import logger, record_error
from .times import epoch_seconds

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PARTITION_KEY = "id"
DAY = 86_400


@dataclass(frozen=True)
class Approval:
    bucket: str
    key: str
    sha256: str
    approved_by: str
    approved_at: str


class Approvals(Protocol):
    def find(self, bucket: str, key: str, sha256: str) -> Approval | None: ...
    def record(self, approval: Approval) -> None: ...
    def revoke(self, bucket: str, key: str, sha256: str) -> None: ...


class NoApprovals:
    """No table configured: nothing is ever approved, every object is scanned."""

    def find(self, bucket: str, key: str, sha256: str) -> Approval | None:
        return None

    def record(self, approval: Approval) -> None:
        raise StorageAccessError("no APPROVALS_TABLE configured: an approval cannot be recorded")

    def revoke(self, bucket: str, key: str, sha256: str) -> None:
        return None


def item_id(bucket: str, key: str, sha256: str) -> str:
    return f"approval#{bucket}#{sha256}#{key}"


class DynamoDBApprovals:
    def __init__(
        self, client: DynamoDBClient, table_name: str, ttl_days: int = 30, clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._table = table_name
        self._ttl_seconds = ttl_days * DAY
        self._clock = clock

    def find(self, bucket: str, key: str, sha256: str) -> Approval | None:
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={PARTITION_KEY: {"S": item_id(bucket, key, sha256)}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            # Fail closed: without the record the image is moderated like any other. An outage of
            # the table may re-quarantine an approved image; it never lets an unapproved one through.
            logger.warning(
                "approvals unreadable: moderating as unapproved", extra={"table": self._table, "error": str(exc)}
            )
            record_error("approvals-unavailable")
            return None
        item = response.get("Item")
        if not item:
            return None
        approval = Approval(
            bucket=bucket,
            key=key,
            sha256=sha256,
            approved_by=item.get("approved_by", {}).get("S", ""),
            approved_at=item.get("approved_at", {}).get("S", ""),
        )
        if self._expired(approval, item.get("expires_at", {}).get("N")):
            logger.info("approval expired: moderating again", extra={"key": key, "approved_at": approval.approved_at})
            return None
        return approval

    def _expired(self, approval: Approval, expires_at: str | None) -> bool:
        """Past its own expiry, or older than the TTL in force now (items written before there was one too)."""
        now = self._clock()
        approved = epoch_seconds(approval.approved_at)
        if approved is None or now >= approved + self._ttl_seconds:
            return True
        return expires_at is not None and now >= float(expires_at)

    def record(self, approval: Approval) -> None:
        approved = epoch_seconds(approval.approved_at)
        expiry = int((approved if approved is not None else self._clock()) + self._ttl_seconds)
        item = {
            PARTITION_KEY: {"S": item_id(approval.bucket, approval.key, approval.sha256)},
            "kind": {"S": "approval"},
            "bucket": {"S": approval.bucket},
            "object_key": {"S": approval.key},
            "sha256": {"S": approval.sha256},
            "approved_by": {"S": approval.approved_by},
            "approved_at": {"S": approval.approved_at},
            # The decisions ledger's TTL attribute is `expires_at`, the idempotency table's `expiration`:
            # whichever table holds approvals, DynamoDB removes them in the end.
            "expires_at": {"N": str(expiry)},
            "expiration": {"N": str(expiry)},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)  # type: ignore[arg-type]
        except (ClientError, BotoCoreError) as exc:
            raise table_error(
                exc,
                denied=f"cannot record the approval in {self._table}",
                failed=f"recording the approval in {self._table}",
            ) from exc

    def revoke(self, bucket: str, key: str, sha256: str) -> None:
        """Delete the approval of these bytes at this key (nothing to do when there is none)."""
        try:
            self._client.delete_item(TableName=self._table, Key={PARTITION_KEY: {"S": item_id(bucket, key, sha256)}})
        except (ClientError, BotoCoreError) as exc:
            raise table_error(
                exc,
                denied=f"cannot revoke the approval in {self._table}",
                failed=f"revoking the approval in {self._table}",
            ) from exc
