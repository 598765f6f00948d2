"""Every event shape that can name a new object, turned into ObjectRefs.

Shapes: S3 notifications (direct, inside SQS, inside SNS, inside SNS inside SQS), EventBridge
"Object Created" (direct or inside SQS), the `s3:TestEvent` S3 sends when notifications are set
up, and S3 Batch Operations tasks (schema 1.0 and 2.0). Pure parsing, no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus

from .errors import PermanentError
from .model import ObjectRef


class UnknownEventError(PermanentError):
    """The payload is not an event shape this function understands."""

    kind = "unknown-event"


class EventKind(StrEnum):
    SQS = "sqs"
    NOTIFICATION = "notification"  # S3, SNS or EventBridge delivered directly
    BATCH_OPERATIONS = "batch-operations"


@dataclass(frozen=True)
class BatchTask:
    task_id: str
    ref: ObjectRef


def event_kind(event: Any) -> EventKind:
    """Which entry path an invocation payload takes."""
    if not isinstance(event, dict):
        raise UnknownEventError(f"event is a {type(event).__name__}, not a JSON object")
    if "invocationSchemaVersion" in event and "tasks" in event:
        return EventKind.BATCH_OPERATIONS
    records = event.get("Records")
    if (
        isinstance(records, list)
        and records
        and all(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)
    ):
        return EventKind.SQS
    return EventKind.NOTIFICATION


def refs_from_message(body: str) -> list[ObjectRef]:
    """An SQS message body: S3 notification, SNS envelope, EventBridge event or s3:TestEvent."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise UnknownEventError("message body is not JSON") from exc
    return refs_from_payload(payload)


def refs_from_payload(payload: Any) -> list[ObjectRef]:
    """Objects created according to one payload; [] when it names none on purpose (test events)."""
    if not isinstance(payload, dict):
        raise UnknownEventError(f"payload is a {type(payload).__name__}, not a JSON object")
    if payload.get("Event") == "s3:TestEvent":
        return []
    if payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
        return refs_from_message(payload["Message"])
    if payload.get("detail-type") == "Object Created" and payload.get("source") == "aws.s3":
        return [_ref_from_eventbridge(payload)]
    records = payload.get("Records")
    if isinstance(records, list):
        return [ref for record in records for ref in _refs_from_record(record)]
    raise UnknownEventError(f"unknown event shape (top-level keys: {', '.join(sorted(payload)[:8])})")


def batch_tasks(event: dict[str, Any]) -> tuple[str, list[BatchTask]]:
    """S3 Batch Operations: (schema version, tasks). Keys there are URL-encoded in schema 1.0."""
    version = str(event.get("invocationSchemaVersion"))
    if version not in ("1.0", "2.0"):
        raise UnknownEventError(f"unsupported Batch Operations schema {version!r}")
    tasks: list[BatchTask] = []
    for task in event.get("tasks") or []:
        try:
            # Schema 1.0 names the bucket by ARN, 2.0 by name.
            bucket = str(task["s3BucketArn"]).split(":::", 1)[1] if version == "1.0" else str(task["s3BucketName"])
            key = unquote_plus(str(task["s3Key"]))
            tasks.append(BatchTask(str(task["taskId"]), ObjectRef(bucket, key, _version(task.get("s3VersionId")))))
        except (KeyError, IndexError, TypeError) as exc:
            raise UnknownEventError(f"Batch Operations task without {exc}") from exc
    return version, tasks


def _refs_from_record(record: Any) -> list[ObjectRef]:
    if not isinstance(record, dict):
        raise UnknownEventError("a record is not a JSON object")
    source = record.get("eventSource") or record.get("EventSource")
    if source == "aws:sns":
        message = (record.get("Sns") or {}).get("Message")
        if not isinstance(message, str):
            raise UnknownEventError("SNS record without a Message")
        return refs_from_message(message)
    if source != "aws:s3":
        raise UnknownEventError(f"record from unsupported source {source!r}")
    if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
        return []
    try:
        bucket = record["s3"]["bucket"]["name"]
        obj = record["s3"]["object"]
        # S3 notifications URL-encode keys (a space arrives as '+'); unquote_plus reverses every form seen.
        key = unquote_plus(obj["key"])
    except (KeyError, TypeError) as exc:
        raise UnknownEventError(f"S3 record without {exc}") from exc
    return [
        ObjectRef(
            str(bucket),
            key,
            _version(obj.get("versionId")),
            _etag(obj.get("eTag")),
            _size(obj.get("size")),
            _text(obj.get("sequencer")),
        )
    ]


def _ref_from_eventbridge(event: dict[str, Any]) -> ObjectRef:
    try:
        detail = event["detail"]
        bucket = detail["bucket"]["name"]
        obj = detail["object"]
        key = obj["key"]  # EventBridge keys arrive as written: no decoding.
    except (KeyError, TypeError) as exc:
        raise UnknownEventError(f"EventBridge event without {exc}") from exc
    return ObjectRef(
        str(bucket),
        str(key),
        _version(obj.get("version-id")),
        _etag(obj.get("etag")),
        _size(obj.get("size")),
        _text(obj.get("sequencer")),
    )


def _version(value: Any) -> str | None:
    """S3 writes "null" for objects of unversioned (or never-versioned) buckets."""
    if value in (None, "", "null"):
        return None
    return str(value)


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _etag(value: Any) -> str | None:
    return str(value).strip('"') if value else None


def _size(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
