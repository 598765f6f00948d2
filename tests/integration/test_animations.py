"""Animations through the whole function (moto S3, a real local Imagga server): the worst frame decides,
and the log line, the metrics, the tags and the "Image Moderated" event say how many frames were sent
and which one decided.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from moderator.notifications import DETAIL_TYPE, EVENT_SOURCE
from tests.builders import animation_bytes, s3_notification, s3_record, sqs_event

from .fake_imagga import BLUE, GREEN, GREY, RED, FakeImagga
from .harness import Moderation, Subscriber, tags_of

pytestmark = pytest.mark.integration

REGION = "us-east-1"
BUS = "moderation-events"
UNSAFE_SCORES = {"safe": 5.0, "underwear": 10.0, "nsfw": 85.0}
#: Five frames, the third unsafe; neighbours differ (a GIF writer merges identical consecutive frames).
FIVE_FRAMES = (GREEN, GREY, RED, BLUE, GREEN)


@pytest.fixture
def events_queue(aws: None) -> Subscriber:
    """An SQS queue receiving every "Image Moderated" event, through a rule on the function's bus."""
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name=BUS)
    subscriber = Subscriber(sqs, "moderated-events")
    pattern = {"source": [EVENT_SOURCE], "detail-type": [DETAIL_TYPE]}
    events.put_rule(Name="moderated", EventBusName=BUS, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="moderated", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": subscriber.arn}])
    return subscriber


def event_details(subscriber: Subscriber) -> list[dict[str, Any]]:
    """The details of the events delivered, after waiting (bounded) for one."""
    return [body["detail"] for body in subscriber.bodies(expect=1)]


def moderate(moderation: Moderation, bucket: str, key: str) -> Any:
    return moderation.invoke(sqs_event(s3_notification(s3_record(bucket, key))))


def test_an_animated_gif_with_an_unsafe_third_frame_is_quarantined_and_says_which_frame(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation, events_queue: Subscriber
) -> None:
    # GIVEN a five-frame GIF whose third frame Imagga finds unsafe, and the default ANIMATION_FRAMES (5)
    imagga.answer_for_colour(RED, UNSAFE_SCORES)
    s3.put_object(Bucket=bucket, Key="incoming/party.gif", Body=animation_bytes("GIF", FIVE_FRAMES))
    moderation.configure(EVENT_BUS_NAME=BUS)

    # WHEN the function moderates it
    result = moderate(moderation, bucket, "incoming/party.gif")

    # THEN it is UNSAFE, quarantined, tagged with the unsafe frame's scores
    assert result.failed_message_ids == []
    tags = tags_of(s3, bucket, "quarantine/incoming/party.gif")
    assert (tags["moderation:status"], tags["moderation:nsfw"]) == ("UNSAFE", "85.00")
    # AND three frames were sent (the first three: after an unsafe frame nothing can change the verdict)
    assert len(imagga.requests("POST", "/v2/categories/")) == 3
    assert result.metrics["ImaggaCalls"] == 3
    # AND the log line and the event say so
    (line,) = result.logged("object moderated")
    assert (line["frames_sent"], line["frame_count"], line["deciding_frame"]) == (3, 5, 2)
    (detail,) = event_details(events_queue)
    assert (detail["framesSent"], detail["frameCount"], detail["decidingFrame"]) == (3, 5, 2)
    assert detail["status"] == "UNSAFE"


def test_with_animation_frames_1_the_same_gif_is_safe_because_only_its_first_frame_is_seen(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation, events_queue: Subscriber
) -> None:
    # GIVEN the same GIF and ANIMATION_FRAMES=1
    imagga.answer_for_colour(RED, UNSAFE_SCORES)
    s3.put_object(Bucket=bucket, Key="incoming/party.gif", Body=animation_bytes("GIF", FIVE_FRAMES))
    moderation.configure(EVENT_BUS_NAME=BUS, ANIMATION_FRAMES="1")

    # WHEN the function moderates it
    result = moderate(moderation, bucket, "incoming/party.gif")

    # THEN one call was made, the image is SAFE where it was, and nothing claims the frames were counted
    assert tags_of(s3, bucket, "incoming/party.gif")["moderation:status"] == "SAFE"
    assert len(imagga.requests("POST", "/v2/categories/")) == 1
    (line,) = result.logged("object moderated")
    assert (line["frames_sent"], line["deciding_frame"]) == (1, 0)
    assert "frame_count" not in line  # the log leaves out empty fields
    (detail,) = event_details(events_queue)
    assert (detail["framesSent"], detail["frameCount"], detail["decidingFrame"]) == (1, None, 0)


def test_an_unsafe_second_page_of_a_tiff_is_found(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    imagga.answer_for_colour(RED, UNSAFE_SCORES)
    s3.put_object(Bucket=bucket, Key="incoming/scan.tiff", Body=animation_bytes("TIFF", (GREEN, RED, GREY)))
    result = moderate(moderation, bucket, "incoming/scan.tiff")
    assert tags_of(s3, bucket, "quarantine/incoming/scan.tiff")["moderation:status"] == "UNSAFE"
    (line,) = result.logged("object moderated")
    assert (line["frames_sent"], line["frame_count"], line["deciding_frame"]) == (2, 3, 1)
