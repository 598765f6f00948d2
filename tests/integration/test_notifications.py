"""The function tells others what it decided: an EventBridge event per object, SNS alerts for risky ones.

Observed as a subscriber would: an EventBridge rule and SNS subscriptions deliver into SQS queues
(on moto and on LocalStack), and the tests read those queues. A publishing failure never loses or
re-runs a moderation.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from moderator.notifications import DETAIL_TYPE, EVENT_SOURCE
from tests.backends import moto_only
from tests.builders import jpeg_bytes, s3_notification, s3_record, sqs_event

from .fake_imagga import BLUE, GREEN, RED, FakeImagga
from .harness import Moderation, Subscriber, tags_of

pytestmark = pytest.mark.integration

REGION = "us-east-1"
BUS = "moderation-events"
UNSAFE_SCORES = {"safe": 5.0, "underwear": 10.0, "nsfw": 85.0}
REVIEW_SCORES = {"safe": 30.0, "underwear": 70.0, "nsfw": 0.0}
SAFE_SCORES = {"safe": 99.0, "underwear": 1.0, "nsfw": 0.0}


@pytest.fixture
def sqs(aws: None) -> BaseClient:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def event_subscriber(sqs: BaseClient) -> Subscriber:
    """A rule on the bus matching the function's events, as the README's example rule does."""
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name=BUS)
    subscriber = Subscriber(sqs, "image-moderated-events")
    events.put_rule(
        Name="image-moderated",
        EventBusName=BUS,
        EventPattern=json.dumps({"source": [EVENT_SOURCE], "detail-type": [DETAIL_TYPE]}),
    )
    events.put_targets(Rule="image-moderated", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": subscriber.arn}])
    return subscriber


@pytest.fixture
def topic(aws: None) -> str:
    return str(boto3.client("sns", region_name=REGION).create_topic(Name="moderation-alerts")["TopicArn"])


def subscribe(sqs: BaseClient, topic: str, name: str, filter_policy: dict[str, Any] | None = None) -> Subscriber:
    subscriber = Subscriber(sqs, name)
    attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
    boto3.client("sns", region_name=REGION).subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=subscriber.arn, Attributes=attributes
    )
    return subscriber


def upload(s3: BaseClient, bucket: str, key: str, colour: tuple[int, int, int]) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=jpeg_bytes(color=colour), ContentType="image/jpeg")


def test_a_quarantined_image_is_announced_on_the_bus_with_the_whole_contract(
    s3: BaseClient, versioned_bucket: str, imagga: FakeImagga, moderation: Moderation, event_subscriber: Subscriber
) -> None:
    # GIVEN an unsafe image in a versioned bucket, and a rule on the function's bus
    imagga.answer_for_colour(RED, UNSAFE_SCORES)
    upload(s3, versioned_bucket, "incoming/beach.jpg", RED)
    head = s3.head_object(Bucket=versioned_bucket, Key="incoming/beach.jpg")
    moderation.configure(EVENT_BUS_NAME=BUS)

    # WHEN the function moderates it
    result = moderation.invoke(sqs_event(s3_notification(s3_record(versioned_bucket, "incoming/beach.jpg"))))

    # THEN one "Image Moderated" event says what happened and where the image is now
    assert result.failed_message_ids == []
    (event,) = event_subscriber.bodies(expect=1)
    assert (event["source"], event["detail-type"]) == ("imagga-s3-moderator", "Image Moderated")
    detail = event["detail"]
    assert detail == {
        "schemaVersion": 1,
        "bucket": versioned_bucket,
        "key": "incoming/beach.jpg",
        "versionId": head["VersionId"],
        "etag": head["ETag"].strip('"'),
        "status": "UNSAFE",
        "reason": None,
        "scores": UNSAFE_SCORES,
        "categorizer": "nsfw_beta",
        "action": "quarantined",
        "skipReason": None,
        "quarantine": {"bucket": versioned_bucket, "key": "quarantine/incoming/beach.jpg"},
        "scannedAt": detail["scannedAt"],
        "actionError": None,
        "framesSent": 1,
        "frameCount": 1,
        "decidingFrame": 0,
        # Imagga was asked now, and the image is no rejected one.
        "reusedFrom": None,
        "matched": None,
    }
    assert (
        detail["scannedAt"] == tags_of(s3, versioned_bucket, "quarantine/incoming/beach.jpg")["moderation:scanned-at"]
    )


def test_a_safe_image_is_announced_as_tagged_with_no_quarantine_and_raises_no_alert(
    s3: BaseClient,
    bucket: str,
    imagga: FakeImagga,
    moderation: Moderation,
    event_subscriber: Subscriber,
    sqs: BaseClient,
    topic: str,
) -> None:
    # GIVEN a safe image, the bus and the alert topic configured, someone subscribed to every alert
    imagga.answer_for_colour(GREEN, SAFE_SCORES)
    upload(s3, bucket, "incoming/cat.jpg", GREEN)
    alerts = subscribe(sqs, topic, "all-alerts")
    moderation.configure(EVENT_BUS_NAME=BUS, ALERT_TOPIC_ARN=topic)

    # WHEN the function moderates it
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, "incoming/cat.jpg"))))

    # THEN the event says SAFE and tagged, with no quarantine and no version (unversioned bucket); no alert
    assert result.failed_message_ids == []
    (event,) = event_subscriber.bodies(expect=1)
    assert {k: event["detail"][k] for k in ("status", "action", "quarantine", "versionId")} == {
        "status": "SAFE",
        "action": "tagged",
        "quarantine": None,
        "versionId": None,
    }
    assert alerts.bodies() == []


def test_an_upload_deleted_before_its_scan_is_announced_as_skipped_and_our_own_copies_are_not(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation, event_subscriber: Subscriber
) -> None:
    # GIVEN an event for an upload deleted since, and one for a quarantined copy of ours
    moderation.configure(EVENT_BUS_NAME=BUS)
    keys = ("incoming/deleted-meanwhile.jpg", "quarantine/incoming/old.jpg")

    # WHEN the function handles both
    result = moderation.invoke(sqs_event(*(s3_notification(s3_record(bucket, key)) for key in keys)))

    # THEN subscribers hear of the vanished upload only, as skipped/gone; Imagga was never asked
    assert result.failed_message_ids == []
    (event,) = event_subscriber.bodies(expect=1)
    assert {k: event["detail"][k] for k in ("key", "action", "skipReason", "status")} == {
        "key": "incoming/deleted-meanwhile.jpg",
        "action": "skipped",
        "skipReason": "gone",
        "status": None,
    }
    assert imagga.requests() == []


def test_unsafe_and_review_images_raise_alerts_subscribers_can_filter_by_status_and_bucket(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation, sqs: BaseClient, topic: str
) -> None:
    # GIVEN an unsafe, a borderline and a safe image; one subscriber for everything, one for UNSAFE only
    imagga.answer_for_colour(RED, UNSAFE_SCORES)
    imagga.answer_for_colour(BLUE, REVIEW_SCORES)
    imagga.answer_for_colour(GREEN, SAFE_SCORES)
    for key, colour in (("incoming/red.jpg", RED), ("incoming/blue.jpg", BLUE), ("incoming/green.jpg", GREEN)):
        upload(s3, bucket, key, colour)
    everything = subscribe(sqs, topic, "every-alert")
    unsafe_only = subscribe(sqs, topic, "unsafe-only", {"status": ["UNSAFE"], "bucket": [bucket]})
    moderation.configure(ALERT_TOPIC_ARN=topic)

    # WHEN the function moderates the three
    keys = ("incoming/red.jpg", "incoming/blue.jpg", "incoming/green.jpg")
    result = moderation.invoke(sqs_event(*(s3_notification(s3_record(bucket, key)) for key in keys)))

    # THEN UNSAFE and REVIEW are alerted with status and bucket attributes; the filter passes UNSAFE only
    assert result.failed_message_ids == []
    received = everything.bodies(expect=2)
    by_status = {m["MessageAttributes"]["status"]["Value"]: m for m in received}
    assert sorted(by_status) == ["REVIEW", "UNSAFE"]
    assert all(m["MessageAttributes"]["bucket"]["Value"] == bucket for m in received)
    assert json.loads(by_status["REVIEW"]["Message"])["key"] == "incoming/blue.jpg"
    assert by_status["UNSAFE"]["Subject"] == "Image moderated: UNSAFE"
    assert [json.loads(m["Message"])["key"] for m in unsafe_only.bodies(expect=1)] == ["incoming/red.jpg"]


# LocalStack accepts PutEvents naming a bus that does not exist (FailedEntryCount 0): only moto refuses it here.
@moto_only
def test_a_publishing_failure_is_logged_and_counted_and_the_moderation_stands(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an unsafe image, and a bus and a topic that do not exist
    imagga.answer_for_colour(RED, UNSAFE_SCORES)
    upload(s3, bucket, "incoming/red.jpg", RED)
    moderation.configure(
        EVENT_BUS_NAME="no-such-bus", ALERT_TOPIC_ARN=f"arn:aws:sns:{REGION}:123456789012:no-such-topic"
    )
    event = sqs_event(s3_notification(s3_record(bucket, "incoming/red.jpg")))

    # WHEN the function moderates it
    result = moderation.invoke(event)

    # THEN the message succeeds (it will not run again), the object is tagged and quarantined,
    # Imagga was asked once, and both failures are logged and counted
    assert result.error is None and result.failed_message_ids == []
    assert tags_of(s3, bucket, "quarantine/incoming/red.jpg")["moderation:status"] == "UNSAFE"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="incoming/")
    assert len(imagga.requests("POST", "/v2/categories/")) == 1
    failures = result.logged("publishing the verdict failed")
    assert sorted(line["channel"] for line in failures) == ["eventbridge", "sns"]
    assert result.metrics["PublishFailed"] == 2
