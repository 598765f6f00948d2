"""A human's decision acts on the object the human saw, never on whatever sits at the key now.

The function moderates real uploads on moto (REVIEW left in place, UNSAFE quarantined) and
records them in the decisions ledger; the review page's service lists them and acts on the
listed item, as a moderator's click does. Then someone uploads other bytes at the same key,
and the decision must touch only the reviewed version, or refuse and change nothing.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient

from moderator.approvals import Approval, DynamoDBApprovals, item_id
from moderator.errors import StorageAccessError
from moderator.ledger import DynamoDBLedger, table_definition
from moderator.model import ObjectRef
from moderator.review import OriginalKeyTakenError, StaleReviewError, release
from moderator.settings import Settings
from moderator.storage import S3Storage
from moderator.web.service import Item, ReviewService, Target
from tests.builders import jpeg_bytes, s3_notification, s3_record, sqs_event

from .fake_imagga import BLUE, RED, FakeImagga
from .harness import Moderation, tags_of

pytestmark = pytest.mark.integration

TABLE = "moderation-decisions"
REVIEWER = "arn:aws:iam::123456789012:user/reviewer-test"
NOW = "2026-03-05T12:00:00Z"
REVIEW = {"nsfw": 2.0, "underwear": 71.25, "safe": 26.75}
UNSAFE = {"nsfw": 93.5, "underwear": 4.0, "safe": 2.5}
KEY = "in/beach.jpg"


@pytest.fixture
def dynamodb(aws: None) -> BaseClient:
    return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def table(dynamodb: BaseClient) -> str:
    dynamodb.create_table(**table_definition(TABLE))
    return TABLE


@pytest.fixture(autouse=True)
def answers(imagga: FakeImagga) -> None:
    imagga.answer_for_colour(BLUE, REVIEW)
    imagga.answer_for_colour(RED, UNSAFE)


@pytest.fixture
def moderation_with_ledger(moderation: Moderation, table: str) -> Moderation:
    moderation.configure(DECISIONS_TABLE=table)
    return moderation


def upload_and_moderate(
    moderation: Moderation, bucket: str, key: str, body: bytes, scanned_at: str = "2026-03-01T10:00:00Z"
) -> str | None:
    """Upload, let the function moderate that upload; the version id (None on an unversioned bucket)."""
    version = moderation.s3.put_object(Bucket=bucket, Key=key, Body=body).get("VersionId")
    moderation.services.moderator.clock = lambda: scanned_at
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, key, version_id=version))))
    assert result.failed_message_ids == [], result.log_lines
    return version


def service(s3: BaseClient, dynamodb: BaseClient, bucket: str, table: str) -> ReviewService:
    env = {"DECISIONS_TABLE": table}
    return ReviewService(
        storage=S3Storage(s3),  # type: ignore[arg-type]
        s3=s3,
        settings=lambda: Settings.from_env(env, require_credentials=False),
        categorizer=lambda: pytest.fail("no Imagga call on a decision"),
        reviewer=lambda: REVIEWER,
        clock=lambda: NOW,
        dynamodb=lambda: dynamodb,
        bucket=bucket,
    )


def target(item: Item) -> Target:
    """What the page's form posts for a listed item."""
    return Target(item.bucket, item.key, item.version_id, item.etag, item.sha256)


def approvals_in(dynamodb: BaseClient, table: str) -> list[dict[str, Any]]:
    return [i for i in dynamodb.scan(TableName=table)["Items"] if i["kind"]["S"] == "approval"]


def versions(s3: BaseClient, bucket: str, key: str) -> list[str]:
    response = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return [str(v["VersionId"]) for v in response.get("Versions", []) if v["Key"] == key]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- approve and reject in place ------------------------------------------------------------------


