"""Human approvals the function can trust: items in DynamoDB, never just a tag.

Anyone allowed to upload can set `moderation:status=APPROVED` on their own object, so the tag
proves nothing. An approval is an item written by an operator (the CLI's `quarantine release`)
and keyed by bucket, key and the SHA-256 of the content: a changed image is a new image.
The content hash, not the ETag, because a copy under SSE-KMS (or of a multipart upload)
gets a new ETag for the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .errors import StorageAccessError, StorageError
from .observability import logger, record_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PARTITION_KEY = "id"


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


class NoApprovals:
    """No table configured: nothing is ever approved, every object is scanned."""

    def find(self, bucket: str, key: str, sha256: str) -> Approval | None:
        return None

    def record(self, approval: Approval) -> None:
        raise StorageAccessError("no APPROVALS_TABLE configured: an approval cannot be recorded")


def item_id(bucket: str, key: str, sha256: str) -> str:
    return f"approval#{bucket}#{sha256}#{key}"


class DynamoDBApprovals:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

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
        return Approval(
            bucket=bucket,
            key=key,
            sha256=sha256,
            approved_by=item.get("approved_by", {}).get("S", ""),
            approved_at=item.get("approved_at", {}).get("S", ""),
        )

    def record(self, approval: Approval) -> None:
        item = {
            PARTITION_KEY: {"S": item_id(approval.bucket, approval.key, approval.sha256)},
            "kind": {"S": "approval"},
            "bucket": {"S": approval.bucket},
            "object_key": {"S": approval.key},
            "sha256": {"S": approval.sha256},
            "approved_by": {"S": approval.approved_by},
            "approved_at": {"S": approval.approved_at},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)  # type: ignore[arg-type]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("AccessDeniedException", "ResourceNotFoundException"):
                raise StorageAccessError(f"cannot record the approval in {self._table}: {code}") from exc
            raise StorageError(f"recording the approval in {self._table} failed: {code}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"recording the approval in {self._table} failed: {exc}") from exc
