"""The decisions ledger: every verdict, and every human decision on it, in DynamoDB.

One item per scan (`decision#<bucket>#<key>#<scanned-at>`), with the scores, Imagga's raw
answer and where the object is now; a human's decision updates that item. The `by-status`
index (partition `status`, sort `scanned_at`) lists one status newest first without a scan; the
`by-day` index (partition `scanned_day`, sort `scanned_at`, projecting only the verdict, the Imagga
calls and the plan's remaining calls) gives the review page's overview one small query per day.

Writing the ledger never blocks or loses a moderation: it runs as a publisher, after the
object is tagged and moved; the SDK retries with backoff, and a write that still fails is
logged with the whole decision (enough to replay it) and counted (`ErrorLedgerWriteFailed`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .content_memory import RejectedImage
from .dynamodb_errors import is_conditional_check_failure, table_error
from .errors import StorageAccessError, StorageError
from .memory import DynamoDBContentMemory
from .model import Action, Outcome, Status
from .observability import logger, record_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

STATUS_INDEX = "by-status"
DAY_INDEX = "by-day"
#: What the day index projects besides its keys: what the overview counts and draws, nothing more,
#: so a day's query reads a few dozen bytes per scan whatever Imagga answered.
DAY_INDEX_ATTRIBUTES = ("verdict", "imagga_calls", "monthly_limit_remaining")
DAY = 86_400
#: A human's note that a scan waiting for review has nothing left to decide on (its object is gone).
DISMISSED = "DISMISSED"


def table_definition(name: str) -> dict[str, Any]:
    """`CreateTable` arguments matching the template's DecisionsTable (local stacks and tests use it)."""
    key = {"AttributeName": "id", "KeyType": "HASH"}
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": attribute, "AttributeType": "S"}
            for attribute in ("id", "status", "scanned_at", "scanned_day")
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
            },
            {
                "IndexName": DAY_INDEX,
                "KeySchema": [
                    {"AttributeName": "scanned_day", "KeyType": "HASH"},
                    {"AttributeName": "scanned_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(DAY_INDEX_ATTRIBUTES)},
            },
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
        item.update(overview_attributes(outcome))
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
        except (ClientError, BotoCoreError) as exc:
            if is_conditional_check_failure(exc):
                logger.warning("no ledger entry for this scan: decision not recorded", extra={"key": key})
                return
            raise table_error(
                exc,
                denied=f"cannot record the decision in {self._table}",
                failed=f"recording the decision in {self._table}",
            ) from exc

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
        except (ClientError, BotoCoreError) as exc:
            raise self._read_error(exc) from exc
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

    def record_dismissal(self, *, bucket: str, key: str, scanned_at: str, reviewer: str, when: str, why: str) -> bool:
        """A scan waiting for review whose object is gone: marked DISMISSED (who, when, why), never deleted.

        Only while it still waits (`REVIEW`): a decision someone else recorded meanwhile stands.
        Returns False when there was nothing waiting to dismiss.
        """
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"id": {"S": decision_id(bucket, key, scanned_at)}},
                UpdateExpression=(
                    "SET #s = :d, decision = :d, decided_by = :who, decided_at = :when, dismissed_because = :why"
                ),
                ConditionExpression="attribute_exists(id) AND #s = :waiting",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":d": {"S": DISMISSED},
                    ":who": {"S": reviewer},
                    ":when": {"S": when},
                    ":why": {"S": why},
                    ":waiting": {"S": str(Status.REVIEW)},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            if is_conditional_check_failure(exc):
                return False
            raise table_error(
                exc,
                denied=f"cannot record the dismissal in {self._table}",
                failed=f"recording the dismissal in {self._table}",
            ) from exc
        return True

    def _read_error(self, exc: ClientError | BotoCoreError) -> StorageError | StorageAccessError:
        return table_error(
            exc, denied=f"cannot read the ledger {self._table}", failed=f"reading the ledger {self._table}"
        )

    def status_items(
        self, status: str, *, since: str | None = None, until: str | None = None, key_prefix: str = ""
    ) -> list[dict[str, Any]]:
        """Every scan with this status (newest first), scanned within [since, until], of keys under a prefix.

        The whole range at once (a 1 MB page per call), without Imagga's raw answer: the review
        page counts and pages what it gets. Bounds are ISO 8601 strings compared as the index does.
        """
        names: dict[str, str] = {}
        projection = ", ".join(_name(attribute, names) for attribute in ROW_ATTRIBUTES)
        values: dict[str, Any] = {":s": {"S": status}}
        condition = "#status = :s"
        if since and until:
            condition += " AND #scanned_at BETWEEN :since AND :until"
            values.update({":since": {"S": since}, ":until": {"S": until}})
        elif since:
            condition += " AND #scanned_at >= :since"
            values[":since"] = {"S": since}
        elif until:
            condition += " AND #scanned_at <= :until"
            values[":until"] = {"S": until}
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,
            "ProjectionExpression": projection,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
        if key_prefix:
            values[":prefix"] = {"S": key_prefix}
            params["FilterExpression"] = "begins_with(#object_key, :prefix)"
        return [_plain(item) for item in self._query_all(params)]

    def count_status(self, status: str) -> int:
        """How many scans have this status now (a count, no items: a few bytes per 1 MB read)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": STATUS_INDEX,
            "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": status}},
            "Select": "COUNT",
        }
        return sum(int(page.get("Count", 0)) for page in self._query_pages(params))

    def day(self, day: str) -> list[dict[str, Any]]:
        """One UTC day's scans from the day index: verdict, Imagga calls, remaining calls (small items)."""
        params: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": DAY_INDEX,
            "KeyConditionExpression": "scanned_day = :d",
            "ExpressionAttributeValues": {":d": {"S": day}},
        }
        return [_plain(item) for item in self._query_all(params)]

    def decisions(self, ids: list[tuple[str, str, str]]) -> dict[str, dict[str, Any]]:
        """Items of several scans (bucket, key, scanned-at) by id, 100 a call; unknown ones are absent."""
        found: dict[str, dict[str, Any]] = {}
        wanted = list(dict.fromkeys(decision_id(*scan) for scan in ids))
        for start in range(0, len(wanted), 100):
            keys: list[dict[str, Any]] = [{"id": {"S": one}} for one in wanted[start : start + 100]]
            request: dict[str, Any] = {self._table: {"Keys": keys}}
            for _ in range(8):  # unprocessed keys come back under throttling: a few tries, then what we have
                try:
                    response = self._client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise StorageError(f"reading the ledger {self._table} failed: {exc}") from exc
                for item in response.get("Responses", {}).get(self._table, []):
                    found[item["id"]["S"]] = _plain(item)
                request = dict(response.get("UnprocessedKeys") or {})
                if not request:
                    break
        return found

    def _query_all(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [item for page in self._query_pages(params) for item in page.get("Items", [])]

    def _query_pages(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            call = {**params, **({"ExclusiveStartKey": start} if start else {})}
            try:
                page = self._client.query(**call)
            except (ClientError, BotoCoreError) as exc:
                raise self._read_error(exc) from exc
            yield dict(page)
            start = page.get("LastEvaluatedKey")
            if not start:
                return


#: What a row of the review page needs from a decision item (everything but Imagga's raw answer).
ROW_ATTRIBUTES = (
    "id",
    "bucket",
    "object_key",
    "status",
    "verdict",
    "scanned_at",
    "scores",
    "action",
    "categorizer",
    "reason",
    "version_id",
    "etag",
    "sha256",
    "location_bucket",
    "location_key",
    "location_version_id",
    "action_error",
    "reused_from",
    "matched_sha256",
    "matched_distance",
    "matched_location",
)


def overview_attributes(outcome: Outcome) -> dict[str, Any]:
    """What the overview counts, on every decision item: attributes of their own, never changed later.

    `verdict` keeps the function's status when a human's decision replaces `status`; `scanned_day`
    puts the item on the day index; `imagga_calls` counts the HTTP requests sent to Imagga for it
    (retries and every frame included; 0 when nothing was sent); `monthly_limit_remaining` is the
    plan's count from Imagga's last answer, when there was one.
    """
    scanned_at = str(outcome.scanned_at)
    attributes: dict[str, Any] = {
        "verdict": {"S": str(outcome.status)},
        "scanned_day": {"S": scanned_at[:10]},
        "imagga_calls": {"N": str(int(outcome.imagga_attempts))},
    }
    if outcome.monthly_limit_remaining is not None:
        attributes["monthly_limit_remaining"] = {"N": str(int(outcome.monthly_limit_remaining))}
    return attributes


def _name(attribute: str, names: dict[str, str]) -> str:
    """A placeholder for every attribute: several (status, action, location...) are DynamoDB reserved words."""
    placeholder = f"#{attribute}"
    names[placeholder] = attribute
    return placeholder


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