def test_approving_a_listed_review_item_approves_only_the_version_the_moderator_saw(
    s3: BaseClient, versioned_bucket: str, dynamodb: BaseClient, table: str, moderation_with_ledger: Moderation
) -> None:
    # GIVEN a REVIEW image left in place and listed on Needs review
    doubtful = jpeg_bytes(color=BLUE)
    seen_version = upload_and_moderate(moderation_with_ledger, versioned_bucket, KEY, doubtful)
    review = service(s3, dynamodb, versioned_bucket, table)
    (item,) = review.needs_review(None).items
    # AND then an unsafe image uploaded at the same key (its own event not handled yet)
    unsafe = jpeg_bytes(color=RED)
    newer_version = s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=unsafe)["VersionId"]

    # WHEN the moderator approves the item they saw
    review.approve(target(item))

    # THEN the version they saw is APPROVED, the newer upload is untouched, and only the seen bytes are approved
    assert (item.version_id, item.sha256) == (seen_version, sha(doubtful))
    assert tags_of(s3, versioned_bucket, KEY, seen_version)["moderation:status"] == "APPROVED"
    assert tags_of(s3, versioned_bucket, KEY, newer_version) == {}
    assert [a["sha256"]["S"] for a in approvals_in(dynamodb, table)] == [sha(doubtful)]
    # AND when the newer upload's event arrives, the function quarantines it as any unsafe image
    result = moderation_with_ledger.invoke(
        sqs_event(s3_notification(s3_record(versioned_bucket, KEY, version_id=newer_version)))
    )
    assert result.failed_message_ids == []
    assert versions(s3, versioned_bucket, KEY) == [seen_version]
    assert tags_of(s3, versioned_bucket, f"quarantine/{KEY}")["moderation:status"] == "UNSAFE"


def test_on_an_unversioned_bucket_approve_refuses_an_overwritten_object_and_changes_nothing(
    s3: BaseClient, bucket: str, dynamodb: BaseClient, table: str, moderation_with_ledger: Moderation
) -> None:
    # GIVEN a listed REVIEW image, then other bytes uploaded at its key (no version tells them apart)
    upload_and_moderate(moderation_with_ledger, bucket, KEY, jpeg_bytes(color=BLUE))
    review = service(s3, dynamodb, bucket, table)
    (item,) = review.needs_review(None).items
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=RED))

    # WHEN the moderator approves the listed item / THEN it is refused, saying why
    with pytest.raises(StaleReviewError, match="not the object you reviewed"):
        review.approve(target(item))

    # AND the newcomer carries no approval, in its tags or in the table
    assert tags_of(s3, bucket, KEY) == {}
    assert approvals_in(dynamodb, table) == []


def test_rejecting_a_listed_review_item_deletes_only_that_version(
    s3: BaseClient, versioned_bucket: str, dynamodb: BaseClient, table: str, moderation_with_ledger: Moderation
) -> None:
    # GIVEN a listed REVIEW image, and someone else's upload at the same key since
    seen_version = upload_and_moderate(moderation_with_ledger, versioned_bucket, KEY, jpeg_bytes(color=BLUE))
    review = service(s3, dynamodb, versioned_bucket, table)
    (item,) = review.needs_review(None).items
    other = jpeg_bytes(color=RED, width=80)
    other_version = s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=other)["VersionId"]

    # WHEN the moderator rejects the listed item
    review.reject(target(item))

    # THEN only the version they saw is gone; the other upload stays, and the scan is recorded REJECTED
    assert versions(s3, versioned_bucket, KEY) == [other_version]
    assert s3.get_object(Bucket=versioned_bucket, Key=KEY)["Body"].read() == other
    assert seen_version not in versions(s3, versioned_bucket, KEY)
    (decision,) = [i for i in dynamodb.scan(TableName=table)["Items"] if i["kind"]["S"] == "decision"]
    assert decision["status"]["S"] == "REJECTED"


def test_on_an_unversioned_bucket_reject_of_an_overwritten_object_deletes_nothing(
    s3: BaseClient, bucket: str, dynamodb: BaseClient, table: str, moderation_with_ledger: Moderation
) -> None:
    # GIVEN a listed REVIEW image overwritten since
    upload_and_moderate(moderation_with_ledger, bucket, KEY, jpeg_bytes(color=BLUE))
    review = service(s3, dynamodb, bucket, table)
    (item,) = review.needs_review(None).items
    newer = jpeg_bytes(color=RED)
    s3.put_object(Bucket=bucket, Key=KEY, Body=newer)

    # WHEN the moderator rejects the listed item / THEN it is refused and the newer object stays
    with pytest.raises(StaleReviewError):
        review.reject(target(item))
    assert s3.get_object(Bucket=bucket, Key=KEY)["Body"].read() == newer


# --- quarantine: one version at a time ------------------------------------------------------------


