"""The decisions ledger: every verdict, and every human decision on it, in DynamoDB.

One item per scan (`decision#<bucket>#<key>#<scanned-at>`), with the scores, Imagga's raw
answer and where the object is now; a human's decision updates that item. The `by-status`
index (partition `status`, sort `scanned_at`) lists one status newest first without a scan.

Writing the ledger never blocks or loses a moderation: it runs as a publisher, after the
object is tagged and moved; the SDK retries with backoff, and a write that still fails is
logged with the whole decision (enough to replay it) and counted (`ErrorLedgerWriteFailed`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .content_memory import RejectedImage
from .errors import StorageAccessError, StorageError
from .memory import DynamoDBContentMemory
from .model import Action, Outcome
from .observability import logger, record_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STATUS_INDEX = "by-status"
DAY = 86_400


def table_definition(name: str) -> dict[str, Any]:
    """`CreateTable` arguments matching the template's DecisionsTable (local stacks and tests use it)."""
    key = {"AttributeName": "id", "KeyType": "HASH"}
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": attribute, "AttributeType": "S"} for attribute in ("id", "status", "scanned_at")
        ],
        "KeySchema": [key],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "scanned_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


def decision_id(bucket: str, key: str, scanned_at: str) -> str:
    return f"decision#{bucket}#{key}#{scanned_at}"


class DynamoDBLedger:
    def __init__(self, client: DynamoDBClient, table_name: str, ttl_days: int = 90) -> None:
        self._client = client
        self._table = table_name
        self._ttl_seconds = ttl_days * DAY

    def publish(self, outcome: Outcome) -> None:
        """The function's side: one item per moderated object."""
        if outcome.action is Action.SKIPPED or not outcome.scanned_at or outcome.status is None:
            return
        item = self.decision_item(outcome)
        try:
            self._client.put_item(TableName=self._table, Item=item)  # type: ignore[arg-type]
        except (ClientError, BotoCoreError) as exc:
            logger.error("ledger write failed", extra={"error": str(exc), "decision": outcome.to_dict()})
            record_error("ledger-write-failed")

    def decision_item(self, outcome: Outcome) -> dict[str, Any]:
        data = outcome.to_dict()
        quarantined = outcome.action is Action.QUARANTINED
        item: dict[str, Any] = {
            "id": {"S": decision_id(outcome.ref.bucket, outcome.ref.key, str(outcome.scanned_at))},
            "kind": {"S": "decision"},
            "bucket": {"S": outcome.ref.bucket},
            "object_key": {"S": outcome.ref.key},
            "status": {"S": str(outcome.status)},
            "scanned_at": {"S": str(outcome.scanned_at)},
            "scores": {"M": {label: {"N": str(Decimal(str(value)))} for label, value in outcome.scores.items()}},
            "action": {"S": str(outcome.action)},
            "location_bucket": {"S": outcome.quarantine_bucket if quarantined else outcome.ref.bucket},
            "location_key": {"S": outcome.quarantine_key if quarantined else outcome.ref.key},
            "expires_at": {"N": str(int(time.time()) + self._ttl_seconds)},
        }
        optional = {
            "version_id": data["version_id"],
            "etag": data["etag"],
            "sha256": outcome.sha256,
            # The version a human's decision must act on: the quarantined copy's, or the original's.
            "location_version_id": outcome.quarantine_version_id if quarantined else data["version_id"],
            "categorizer": outcome.categorizer,
            "reason": outcome.reason,
            "imagga_response": json.dumps(outcome.imagga_response) if outcome.imagga_response else None,
            "action_error": outcome.action_error,
            # Content memory: when the scores decided here were obtained from Imagga (no call made now),
            # and the rejected image a human's rejection came from (the same bytes, or a near-copy).
            "reused_from": outcome.reused_from,
            "matched_sha256": outcome.matched.sha256 if outcome.matched else None,
            "matched_location": outcome.matched.location if outcome.matched else None,
        }
        item.update({name: {"S": str(value)} for name, value in optional.items() if value})
        if outcome.matched is not None:
            item["matched_distance"] = {"N": str(outcome.matched.distance)}
        return item

    def record_review(
        self, *, bucket: str, key: str, scanned_at: str, decision: str, reviewer: str, when: str, location: str | None
    ) -> None:
        """A human's decision on a scan (APPROVED or REJECTED): who, when, and where the object is now."""
        names = {"#s": "status"}
        values: dict[str, Any] = {
            ":d": {"S": decision},
            ":who": {"S": reviewer},
            ":when": {"S": when},
            ":loc": {"S": location or "deleted"},
        }
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": decision_id(bucket, key, scanned_at)}},
                UpdateExpression=(
                    "SET #s = :d, decision = :d, decided_by = :who, decided_at = :when, location_key = :loc"
                ),
                # Only a scan the ledger knows: an object moderated before the ledger existed gets no stray item.
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                logger.warning("no ledger entry for this scan: decision not recorded", extra={"key": key})
                return
            if code in ("AccessDeniedException", "ResourceNotFoundException"):
                raise StorageAccessError(f"cannot record the decision in {self._table}: {code}") from exc
            raise StorageError(f"recording the decision in {self._table} failed: {code}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"recording the decision in {self._table} failed: {exc}") from exc

    def memory(self) -> DynamoDBContentMemory:
        """The content memory kept in this table: rejections last as long as the decisions."""
        return DynamoDBContentMemory(self._client, self._table, rejection_days=self._ttl_seconds // DAY)

    def remember_rejected(self, image: RejectedImage, index: Iterable[int]) -> None:
        """A human rejected this image: remember it, so it and its near-copies are quarantined on sight."""
        self.memory().remember_rejected(image, index)

    def decision(self, bucket: str, key: str, scanned_at: str) -> dict[str, Any] | None:
        """The item of one scan (as plain values), or None when the ledger does not know it."""
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"id": {"S": decision_id(bucket, key, scanned_at)}}, ConsistentRead=True
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("AccessDeniedException", "ResourceNotFoundException"):
                raise StorageAccessError(f"cannot read the ledger {self._table}: {code}") from exc
            raise StorageError(f"reading the ledger {self._table} failed: {code}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"reading the ledger {self._table} failed: {exc}") from exc
        item = response.get("Item")
        return _plain(item) if item else None

    def by_status(
        self, status: str, *, limit: int = 50, start: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of a status, newest first, and the key to the next page."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": status}},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start:
            params["ExclusiveStartKey"] = start
        try:
            response = self._client.query(**params)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"reading the ledger {self._table} failed: {exc}") from exc
        return [_plain(item) for item in response.get("Items", [])], response.get("LastEvaluatedKey")


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed attributes as plain values."""
    plain: dict[str, Any] = {}
    for name, typed in item.items():
        ((kind, value),) = typed.items()
        if kind == "M":
            plain[name] = {k: float(v["N"]) for k, v in value.items()}
        elif kind == "N":
            plain[name] = float(value)
        else:
            plain[name] = value
    return plain
