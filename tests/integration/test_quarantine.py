"""Quarantine on real (moto) buckets: the exact scanned version moves, with everything that describes it.

Run on moto and on LocalStack. moto ignores CopySourceIfMatch (see toolbox.md), so the conditions are
asserted on the parameters the S3 client sent (CopySource as botocore puts it on the wire:
bucket/key?versionId=...); LocalStack enforces them (tests/integration/test_localstack_only.py).
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from botocore.client import BaseClient

from tests.backends import moto_only
from tests.builders import jpeg_bytes, s3_notification, s3_record, sqs_event

from .conftest import S3Calls
from .fake_imagga import GREEN, RED, FakeImagga
from .harness import Moderation, tags_of

pytestmark = pytest.mark.integration

KEY = "incoming/holiday/beach.jpg"
QUARANTINED = "quarantine/incoming/holiday/beach.jpg"
UNSAFE = {"nsfw": 93.5, "underwear": 4.0, "safe": 2.5}


@pytest.fixture(autouse=True)
def red_is_unsafe(imagga: FakeImagga) -> None:
    imagga.answer_for_colour(RED, UNSAFE)


def _versions_at(s3: BaseClient, bucket: str, key: str) -> list[str]:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    entries = [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
    return [entry["VersionId"] for entry in entries if entry["Key"] == key]


def _upload(s3: BaseClient, bucket: str, key: str = KEY, colour: tuple[int, int, int] = RED) -> dict[str, str]:
    answer = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=jpeg_bytes(color=colour),
        ContentType="image/jpeg",
        Metadata={"uploaded-by": "user-42", "album": "summer"},
        Tagging=urlencode({"album": "summer"}),
    )
    return {"etag": answer["ETag"], "version_id": answer.get("VersionId", "")}


def test_an_unsafe_image_leaves_a_versioned_bucket_without_a_trace_and_keeps_everything_in_quarantine(
    s3: BaseClient, versioned_bucket: str, moderation: Moderation
) -> None:
    # GIVEN an unsafe image uploaded to a versioned bucket with metadata, a Content-Type and a tag
    uploaded = _upload(s3, versioned_bucket)

    # WHEN its notification is handled
    result = moderation.invoke(sqs_event(s3_notification(s3_record(versioned_bucket, KEY))))

    # THEN no version and no delete marker remain at the original key
    assert result.failed_message_ids == []
    assert _versions_at(s3, versioned_bucket, KEY) == []
    # AND the quarantine copy has the same bytes' ETag, metadata, Content-Type, the uploader's and our tags
    head = s3.head_object(Bucket=versioned_bucket, Key=QUARANTINED)
    assert head["ETag"] == uploaded["etag"]
    assert head["ContentType"] == "image/jpeg"
    assert head["Metadata"] == {"uploaded-by": "user-42", "album": "summer"}
    tags = tags_of(s3, versioned_bucket, QUARANTINED)
    assert tags["album"] == "summer"
    assert (tags["moderation:status"], tags["moderation:nsfw"]) == ("UNSAFE", "93.50")
    assert result.metrics["Quarantined"] == 1
    (line,) = result.logged("object moderated")
    assert (line["action"], line["quarantine_key"]) == ("quarantined", QUARANTINED)


def test_the_copy_and_the_delete_name_the_scanned_version_and_etag(
    s3: BaseClient, s3_calls: S3Calls, versioned_bucket: str, moderation: Moderation
) -> None:
    # GIVEN an unsafe version, then a newer safe upload to the same key before the event is handled
    unsafe = _upload(s3, versioned_bucket)
    newer = _upload(s3, versioned_bucket, colour=GREEN)
    s3_calls.reset()

    # WHEN the event of the unsafe version arrives
    event = s3_notification(s3_record(versioned_bucket, KEY, version_id=unsafe["version_id"]))
    result = moderation.invoke(event)

    # THEN the copy and the delete name exactly that version, and the copy is conditional on its ETag
    assert result.error is None
    (copy,) = s3_calls.of("CopyObject")
    assert copy["CopySource"] == f"{versioned_bucket}/{KEY}?versionId={unsafe['version_id']}"
    assert copy["CopySourceIfMatch"] == unsafe["etag"]
    assert (copy["Bucket"], copy["Key"]) == (versioned_bucket, QUARANTINED)
    (delete,) = s3_calls.of("DeleteObject")
    assert delete == {"Bucket": versioned_bucket, "Key": KEY, "VersionId": unsafe["version_id"]}
    # AND the newer upload is untouched at the key
    assert _versions_at(s3, versioned_bucket, KEY) == [newer["version_id"]]
    assert tags_of(s3, versioned_bucket, KEY) == {"album": "summer"}


# LocalStack answers 501 to DeleteObject's IfMatch: the fallback it takes there is tested in test_localstack_only.py.
@moto_only
def test_on_an_unversioned_bucket_the_delete_is_conditional_on_the_scanned_etag(
    s3: BaseClient, s3_calls: S3Calls, bucket: str, moderation: Moderation
) -> None:
    # GIVEN an unsafe image in an unversioned bucket
    uploaded = _upload(s3, bucket)
    s3_calls.reset()

    # WHEN its notification is handled
    result = moderation.invoke(s3_notification(s3_record(bucket, KEY)))

    # THEN the original is deleted only if it still has the scanned ETag, and the copy holds it
    assert result.error is None
    (delete,) = s3_calls.of("DeleteObject")
    assert delete == {"Bucket": bucket, "Key": KEY, "IfMatch": uploaded["etag"]}
    (copy,) = s3_calls.of("CopyObject")
    assert copy["CopySource"] == f"{bucket}/{KEY}"
    assert copy["CopySourceIfMatch"] == uploaded["etag"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    assert tags_of(s3, bucket, QUARANTINED)["moderation:status"] == "UNSAFE"


def test_a_separate_quarantine_bucket_receives_the_unsafe_image(
    s3: BaseClient, bucket: str, moderation: Moderation
) -> None:
    # GIVEN a QUARANTINE_BUCKET next to the upload bucket
    s3.create_bucket(Bucket="moderation-quarantine-bucket")
    moderation.configure(QUARANTINE_BUCKET="moderation-quarantine-bucket")
    _upload(s3, bucket)

    # WHEN the unsafe image is moderated
    result = moderation.invoke(s3_notification(s3_record(bucket, KEY)))

    # THEN it is gone from the upload bucket and in the quarantine bucket, under the quarantine prefix
    assert result.error is None
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    tags = tags_of(s3, "moderation-quarantine-bucket", QUARANTINED)
    assert (tags["moderation:status"], tags["album"]) == ("UNSAFE", "summer")
    head = s3.head_object(Bucket="moderation-quarantine-bucket", Key=QUARANTINED)
    assert head["Metadata"]["uploaded-by"] == "user-42"


def test_monitor_mode_tags_unsafe_but_leaves_the_object_in_place(
    s3: BaseClient, s3_calls: S3Calls, bucket: str, moderation: Moderation
) -> None:
    # GIVEN monitor mode
    moderation.configure(MODE="monitor")
    _upload(s3, bucket)

    # WHEN an unsafe image is moderated
    result = moderation.invoke(s3_notification(s3_record(bucket, KEY)))

    # THEN it is tagged UNSAFE where it is; nothing was copied or deleted; the skipped move is logged
    assert result.error is None
    assert tags_of(s3, bucket, KEY)["moderation:status"] == "UNSAFE"
    assert s3_calls.of("CopyObject") == []
    assert s3_calls.of("DeleteObject") == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [KEY]
    assert len(result.logged("monitor mode: would quarantine")) == 1
