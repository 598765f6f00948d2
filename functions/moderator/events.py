"""Every event shape that can name a new object, turned into ObjectRefs.

Shapes: S3 notifications (direct, inside SQS, inside SNS, inside SNS inside SQS), EventBridge
"Object Created" (direct or inside SQS), the `s3:TestEvent` S3 sends when notifications are set
up, S3 Batch Operations tasks (schema 1.0 and 2.0), and this project's own backfill tasks (the
messages of the backfill queue, written by `backfill_task_body`). Pure parsing, no I/O.

AWS's field names are read through Powertools' event data classes (`S3EventRecord`,
`SNSEventRecord`, `S3EventBridgeNotificationEvent`, `S3BatchOperationEvent`); the SQS envelope
is Powertools' `SQSRecord`, in delivery.py. Where this module reads a field itself, a comment
says why.

Keys: S3 notifications URL-encode them, always. EventBridge (raw on AWS, percent-encoded by some
emulators) and Batch Operations (URL-encoded by whoever wrote the manifest) are less certain:
their refs carry the key's other readings in `other_keys`, which the pipeline tries when nothing
is stored under the first one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import unquote, unquote_plus

from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationEvent,
    S3BatchOperationTask,
)
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventBridgeNotificationEvent, S3EventRecord
from aws_lambda_powertools.utilities.data_classes.sns_event import SNSEventRecord

from .errors import PermanentError
from .model import ObjectRef

OBJECT_CREATED = "Object Created"
#: Marks a message of the backfill queue; its value is the task format's version.
BACKFILL_TASK = "imaggaS3ModeratorBackfillTask"
BACKFILL_TASK_VERSION = 1


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


@dataclass(frozen=True)
class BatchInvocation:
    """One S3 Batch Operations invocation: what its answer must echo, and its tasks."""

    schema: str
    invocation_id: str
    tasks: list[BatchTask]
    job_id: str = ""
    #: Schema 2.0's `job.userArguments`: `backfill --create-job` sets {"rescan": "true"} for a rescan.
    user_arguments: dict[str, str] = field(default_factory=dict)

    @property
    def rescan(self) -> bool:
        return self.user_arguments.get("rescan", "").lower() == "true"


@dataclass(frozen=True)
class BackfillTask:
    """One object of a backfill, waiting in the backfill queue for a slot of the Imagga budget.

    `source` says who asked (`command-line`, `batch-operations`), `run` which run or job.
    """

    ref: ObjectRef
    rescan: bool = False
    source: str = ""
    run: str = ""


def backfill_task_body(task: BackfillTask) -> str:
    """The message for a backfill task: the object (with its key's other readings) and how to treat it."""
    return json.dumps(
        {
            BACKFILL_TASK: BACKFILL_TASK_VERSION,
            "bucket": task.ref.bucket,
            "key": task.ref.key,
            "versionId": task.ref.version_id,
            "otherKeys": list(task.ref.other_keys),
            "rescan": task.rescan,
            "source": task.source,
            "run": task.run,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def backfill_task(body: str) -> BackfillTask | None:
    """The backfill task a message holds; None when the message is something else (an S3 event...)."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        return None
    if not isinstance(payload, dict) or BACKFILL_TASK not in payload:
        return None
    bucket, key = payload.get("bucket"), payload.get("key")
    if payload[BACKFILL_TASK] != BACKFILL_TASK_VERSION or not isinstance(bucket, str) or not isinstance(key, str):
        raise UnknownEventError(f"backfill task of an unknown version or without bucket and key: {body[:200]}")
    rescan = payload.get("rescan") is True
    run = str(payload.get("run") or "")
    others = payload.get("otherKeys") or []
    ref = ObjectRef(
        bucket,
        key,
        _version(payload.get("versionId")),
        other_keys=tuple(str(other) for other in others if isinstance(other, str)),
        # A rescan is a new judgement of the same upload: its run, not LastModified, names it for
        # idempotency, so a rescan after a threshold change calls Imagga again while a redelivery
        # of the same task does not.
        sequencer=f"rescan:{run}" if rescan else None,
    )
    return BackfillTask(ref, rescan=rescan, source=str(payload.get("source") or ""), run=run)


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
    """Objects created according to one payload; [] when it names none on purpose (test events, deletions)."""
    if not isinstance(payload, dict):
        raise UnknownEventError(f"payload is a {type(payload).__name__}, not a JSON object")
    # Powertools has no data class for the s3:TestEvent (it names no object), nor for the SNS
    # envelope an SQS queue receives from a topic without raw delivery (SNSEvent wraps Lambda's own
    # SNS records, whose fields are named differently): both are recognised by their AWS fields.
    if payload.get("Event") == "s3:TestEvent":
        return []
    if payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
        return refs_from_message(payload["Message"])
    if payload.get("source") == "aws.s3" and "detail-type" in payload:
        return _refs_from_eventbridge(S3EventBridgeNotificationEvent(payload))
    records = payload.get("Records")
    if isinstance(records, list):
        return [ref for record in records for ref in _refs_from_record(record)]
    raise UnknownEventError(f"unknown event shape (top-level keys: {', '.join(sorted(payload)[:8])})")


def batch_invocation(event: dict[str, Any]) -> BatchInvocation:
    """S3 Batch Operations: schema 1.0 names the bucket by ARN (`s3BucketArn`), 2.0 by name (`s3Bucket`).

    Keys arrive URL-encoded in both, as the manifest holds them.
    """
    batch = S3BatchOperationEvent(event)
    try:
        schema = str(batch.invocation_schema_version)
        invocation_id = str(batch.invocation_id)
        if schema not in ("1.0", "2.0"):
            raise UnknownEventError(f"unsupported Batch Operations schema {schema!r}")
        tasks = [BatchTask(str(task.task_id), _ref_from_task(task)) for task in batch.tasks]
        job: dict[str, Any] = event.get("job") if isinstance(event.get("job"), dict) else {}  # type: ignore[assignment]
        found = job.get("userArguments")
        arguments: dict[str, Any] = found if isinstance(found, dict) else {}
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise UnknownEventError(f"Batch Operations invocation without {exc}") from exc
    # The job is read as a plain dict: schema 1.0 may send no userArguments, and the data class's
    # property raises then.
    return BatchInvocation(
        schema,
        invocation_id,
        tasks,
        job_id=str(job.get("id") or ""),
        user_arguments={str(k): str(v) for k, v in arguments.items()},
    )


def _ref_from_task(task: S3BatchOperationTask) -> ObjectRef:
    # `s3_key` is the key URL-decoded with unquote_plus, as AWS documents; but the manifest is
    # whoever's CSV: a raw '+' or a literal '%xx' in a key written unencoded would decode to another
    # key. Those readings follow, from the key as the task carries it.
    raw_key = str(task["s3Key"])
    return ObjectRef(
        str(task.s3_bucket),
        task.s3_key,
        _version(task.s3_version_id),
        other_keys=_others(task.s3_key, (unquote(raw_key), raw_key)),
    )


def _refs_from_record(record: Any) -> list[ObjectRef]:
    if not isinstance(record, dict):
        raise UnknownEventError("a record is not a JSON object")
    # Lambda's SNS records spell it `EventSource`, S3's `eventSource`: read both before choosing a class.
    source = record.get("eventSource") or record.get("EventSource")
    if source == "aws:sns":
        try:
            message = SNSEventRecord(record).sns.message
        except (KeyError, TypeError) as exc:
            raise UnknownEventError("SNS record without a Message") from exc
        if not isinstance(message, str):
            raise UnknownEventError("SNS record without a Message")
        return refs_from_message(message)
    if source != "aws:s3":
        raise UnknownEventError(f"record from unsupported source {source!r}")
    s3_record = S3EventRecord(record)
    try:
        if not s3_record.event_name.startswith("ObjectCreated:"):
            return []
        bucket = s3_record.s3.bucket.name
        obj = s3_record.s3.get_object
        # `S3Object.key` is the key as S3 sent it, URL-encoded (a space arrives as '+', or as '%20'
        # from some emulators and the SAM CLI): unquote_plus reverses every form seen.
        key = unquote_plus(obj.key)
        etag, version_id = obj.etag, obj.version_id
    except (KeyError, TypeError, AttributeError) as exc:
        raise UnknownEventError(f"S3 record without {exc}") from exc
    # Size and sequencer are read with .get: the data class's properties raise when they are absent,
    # and moto's events carry no sequencer.
    return [
        ObjectRef(
            str(bucket), key, _version(version_id), _etag(etag), _size(obj.get("size")), _text(obj.get("sequencer"))
        )
    ]


def _refs_from_eventbridge(event: S3EventBridgeNotificationEvent) -> list[ObjectRef]:
    if event.detail_type != OBJECT_CREATED:
        return []  # Object Deleted, Restore, Tagging...: nothing new to moderate
    try:
        bucket = event.detail.bucket.name
        obj = event.detail.object
        # Not `obj.key`: the data class applies unquote_plus, but AWS sends EventBridge keys as written
        # (a '+' is a plus). Some S3 emulators percent-encode them: the decoded key is the other reading.
        raw_key = str(obj["key"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise UnknownEventError(f"EventBridge event without {exc}") from exc
    # version-id, size and sequencer are optional (unversioned buckets; the data class's properties raise).
    return [
        ObjectRef(
            str(bucket),
            raw_key,
            _version(obj.get("version-id")),
            _etag(obj.get("etag")),
            _size(obj.get("size")),
            _text(obj.get("sequencer")),
            other_keys=_others(raw_key, (unquote(raw_key),)),
        )
    ]


def _others(key: str, readings: Iterable[str]) -> tuple[str, ...]:
    """The readings that differ from `key` and from each other, in order."""
    return tuple(dict.fromkeys(reading for reading in readings if reading != key))


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
