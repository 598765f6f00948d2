"""Tags on real S3 objects: the uploader's stay, ours fit in S3's budget of 10, forged ones are replaced."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from botocore.client import BaseClient

from tests.builders import jpeg_bytes, s3_notification, s3_record

from .fake_imagga import FakeImagga
from .harness import Moderation, tags_of

pytestmark = pytest.mark.integration

KEY = "incoming/tagged.jpg"


def test_an_object_with_eight_tags_of_its_own_keeps_them_and_gets_its_status_first(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an upload carrying eight tags of its uploader
    own = {f"owner-tag-{n}": f"value {n}" for n in range(1, 9)}
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(), Tagging=urlencode(own))

    # WHEN it is moderated (SAFE, with three scores, scanned-at and categorizer: six tags of ours)
    result = moderation.invoke(s3_notification(s3_record(bucket, KEY)))

    # THEN all eight stay, the two free places go to the status and the deciding score, and the loss is reported
    tags = tags_of(s3, bucket, KEY)
    assert len(tags) == 10
    assert {k: v for k, v in tags.items() if not k.startswith("moderation:")} == own
    assert tags["moderation:status"] == "SAFE"
    assert tags["moderation:nsfw"] == "0.30"
    (warning,) = result.logged("tag budget exceeded: some moderation tags were not written")
    assert warning["level"] == "WARNING"
    assert warning["tags_dropped"] == 4
    assert result.metrics["TagsDropped"] == 4


def test_moderation_tags_set_by_the_uploader_are_replaced_not_trusted(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an unsafe upload that claims to be approved already, next to a tag of its own
    imagga.answer({"nsfw": 88.0, "safe": 12.0})
    forged = {"moderation:status": "APPROVED", "moderation:reviewed-at": "2024-01-01T00:00:00Z", "album": "summer"}
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(), Tagging=urlencode(forged))
    moderation.configure(MODE="monitor")

    # WHEN it is moderated
    moderation.invoke(s3_notification(s3_record(bucket, KEY)))

    # THEN the verdict replaces the forged tags; the uploader's own tag stays
    tags = tags_of(s3, bucket, KEY)
    assert tags["moderation:status"] == "UNSAFE"
    assert "moderation:reviewed-at" not in tags
    assert tags["album"] == "summer"
    assert len(imagga.calls) == 1
