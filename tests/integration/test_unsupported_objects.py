"""Objects that are not images we can send end UNSUPPORTED, with a reason, and Imagga is never asked."""

from __future__ import annotations

import pytest
from botocore.client import BaseClient

from tests.builders import jpeg_bytes, s3_notification, s3_record, sqs_event

from .conftest import S3Calls
from .fake_imagga import FakeImagga
from .harness import Moderation, tags_of

pytestmark = pytest.mark.integration

KEY = "incoming/upload.jpg"
LARGE_JPEG = jpeg_bytes(width=640, height=480, color=(200, 120, 40), quality=100)
WHOLE_JPEG = jpeg_bytes(width=320, height=240, color=(90, 90, 200), quality=95)


@pytest.mark.parametrize(
    ("body", "env", "reason"),
    [
        (b"", {}, "empty"),
        (b"this is a text file, whatever its name says\n" * 3, {}, "not-an-image"),
        (jpeg_bytes(width=64, height=48), {"MAX_IMAGE_PIXELS": "3000"}, "too-many-pixels"),
        (WHOLE_JPEG[: len(WHOLE_JPEG) // 2], {}, "undecodable"),
    ],
    ids=["empty", "not-an-image", "too-many-pixels", "truncated-jpeg"],
)
def test_an_object_that_is_not_a_usable_image_is_tagged_unsupported_without_asking_imagga(
    body: bytes,
    env: dict[str, str],
    reason: str,
    s3: BaseClient,
    bucket: str,
    imagga: FakeImagga,
    moderation: Moderation,
) -> None:
    # GIVEN an object named .jpg, declared image/jpeg, whose bytes are not a usable image
    s3.put_object(Bucket=bucket, Key=KEY, Body=body, ContentType="image/jpeg")
    moderation.configure(**env)

    # WHEN its notification arrives through SQS
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, KEY))))

    # THEN the message succeeds, the object stays where it is with UNSUPPORTED and the reason, and Imagga saw nothing
    assert result.failed_message_ids == []
    tags = tags_of(s3, bucket, KEY)
    assert tags["moderation:status"] == "UNSUPPORTED"
    assert tags["moderation:reason"] == reason
    assert "moderation:scanned-at" in tags
    assert "moderation:categorizer" not in tags
    assert imagga.calls == []
    assert result.metrics["StatusUnsupported"] == 1


def test_an_object_over_the_size_limit_is_tagged_too_large_and_never_downloaded(
    s3: BaseClient, s3_calls: S3Calls, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN a real JPEG larger than MAX_IMAGE_BYTES
    limit = 4096
    assert len(LARGE_JPEG) > limit
    s3.put_object(Bucket=bucket, Key=KEY, Body=LARGE_JPEG, ContentType="image/jpeg")
    moderation.configure(MAX_IMAGE_BYTES=str(limit))
    s3_calls.reset()

    # WHEN its notification is handled
    result = moderation.invoke(s3_notification(s3_record(bucket, KEY)))

    # THEN it is UNSUPPORTED / too-large, judged from its HEAD alone: no GetObject, no Imagga request
    assert result.error is None
    tags = tags_of(s3, bucket, KEY)
    assert (tags["moderation:status"], tags["moderation:reason"]) == ("UNSUPPORTED", "too-large")
    assert s3_calls.of("GetObject") == []
    # one HEAD pins it, one confirms the object tagged is still the one judged (unversioned bucket)
    assert len(s3_calls.of("HeadObject")) == 2
    assert imagga.calls == []
    assert result.logged("not categorized")[0]["reason"] == "too-large"