def test_two_uploads_quarantined_at_one_key_are_listed_and_released_one_version_at_a_time(
    s3: BaseClient, versioned_bucket: str, dynamodb: BaseClient, table: str, moderation_with_ledger: Moderation
) -> None:
    # GIVEN two different unsafe uploads at one key, both quarantined
    first, second = jpeg_bytes(color=RED), jpeg_bytes(color=RED, width=90)
    upload_and_moderate(moderation_with_ledger, versioned_bucket, KEY, first, "2026-03-01T10:00:00Z")
    upload_and_moderate(moderation_with_ledger, versioned_bucket, KEY, second, "2026-03-01T11:00:00Z")
    review = service(s3, dynamodb, versioned_bucket, table)

    # WHEN the quarantine page lists them
    items = review.quarantine(None).items

    # THEN each version is an item of its own, with the SHA-256 the ledger holds for its scan
    assert sorted((i.scanned_at, i.sha256) for i in items) == [
        ("2026-03-01T10:00:00Z", sha(first)),
        ("2026-03-01T11:00:00Z", sha(second)),
    ]
    # WHEN the moderator approves the first one
    (chosen,) = [i for i in items if i.sha256 == sha(first)]
    review.approve(target(chosen))

    # THEN those bytes are back at the key, APPROVED, and the other upload is still in quarantine
    assert s3.get_object(Bucket=versioned_bucket, Key=KEY)["Body"].read() == first
    assert tags_of(s3, versioned_bucket, KEY)["moderation:status"] == "APPROVED"
    (left,) = versions(s3, versioned_bucket, f"quarantine/{KEY}")
    assert s3.get_object(Bucket=versioned_bucket, Key=f"quarantine/{KEY}", VersionId=left)["Body"].read() == second


@pytest.mark.parametrize(
    ("versioned", "refusal"),
    [(True, "is not the version the scan of .* left there"), (False, "does not hold the bytes that were moderated")],
    ids=["versioned", "unversioned"],
)
def test_release_refuses_a_quarantined_object_whose_bytes_are_not_the_ones_judged(
    s3: BaseClient,
    bucket: str,
    versioned_bucket: str,
    dynamodb: BaseClient,
    table: str,
    moderation_with_ledger: Moderation,
    versioned: bool,
    refusal: str,
) -> None:
    # GIVEN a quarantined image, and other bytes put at its quarantine key carrying the same verdict tags
    # (where fail-closed is off, anyone who may write the bucket can do this)
    where = versioned_bucket if versioned else bucket
    upload_and_moderate(moderation_with_ledger, where, KEY, jpeg_bytes(color=RED))
    quarantined = f"quarantine/{KEY}"
    forged = "&".join(f"{k}={v}" for k, v in tags_of(s3, where, quarantined).items())
    planted = jpeg_bytes(color=BLUE)
    s3.put_object(Bucket=where, Key=quarantined, Body=planted, Tagging=forged)
    approvals = DynamoDBApprovals(dynamodb, table)  # type: ignore[arg-type]

    # WHEN an operator releases the key without naming a version (the CLI's default: the current one)
    with pytest.raises(StaleReviewError, match=refusal):
        release(
            S3Storage(s3),  # type: ignore[arg-type]
            approvals,
            ObjectRef(where, quarantined),
            quarantine_prefix="quarantine/",
            to_bucket=None,
            reviewer=REVIEWER,
            now=NOW,
            ledger=DynamoDBLedger(dynamodb, table),  # type: ignore[arg-type]
        )

    # THEN nothing moved and nothing was approved
    assert versions(s3, where, KEY) == []
    assert s3.get_object(Bucket=where, Key=quarantined)["Body"].read() == planted
    assert approvals_in(dynamodb, table) == []


# --- approvals: expiry and clean-up ---------------------------------------------------------------


def test_an_approval_past_its_ttl_no_longer_lets_the_bytes_skip_moderation(
    s3: BaseClient, bucket: str, dynamodb: BaseClient, table: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an unsafe image approved 31 days ago at its key, with approvals lasting 30 days
    unsafe = jpeg_bytes(color=RED)
    approvals = DynamoDBApprovals(dynamodb, table, ttl_days=30)  # type: ignore[arg-type]
    approvals.record(Approval(bucket, KEY, sha(unsafe), REVIEWER, "2026-01-01T00:00:00Z"))
    item = dynamodb.get_item(TableName=table, Key={"id": {"S": item_id(bucket, KEY, sha(unsafe))}})["Item"]
    moderation.configure(DECISIONS_TABLE=table, APPROVAL_TTL_DAYS="30")

    # WHEN the same bytes are uploaded at that key
    s3.put_object(Bucket=bucket, Key=KEY, Body=unsafe)
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, KEY))))

    # THEN the approval is not honoured (DynamoDB's TTL may not have removed it yet): Imagga judged it, quarantined
    assert result.failed_message_ids == []
    assert item["expires_at"]["N"] == str(1767225600 + 30 * 86_400)
    assert len(imagga.requests("POST", "/v2/categories/")) == 1
    assert tags_of(s3, bucket, f"quarantine/{KEY}")["moderation:status"] == "UNSAFE"


