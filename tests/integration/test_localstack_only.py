"""What only LocalStack shows: S3 behaviour moto does not have, and what the function does about it.

moto's S3 events carry no version id, its EventBridge keys are raw, it ignores CopySourceIfMatch and
the copy's IfNoneMatch, answers 204 to deleting a version already deleted, and implements
DeleteObject's IfMatch. LocalStack answers as AWS does (and as several S3-compatible stores do for
IfMatch: 501). Each race is placed
exactly with a botocore `before-call` hook on the client under test; each test also checks that the
answer it is about (412, 400, 405, 501) really came, so none can pass by not reaching its case.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from moderator.model import ObjectRef
from moderator.review import OriginalKeyTakenError, purge_every_version, release
from moderator.storage import S3Storage
from tests.backends import localstack_only
from tests.builders import jpeg_bytes, s3_notification, s3_record, sqs_event
from tests.unit.fakes import FakeApprovals

from .conftest import REGION, unique
from .fake_imagga import GREEN, RED, FakeImagga
from .harness import Moderation, notify_queue, sqs_event_from_queue, tags_of

pytestmark = [pytest.mark.integration, localstack_only]

KEY = "incoming/holiday/beach.jpg"
QUARANTINED = "quarantine/" + KEY
UNSAFE = {"nsfw": 93.5, "underwear": 4.0, "safe": 2.5}
SAFE = {"nsfw": 0.5, "underwear": 0.5, "safe": 99.0}
FALLBACK = "conditional delete not supported by this S3 endpoint: comparing the ETag with a HEAD, then deleting"


@pytest.fixture(autouse=True)
def colours(imagga: FakeImagga) -> None:
    imagga.answer_for_colour(RED, UNSAFE)
    imagga.answer_for_colour(GREEN, SAFE)


class Watched:
    """An S3 client of its own for the code under test: runs an action just before an operation, and
    keeps the HTTP status of every answer."""

    def __init__(self) -> None:
        self.client = boto3.client("s3", region_name=REGION)
        self.statuses: list[tuple[str, int]] = []
        self.client.meta.events.register("after-call.s3", self._answered)

    def _answered(self, http_response: Any, model: Any, **_: Any) -> None:
        self.statuses.append((model.name, http_response.status_code))

    def before(self, operation: str, action: Callable[[], object], times: int = 1) -> None:
        remaining = [times]

        def run(**_: Any) -> None:
            if remaining[0] > 0:
                remaining[0] -= 1
                action()

        self.client.meta.events.register(f"before-call.s3.{operation}", run)

    def answers(self, operation: str) -> list[int]:
        return [status for name, status in self.statuses if name == operation]


def _versions_at(s3: BaseClient, bucket: str, key: str) -> list[str]:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    entries = [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
    return [entry["VersionId"] for entry in entries if entry["Key"] == key]


def _body(s3: BaseClient, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_two_uploads_to_one_key_are_two_versions_each_scanned_and_only_the_unsafe_one_quarantined(
    s3: BaseClient, versioned_bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN S3 notifying a queue, an unsafe upload and then a safe one to the same key
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = notify_queue(s3, sqs, versioned_bucket)
    unsafe = s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=jpeg_bytes(color=RED))
    safe = s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=jpeg_bytes(color=GREEN))
    event = sqs_event_from_queue(sqs, queue_url, expect=3)
    named = [
        (unquote_plus(r["s3"]["object"]["key"]), r["s3"]["object"]["versionId"])
        for message in event["Records"]
        for r in json.loads(message["body"]).get("Records", [])
    ]
    # each event names its own version (S3 delivers them in no guaranteed order)
    assert sorted(named) == sorted([(KEY, unsafe["VersionId"]), (KEY, safe["VersionId"])])

    # WHEN the function handles both events
    result = moderation.invoke(event)

    # THEN each version was scanned on its own, the safe one stays tagged SAFE at the key,
    # and the quarantine holds the unsafe version's bytes, not the newer ones
    assert result.failed_message_ids == []
    assert len(imagga.requests("POST", "/v2/categories/")) == 2
    assert _versions_at(s3, versioned_bucket, KEY) == [safe["VersionId"]]
    assert tags_of(s3, versioned_bucket, KEY, safe["VersionId"])["moderation:status"] == "SAFE"
    assert s3.head_object(Bucket=versioned_bucket, Key=QUARANTINED)["ETag"] == unsafe["ETag"]
    assert tags_of(s3, versioned_bucket, QUARANTINED)["moderation:status"] == "UNSAFE"


@pytest.mark.parametrize(
    "key",
    [
        "incoming/plain-name.jpg",
        "incoming/holiday photos/café + #1.jpg",
    ],
)
def test_an_object_announced_through_eventbridge_is_tagged_under_its_own_key(
    key: str, s3: BaseClient, versioned_bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN the bucket sending its events to EventBridge, and a rule delivering "Object Created" to a queue
    sqs, events = boto3.client("sqs", region_name=REGION), boto3.client("events", region_name=REGION)
    s3.put_bucket_notification_configuration(
        Bucket=versioned_bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    queue_url = sqs.create_queue(QueueName="object-created")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [versioned_bucket]}},
    }
    events.put_rule(Name="object-created", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="object-created", Targets=[{"Id": "queue", "Arn": queue_arn}])
    version = s3.put_object(Bucket=versioned_bucket, Key=key, Body=jpeg_bytes(color=GREEN))["VersionId"]

    # WHEN the function handles what EventBridge delivered
    event = sqs_event_from_queue(sqs, queue_url, expect=1)
    result = moderation.invoke(event)

    # THEN that version of the object is tagged SAFE
    assert result.failed_message_ids == []
    assert tags_of(s3, versioned_bucket, key, version).get("moderation:status") == "SAFE"


def test_a_quarantine_copy_whose_source_was_overwritten_after_the_scan_is_refused_and_the_newcomer_left_to_its_event(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an unsafe image in an unversioned bucket, overwritten by a safe one just before the quarantine copy
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=RED))
    watched = Watched()
    watched.before("CopyObject", lambda: s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=GREEN)))
    event = sqs_event(s3_notification(s3_record(bucket, KEY)))

    # WHEN the function handles the upload's event
    result = moderation.invoke(event, services=moderation.build(s3_client=watched.client))

    # THEN the copy's CopySourceIfMatch refused (412): nothing reached the quarantine, and the newer
    # object is untouched and untagged: none of the judged image's verdict is on it
    assert watched.answers("CopyObject") == [412]
    assert result.failed_message_ids == []
    assert s3.list_objects_v2(Bucket=bucket, Prefix="quarantine/").get("KeyCount") == 0
    assert _body(s3, bucket, KEY) == jpeg_bytes(color=GREEN)
    assert "moderation:status" not in tags_of(s3, bucket, KEY)
    # AND the newer upload's own event judges it
    own = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, KEY, sequencer="0066436D2E9E5A1A2C"))))
    assert own.failed_message_ids == []
    assert tags_of(s3, bucket, KEY)["moderation:status"] == "SAFE"


def test_a_release_racing_a_new_upload_at_the_original_key_is_refused_by_the_copy_and_overwrites_nothing(
    s3: BaseClient, versioned_bucket: str, moderation: Moderation
) -> None:
    # GIVEN an image the function quarantined
    s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=jpeg_bytes(color=RED))
    assert moderation.invoke(s3_notification(s3_record(versioned_bucket, KEY))).error is None
    quarantined_versions = _versions_at(s3, versioned_bucket, QUARANTINED)
    # AND a new upload that lands at the original key after release checked it was free
    watched = Watched()
    newcomer: dict[str, Any] = {}
    watched.before(
        "CopyObject",
        lambda: newcomer.update(s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=jpeg_bytes(color=GREEN))),
    )

    # WHEN a human releases the quarantined image
    with pytest.raises(OriginalKeyTakenError, match="uploaded meanwhile: nothing moved"):
        release(
            S3Storage(watched.client),  # type: ignore[arg-type]
            FakeApprovals(),
            ObjectRef(versioned_bucket, QUARANTINED),
            quarantine_prefix="quarantine/",
            to_bucket=None,
            reviewer="arn:aws:iam::123456789012:user/reviewer-test",
            now="2026-03-05T12:00:00Z",
        )

    # THEN the copy's IfNoneMatch refused (412): the new upload is the only version at the key, with
    # its own bytes, and the quarantined image is still there, untouched
    assert watched.answers("CopyObject") == [412]
    assert _versions_at(s3, versioned_bucket, KEY) == [newcomer["VersionId"]]
    assert _body(s3, versioned_bucket, KEY) == jpeg_bytes(color=GREEN)
    assert _versions_at(s3, versioned_bucket, QUARANTINED) == quarantined_versions
    assert tags_of(s3, versioned_bucket, QUARANTINED)["moderation:status"] == "UNSAFE"


def test_a_purge_racing_another_purge_ends_without_error_and_leaves_no_version(
    s3: BaseClient, versioned_bucket: str
) -> None:
    # GIVEN a quarantined key with two versions
    for colour in (RED, RED):
        s3.put_object(Bucket=versioned_bucket, Key=QUARANTINED, Body=jpeg_bytes(color=colour))
    # AND another purge (another operator, the review page), half-way through: it deletes the version
    # this purge is about to delete, while the other version is still there
    watched = Watched()
    watched.before(
        "DeleteObject",
        lambda: s3.delete_object(
            Bucket=versioned_bucket, Key=QUARANTINED, VersionId=_versions_at(s3, versioned_bucket, QUARANTINED)[0]
        ),
    )

    # WHEN this purge runs
    deleted = purge_every_version(
        S3Storage(watched.client), versioned_bucket, QUARANTINED, quarantine_prefix="quarantine/"
    )  # type: ignore[arg-type]

    # THEN S3 answered 400 to deleting the version already deleted; the purge went on without error,
    # counting only the version it deleted, and no version of the key is left
    assert watched.answers("DeleteObject") == [400, 204]
    assert deleted == 1
    assert _versions_at(s3, versioned_bucket, QUARANTINED) == []


def test_an_object_deleted_during_its_scan_on_a_suspended_bucket_is_skipped_as_gone_not_failed(
    s3: BaseClient, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN a bucket whose versioning was suspended: deleting a key puts a delete marker in its place
    bucket = unique("moderation-suspended-bucket")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=GREEN))
    # AND the uploader deletes it while Imagga judges it, before its tags are read
    watched = Watched()
    watched.before("GetObjectTagging", lambda: s3.delete_object(Bucket=bucket, Key=KEY))

    # WHEN the function handles its event
    result = moderation.invoke(
        sqs_event(s3_notification(s3_record(bucket, KEY))), services=moderation.build(s3_client=watched.client)
    )

    # THEN S3 answered 405 (a delete marker has no tags); the object is skipped as gone, the
    # message succeeds, and nothing was tagged or quarantined
    assert watched.answers("GetObjectTagging") == [405]
    assert result.failed_message_ids == []
    assert [(line["key"], line["skip_reason"]) for line in result.logs if line.get("skip_reason")] == [(KEY, "gone")]
    assert watched.answers("PutObjectTagging") == []
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_an_unsafe_image_is_deleted_after_a_head_compare_where_a_conditional_delete_is_not_implemented(
    s3: BaseClient, bucket: str, moderation: Moderation
) -> None:
    # GIVEN an unsafe image in an unversioned bucket of a store that answers 501 to DeleteObject's IfMatch
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=RED))
    watched = Watched()

    # WHEN the function quarantines it
    result = moderation.invoke(
        s3_notification(s3_record(bucket, KEY)), services=moderation.build(s3_client=watched.client)
    )

    # THEN the conditional delete was refused (501), the fallback compared the ETag and deleted the
    # original, and said so in a WARNING
    assert result.error is None
    assert watched.answers("DeleteObject") == [501, 204]
    assert [line["level"] for line in result.logged(FALLBACK)] == ["WARNING"]
    assert s3.list_objects_v2(Bucket=bucket, Prefix="incoming/").get("KeyCount") == 0
    assert tags_of(s3, bucket, QUARANTINED)["moderation:status"] == "UNSAFE"


def test_the_head_compare_fallback_leaves_a_newer_upload_at_the_key(
    s3: BaseClient, bucket: str, moderation: Moderation
) -> None:
    # GIVEN an unsafe image in an unversioned bucket, and a safe upload to its key just before the delete
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=RED))
    watched = Watched()
    watched.before("DeleteObject", lambda: s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=GREEN)))

    # WHEN the function quarantines the unsafe image
    result = moderation.invoke(
        s3_notification(s3_record(bucket, KEY)), services=moderation.build(s3_client=watched.client)
    )

    # THEN the HEAD saw another ETag: the newer upload stays, and the unsafe bytes are in quarantine
    assert result.error is None
    assert watched.answers("DeleteObject") == [501]
    assert _body(s3, bucket, KEY) == jpeg_bytes(color=GREEN)
    assert len(result.logged("original not deleted: a newer object took its key (it has its own event)")) == 1
    assert tags_of(s3, bucket, QUARANTINED)["moderation:status"] == "UNSAFE"


def test_localstack_answers_as_aws_where_moto_does_not(s3: BaseClient, versioned_bucket: str) -> None:
    # GIVEN a version deleted for good, and a delete marker
    first = s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=b"one")["VersionId"]
    s3.delete_object(Bucket=versioned_bucket, Key=KEY, VersionId=first)
    s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=b"two")
    marker = s3.delete_object(Bucket=versioned_bucket, Key=KEY)["VersionId"]

    def status_of(call: Callable[[], object]) -> int:
        try:
            call()
        except ClientError as exc:
            return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
        return 200

    # WHEN / THEN deleting the deleted version answers 400 (moto: 204); tagging the delete marker 405
    assert status_of(lambda: s3.delete_object(Bucket=versioned_bucket, Key=KEY, VersionId=first)) == 400
    tagging = {"TagSet": [{"Key": "a", "Value": "b"}]}
    assert status_of(lambda: s3.put_object_tagging(Bucket=versioned_bucket, Key=KEY, Tagging=tagging)) == 405
    assert status_of(lambda: s3.head_object(Bucket=versioned_bucket, Key=KEY, VersionId=marker)) == 405
