"""Tell the world what was decided: an EventBridge event per object, an SNS alert for the risky ones.

Publishing never loses or re-runs a moderation: a failure is logged and counted, never raised.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .model import Action, Outcome, Status
from .observability import logger, record_publish_failure

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sns import SNSClient

EVENT_SOURCE = "imagga-s3-moderator"
DETAIL_TYPE = "Image Moderated"
SCHEMA_VERSION = 1
ALERT_STATUSES = frozenset({Status.UNSAFE, Status.REVIEW})


class Publisher(Protocol):
    def publish(self, outcome: Outcome) -> None: ...


def event_detail(outcome: Outcome) -> dict[str, object]:
    """The integration contract: the `detail` of every "Image Moderated" event."""
    data = outcome.to_dict()
    quarantine = None
    if outcome.quarantine_key:
        quarantine = {"bucket": outcome.quarantine_bucket, "key": outcome.quarantine_key}
    return {
        "schemaVersion": SCHEMA_VERSION,
        "bucket": data["bucket"],
        "key": data["key"],
        "versionId": data["version_id"],
        "etag": data["etag"],
        "status": data["status"],
        "reason": data["reason"],
        "scores": data["scores"],
        "categorizer": data["categorizer"],
        "action": data["action"],
        "skipReason": data["skip_reason"],
        "quarantine": quarantine,
        "scannedAt": data["scanned_at"],
        # Set when the move to quarantine failed; the verdict stands and the move is retried.
        "actionError": data["action_error"],
        # How many frames of the image were sent to Imagga (one call each), of how many it has, and
        # which one (from 0) decided: an animation is judged by its worst frame.
        "framesSent": data["frames_sent"],
        "frameCount": data["frame_count"],
        "decidingFrame": data["deciding_frame"],
        # Content memory: when Imagga gave the scores reused for these bytes (no call made now), and
        # the rejected image this one is (distance 0: the same bytes; more: a near-copy).
        "reusedFrom": outcome.reused_from,
        "matched": (
            {
                "sha256": outcome.matched.sha256,
                "distance": outcome.matched.distance,
                "location": outcome.matched.location,
            }
            if outcome.matched
            else None
        ),
    }


class EventBridgePublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def publish(self, outcome: Outcome) -> None:
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(event_detail(outcome)),
            "EventBusName": self._bus_name,
        }
        try:
            response = self._client.put_events(Entries=[entry])  # type: ignore[list-item]
        except (ClientError, BotoCoreError) as exc:
            _failed("eventbridge", outcome, str(exc))
            return
        if response.get("FailedEntryCount"):
            _failed("eventbridge", outcome, str(response.get("Entries")))


class SnsAlertPublisher:
    """An SNS message for UNSAFE and REVIEW objects, with attributes subscribers can filter on."""

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, outcome: Outcome) -> None:
        if outcome.action is Action.SKIPPED or outcome.status not in ALERT_STATUSES:
            return
        status = str(outcome.status)
        try:
            self._client.publish(
                TopicArn=self._topic_arn,
                Subject=f"Image moderated: {status}",
                Message=json.dumps(event_detail(outcome)),
                MessageAttributes={
                    "status": {"DataType": "String", "StringValue": status},
                    "bucket": {"DataType": "String", "StringValue": outcome.ref.bucket},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            _failed("sns", outcome, str(exc))


class Publishers:
    """Every configured publisher, in turn; none at all is valid (local runs)."""

    def __init__(self, publishers: Sequence[Publisher] = ()) -> None:
        self._publishers = tuple(publishers)

    def publish(self, outcome: Outcome) -> None:
        for publisher in self._publishers:
            publisher.publish(outcome)


def _failed(channel: str, outcome: Outcome, error: str) -> None:
    logger.warning("publishing the verdict failed", extra={"channel": channel, "key": outcome.ref.key, "error": error})
    record_publish_failure()