def test_an_approval_within_its_ttl_still_lets_the_same_bytes_through(dynamodb: BaseClient, table: str) -> None:
    # GIVEN an approval of yesterday and a 30-day TTL, and one written before approvals had a TTL
    approved_at, now = "2026-03-04T12:00:00Z", datetime(2026, 3, 5, tzinfo=UTC).timestamp()
    approvals = DynamoDBApprovals(dynamodb, table, ttl_days=30, clock=lambda: now)  # type: ignore[arg-type]
    approvals.record(Approval("b", KEY, "a" * 64, REVIEWER, approved_at))
    dynamodb.put_item(
        TableName=table,
        Item={
            "id": {"S": item_id("b", KEY, "b" * 64)},
            "kind": {"S": "approval"},
            "approved_by": {"S": REVIEWER},
            "approved_at": {"S": "2025-06-01T00:00:00Z"},
        },
    )

    # WHEN each is looked up / THEN the recent one counts, the old one without an expiry does not
    assert approvals.find("b", KEY, "a" * 64) is not None
    assert approvals.find("b", KEY, "b" * 64) is None


def test_purging_a_quarantined_version_revokes_the_approval_of_its_bytes(
    s3: BaseClient, versioned_bucket: str, dynamodb: BaseClient, table: str, moderation_with_ledger: Moderation
) -> None:
    # GIVEN a quarantined image whose bytes carry an approval (say, left by an earlier decision)
    unsafe = jpeg_bytes(color=RED)
    upload_and_moderate(moderation_with_ledger, versioned_bucket, KEY, unsafe)
    DynamoDBApprovals(dynamodb, table).record(Approval(versioned_bucket, KEY, sha(unsafe), REVIEWER, NOW))  # type: ignore[arg-type]
    review = service(s3, dynamodb, versioned_bucket, table)
    (item,) = review.quarantine(None).items

    # WHEN the moderator rejects it
    review.reject(target(item))

    # THEN the bytes are gone and so is the approval: the same bytes uploaded again are judged again
    assert versions(s3, versioned_bucket, f"quarantine/{KEY}") == []
    assert approvals_in(dynamodb, table) == []


def test_a_release_whose_copy_is_refused_leaves_no_approval(
    s3: BaseClient, versioned_bucket: str, dynamodb: BaseClient, table: str, moderation_with_ledger: Moderation
) -> None:
    # GIVEN a quarantined image, and S3 refusing the copy back (IfNoneMatch: an upload took the key meanwhile)
    upload_and_moderate(moderation_with_ledger, versioned_bucket, KEY, jpeg_bytes(color=RED))
    review = service(s3, dynamodb, versioned_bucket, table)
    (item,) = review.quarantine(None).items
    _answer_with_error(s3, "CopyObject", "PreconditionFailed", 412)

    # WHEN the moderator approves it / THEN the release is refused
    with pytest.raises(OriginalKeyTakenError):
        review.approve(target(item))

    # AND the approval written before the copy is gone again; the image is still in quarantine
    assert approvals_in(dynamodb, table) == []
    assert len(versions(s3, versioned_bucket, f"quarantine/{KEY}")) == 1


def test_a_release_failing_after_its_copy_is_undone(
    s3: BaseClient, versioned_bucket: str, dynamodb: BaseClient, table: str, moderation_with_ledger: Moderation
) -> None:
    # GIVEN a quarantined image, and S3 refusing to tag the released copy APPROVED
    upload_and_moderate(moderation_with_ledger, versioned_bucket, KEY, jpeg_bytes(color=RED))
    review = service(s3, dynamodb, versioned_bucket, table)
    (item,) = review.quarantine(None).items
    _answer_with_error(s3, "PutObjectTagging", "AccessDenied", 403)

    # WHEN the moderator approves it / THEN it fails
    with pytest.raises(StorageAccessError, match="denied"):
        review.approve(target(item))

    # AND nothing of the release is left: no copy at the original key, no approval, the image still quarantined
    assert versions(s3, versioned_bucket, KEY) == []
    assert approvals_in(dynamodb, table) == []
    assert len(versions(s3, versioned_bucket, f"quarantine/{KEY}")) == 1


def _answer_with_error(client: BaseClient, operation: str, code: str, status: int) -> None:
    """S3 answers this operation with an error, before the request is sent (moto ignores some conditions)."""

    def refuse(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error = {"Error": {"Code": code, "Message": "refused by the test"}}
        error["ResponseMetadata"] = {"HTTPStatusCode": status}
        return AWSResponse("https://s3.amazonaws.com/", status, {}, None), error

    client.meta.events.register(f"before-call.s3.{operation}", refuse)
