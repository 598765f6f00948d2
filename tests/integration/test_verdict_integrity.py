"""Verdict integrity on real buckets (moto and LocalStack): every upload judged, a failing quarantine
move that never undoes the verdict, copies over the single-copy limit, quarantine copies under their key.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from moderator.errors import ObjectChangedError
from moderator.ledger import decision_id, table_definition
from moderator.model import ObjectRef
from moderator.storage import S3Storage
from tests.backends import moto_only
from tests.builders import jpeg_bytes, s3_notification, s3_record, sqs_event

from .conftest import REGION, S3Calls, unique
from .fake_imagga import RED, FakeImagga
from .harness import Moderation, notify_queue, sqs_event_from_queue, tags_of

pytestmark = pytest.mark.integration

KEY = "incoming/party/night.jpg"
QUARANTINED = f"quarantine/{KEY}"
UNSAFE = {"nsfw": 91.0, "underwear": 3.0, "safe": 6.0}
IDEMPOTENCY = "moderation-idempotency"
DECISIONS = "moderation-decisions"
MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def red_is_unsafe(imagga: FakeImagga) -> None:
    imagga.answer_for_colour(RED, UNSAFE)


@pytest.fixture
def tables(moderation: Moderation) -> None:
    """The idempotency table and the decisions ledger, as the template makes them."""
    moderation.dynamodb.create_table(
        TableName=IDEMPOTENCY,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    moderation.dynamodb.create_table(**table_definition(DECISIONS))


def _versions_at(s3: BaseClient, bucket: str, key: str) -> list[dict[str, Any]]:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [entry for entry in listing.get("Versions", []) if entry["Key"] == key]


# ---- finding 1: identical bytes, uploaded again, are judged again -------------------------------


def test_identical_bytes_uploaded_again_to_an_unversioned_key_are_judged_and_quarantined_again(
    s3: BaseClient, bucket: str, tables: None, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an unversioned bucket whose uploads reach a queue, and the idempotency table
    sqs = boto3.client("sqs", region_name=REGION)
    queue = notify_queue(s3, sqs, bucket, unique("uploads"))
    moderation.configure(IDEMPOTENCY_TABLE=IDEMPOTENCY)
    data = jpeg_bytes(color=RED)
    # AND an unsafe image judged and moved to quarantine
    s3.put_object(Bucket=bucket, Key=KEY, Body=data)
    first = moderation.invoke(_uploads(sqs, queue))
    assert first.failed_message_ids == []
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="incoming/")
    # moto's events carry no sequencer and LocalStack's carry the same one for every event:
    # there, LastModified (to the second) is what tells the two uploads apart. AWS's sequencers differ.
    time.sleep(1.1)

    # WHEN the very same bytes are uploaded to the same key (same ETag, no version id) and announced
    s3.put_object(Bucket=bucket, Key=KEY, Body=data)
    second = moderation.invoke(_uploads(sqs, queue))

    # THEN the new upload is judged (a second Imagga call) and quarantined too: nothing left readable
    assert second.failed_message_ids == []
    assert len(imagga.requests("POST", "/v2/categories/")) == 2
    assert second.logged("duplicate delivery: the earlier result stands, nothing called again") == []
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="incoming/")
    assert tags_of(s3, bucket, QUARANTINED)["moderation:status"] == "UNSAFE"


def _uploads(sqs: BaseClient, queue: str) -> dict[str, Any]:
    """The ObjectCreated messages the bucket sent (waiting, bounded, for LocalStack's to arrive)."""
    deadline = time.monotonic() + 20
    while True:
        event = sqs_event_from_queue(sqs, queue)
        created = [r for r in event["Records"] if "ObjectCreated" in r["body"]]
        if created or time.monotonic() > deadline:
            return {"Records": created}
        time.sleep(0.2)


# ---- finding 6: a delete that keeps failing never undoes the verdict ----------------------------


def test_an_object_lock_that_refuses_the_delete_keeps_unsafe_and_one_copy_across_every_delivery(
    s3: BaseClient, tables: None, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN a bucket with Object Lock and an unsafe image under retention: its version cannot be deleted
    bucket = unique("moderation-locked")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    until = datetime.now(UTC) + timedelta(days=1)
    uploaded = s3.put_object(
        Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=RED), ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until
    )
    moderation.configure(IDEMPOTENCY_TABLE=IDEMPOTENCY, DECISIONS_TABLE=DECISIONS, MAX_RECEIVE_COUNT="3")
    record = s3_record(bucket, KEY, version_id=uploaded["VersionId"], etag=uploaded["ETag"].strip('"'))

    # WHEN its message is delivered three times, the third being its last
    results = [moderation.invoke(sqs_event(s3_notification(record), receive_count=n)) for n in (1, 2, 3)]

    # THEN every delivery fails (the message goes on to the dead-letter queue) ...
    assert [r.failed_message_ids for r in results] == [["msg-1"]] * 3
    assert all(r.metrics.get("ErrorQuarantineIncomplete") == 1 for r in results)
    # ... Imagga was asked once, one quarantined copy was made, and the original still says UNSAFE, never ERROR
    assert len(imagga.requests("POST", "/v2/categories/")) == 1
    assert len(_versions_at(s3, bucket, QUARANTINED)) == 1
    original = tags_of(s3, bucket, KEY, uploaded["VersionId"])
    assert original["moderation:status"] == "UNSAFE"
    # AND the ledger holds the verdict with the move that failed
    item = moderation.dynamodb.get_item(
        TableName=DECISIONS, Key={"id": {"S": decision_id(bucket, KEY, original["moderation:scanned-at"])}}
    )["Item"]
    assert item["status"]["S"] == "UNSAFE"
    assert item["action_error"]["S"].startswith("s3-access")
    assert results[2].logged("quarantine incomplete after the last delivery: the object keeps its status tag")


# ---- finding 7: objects over the single-copy limit ----------------------------------------------


def _large(s3: BaseClient, bucket: str, size: int) -> dict[str, Any]:
    return s3.put_object(
        Bucket=bucket,
        Key=KEY,
        Body=os.urandom(size),
        ContentType="image/jpeg",
        Metadata={"uploaded-by": "user-42"},
        Tagging="moderation%3Astatus=UNSAFE&album=summer",
    )


def test_an_object_over_the_single_copy_limit_is_copied_in_parts_with_its_metadata_tags_and_condition(
    s3: BaseClient, versioned_bucket: str, s3_calls: S3Calls
) -> None:
    # GIVEN a 12 MiB object and a storage whose single-copy limit is 8 MiB (S3's is 5 GiB)
    uploaded = _large(s3, versioned_bucket, 12 * MIB)
    storage = S3Storage(s3, multipart_threshold=8 * MIB, part_size=5 * MIB)  # type: ignore[arg-type]
    obj = storage.head(ObjectRef(versioned_bucket, KEY, uploaded["VersionId"]))
    s3_calls.reset()

    # WHEN it is copied to quarantine
    version = storage.copy(obj, versioned_bucket, QUARANTINED)

    # THEN it was copied in parts, each part pinned to the judged ETag, never with one CopyObject
    assert s3_calls.of("CopyObject") == []
    parts = s3_calls.of("UploadPartCopy")
    assert len(parts) == 3
    assert {p["CopySourceIfMatch"] for p in parts} == {f'"{obj.etag}"'}
    # AND the copy holds the same bytes, metadata, Content-Type and tags, and its version is returned
    copied = s3.head_object(Bucket=versioned_bucket, Key=QUARANTINED)
    assert version == copied["VersionId"]
    assert (copied["ContentLength"], copied["ContentType"]) == (12 * MIB, "image/jpeg")
    assert copied["Metadata"] == {"uploaded-by": "user-42"}
    assert tags_of(s3, versioned_bucket, QUARANTINED) == {"moderation:status": "UNSAFE", "album": "summer"}
    original = s3.get_object(Bucket=versioned_bucket, Key=KEY, VersionId=uploaded["VersionId"])["Body"].read()
    assert s3.get_object(Bucket=versioned_bucket, Key=QUARANTINED)["Body"].read() == original


def test_a_release_in_parts_onto_a_taken_key_is_refused_by_its_completion(
    s3: BaseClient, versioned_bucket: str, s3_calls: S3Calls
) -> None:
    # GIVEN a large quarantined object and, at its destination, an object that must not be replaced
    uploaded = _large(s3, versioned_bucket, 12 * MIB)
    s3.put_object(Bucket=versioned_bucket, Key="incoming/taken.jpg", Body=b"someone else's upload")
    storage = S3Storage(s3, multipart_threshold=8 * MIB, part_size=5 * MIB)  # type: ignore[arg-type]
    obj = storage.head(ObjectRef(versioned_bucket, KEY, uploaded["VersionId"]))
    s3_calls.reset()

    # WHEN it is copied there only if the key is free
    try:
        storage.copy(obj, versioned_bucket, "incoming/taken.jpg", only_if_absent=True)
        refused = False
    except ObjectChangedError:
        refused = True

    # THEN the condition went with the CompleteMultipartUpload, which refused: the upload there stays
    assert [c.get("IfNoneMatch") for c in s3_calls.of("CompleteMultipartUpload")] == ["*"]
    assert refused
    body = s3.get_object(Bucket=versioned_bucket, Key="incoming/taken.jpg")["Body"].read()
    assert body == b"someone else's upload"


# ---- finding 9: a quarantine with a key of its own ----------------------------------------------


@moto_only  # KMS is not among LocalStack's services here
def test_quarantined_copies_are_encrypted_under_the_quarantine_key(
    s3: BaseClient, versioned_bucket: str, moderation: Moderation
) -> None:
    # GIVEN a quarantine bucket with a KMS key of its own, named in QUARANTINE_KMS_KEY_ARN
    key_arn = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    held = unique("moderation-held")
    s3.create_bucket(Bucket=held)
    moderation.configure(QUARANTINE_BUCKET=held, QUARANTINE_KMS_KEY_ARN=key_arn)
    s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=jpeg_bytes(color=RED))

    # WHEN an unsafe image is moderated
    result = moderation.invoke(sqs_event(s3_notification(s3_record(versioned_bucket, KEY))))

    # THEN its quarantined copy is encrypted under that key
    assert result.failed_message_ids == []
    copied = s3.head_object(Bucket=held, Key=QUARANTINED)
    assert (copied["ServerSideEncryption"], copied["SSEKMSKeyId"]) == ("aws:kms", key_arn)
