"""Objects the function leaves alone on purpose: gone before their turn, or its own quarantine copies."""

from __future__ import annotations

import pytest
from botocore.client import BaseClient

from tests.builders import eventbridge_event, jpeg_bytes, s3_notification, s3_record, sqs_event

from .conftest import S3Calls
from .fake_imagga import RED, FakeImagga
from .harness import Moderation

pytestmark = pytest.mark.integration


def test_an_object_deleted_before_its_turn_is_skipped_not_failed(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an upload that was deleted again before its message was handled
    s3.put_object(Bucket=bucket, Key="incoming/short-lived.jpg", Body=jpeg_bytes())
    s3.delete_object(Bucket=bucket, Key="incoming/short-lived.jpg")

    # WHEN its message arrives
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, "incoming/short-lived.jpg"))))

    # THEN the message succeeds, the skip is logged with its reason and counted, and Imagga is not asked
    assert result.failed_message_ids == []
    (skipped,) = result.logged("object skipped")
    assert (skipped["key"], skipped["skip_reason"]) == ("incoming/short-lived.jpg", "gone")
    assert result.metrics["Skipped"] == 1
    assert imagga.calls == []


@pytest.mark.parametrize("quarantine_bucket", [None, "moderation-quarantine-bucket"])
def test_a_key_under_the_quarantine_prefix_is_skipped_without_reading_it(
    quarantine_bucket: str | None,
    s3: BaseClient,
    s3_calls: S3Calls,
    bucket: str,
    imagga: FakeImagga,
    moderation: Moderation,
) -> None:
    # GIVEN an unsafe image under quarantine/ (our own copy), whichever bucket quarantine uses
    imagga.answer_for_colour(RED, {"nsfw": 99.0})
    if quarantine_bucket:
        moderation.configure(QUARANTINE_BUCKET=quarantine_bucket)
    s3.put_object(Bucket=bucket, Key="quarantine/incoming/bad.jpg", Body=jpeg_bytes(color=RED))
    s3_calls.reset()

    # WHEN its notification arrives (by S3 and by EventBridge)
    by_s3 = moderation.invoke(s3_notification(s3_record(bucket, "quarantine/incoming/bad.jpg")))
    by_eventbridge = moderation.invoke(eventbridge_event(bucket, "quarantine/incoming/bad.jpg"))

    # THEN nothing is read, tagged, moved or sent: the loop guard skips it
    for result in (by_s3, by_eventbridge):
        assert result.response is not None, result.error
        assert result.response["outcomes"][0]["skip_reason"] == "quarantine-prefix"
    assert s3_calls.calls == []
    assert imagga.calls == []
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
