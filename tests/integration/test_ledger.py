"""The decisions ledger on a (moto) DynamoDB table: every verdict, every human decision, newest first.

The table is built like the template's: partition key `id`, a `by-status` index (partition
`status`, sort `scanned_at`) projecting everything, TTL on `expires_at`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient

from moderator.approvals import DynamoDBApprovals
from moderator.ledger import DynamoDBLedger, decision_id, table_definition
from moderator.model import Action, ObjectRef, Outcome, Status
from moderator.review import REJECTED, purge, release
from moderator.storage import S3Storage
from tests.builders import jpeg_bytes, s3_notification, s3_record, sqs_event

from .fake_imagga import BLUE, GREEN, GREY, RED, FakeImagga, Reply
from .harness import Invocation, Moderation, tags_of

pytestmark = pytest.mark.integration

TABLE = "moderation-decisions"
REGION = "us-east-1"
UNSAFE = {"nsfw": 93.5, "underwear": 4.0, "safe": 2.5}
REVIEW = {"nsfw": 2.0, "underwear": 71.25, "safe": 26.75}
SAFE = {"nsfw": 0.3, "underwear": 0.5, "safe": 99.2}
REVIEWER = "arn:aws:iam::123456789012:user/reviewer-test"


def create_decisions_table(dynamodb: BaseClient, name: str = TABLE) -> str:
    dynamodb.create_table(**table_definition(name))
    return name


@pytest.fixture
def dynamodb(aws: None) -> BaseClient:
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def table(dynamodb: BaseClient) -> str:
    return create_decisions_table(dynamodb)


@pytest.fixture(autouse=True)
def answers(imagga: FakeImagga) -> None:
    imagga.answer_for_colour(RED, UNSAFE)
    imagga.answer_for_colour(BLUE, REVIEW)
    imagga.answer_for_colour(GREEN, SAFE)
    imagga.answer_for_colour(GREY, Reply.error(400, "The image could not be processed."))


def _record_of(dynamodb: BaseClient, bucket: str, key: str) -> dict[str, Any]:
    """The one decision item of an object (approvals live in the same table)."""
    items = dynamodb.scan(TableName=TABLE)["Items"]
    found = [
        item
        for item in items
        if item["kind"]["S"] == "decision" and item["object_key"]["S"] == key and item["bucket"]["S"] == bucket
    ]
    assert len(found) == 1, f"expected one ledger item for {key}, found {len(found)}"
    return found[0]


def _scores(item: dict[str, Any]) -> dict[str, float]:
    return {label: float(value["N"]) for label, value in item["scores"]["M"].items()}


@pytest.mark.parametrize(
    ("key", "body", "status", "scores", "location_key"),
    [
        ("in/safe.jpg", jpeg_bytes(color=GREEN), "SAFE", SAFE, "in/safe.jpg"),
        ("in/review.jpg", jpeg_bytes(color=BLUE), "REVIEW", REVIEW, "in/review.jpg"),
        ("in/unsafe.jpg", jpeg_bytes(color=RED), "UNSAFE", UNSAFE, "quarantine/in/unsafe.jpg"),
        ("in/notes.jpg", b"these are notes, not an image", "UNSUPPORTED", {}, "in/notes.jpg"),
        ("in/refused.jpg", jpeg_bytes(color=GREY), "ERROR", {}, "in/refused.jpg"),
    ],
    ids=["safe", "review", "unsafe", "unsupported", "error"],
)
def test_every_status_reaches_the_ledger_with_its_scores_and_where_the_object_is(
    s3: BaseClient,
    bucket: str,
    dynamodb: BaseClient,
    table: str,
    moderation: Moderation,
    key: str,
    body: bytes,
    status: str,
    scores: dict[str, float],
    location_key: str,
) -> None:
    # GIVEN a function with a decisions ledger, and an object uploaded
    moderation.configure(DECISIONS_TABLE=table)
    uploaded = s3.put_object(Bucket=bucket, Key=key, Body=body)

    # WHEN its notification is handled
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, key))))

    # THEN the ledger holds one decision with its status, scores, ETag and where the object is now
    assert result.failed_message_ids == []
    item = _record_of(dynamodb, bucket, key)
    assert item["status"]["S"] == status
    assert _scores(item) == pytest.approx(scores)
    assert item["etag"]["S"] == uploaded["ETag"].strip('"')
    assert (item["location_bucket"]["S"], item["location_key"]["S"]) == (bucket, location_key)
    scanned_at = item["scanned_at"]["S"]
    assert item["id"]["S"] == decision_id(bucket, key, scanned_at)
    # AND the same scanned-at as the object's tag, so a human decision finds this item
    assert tags_of(s3, bucket, location_key)["moderation:scanned-at"] == scanned_at


def test_a_decision_keeps_imaggas_raw_answer_and_expires_after_the_ttl(
    s3: BaseClient, bucket: str, dynamodb: BaseClient, table: str, moderation: Moderation
) -> None:
    # GIVEN a ledger kept for 30 days
    moderation.configure(DECISIONS_TABLE=table, DECISIONS_TTL_DAYS="30")
    s3.put_object(Bucket=bucket, Key="in/review.jpg", Body=jpeg_bytes(color=BLUE))
    before = int(time.time())

    # WHEN an image is moderated
    moderation.invoke(sqs_event(s3_notification(s3_record(bucket, "in/review.jpg"))))

    # THEN its item carries Imagga's answer as it came, the categorizer, and a TTL 30 days ahead
    item = _record_of(dynamodb, bucket, "in/review.jpg")
    raw = json.loads(item["imagga_response"]["S"])
    answered = {c["name"]["en"]: c["confidence"] for c in raw["result"]["categories"]}
    assert answered == pytest.approx(REVIEW)
    assert item["categorizer"]["S"] == "nsfw_beta"
    expires_at = int(item["expires_at"]["N"])
    assert before + 30 * 86_400 <= expires_at <= int(time.time()) + 30 * 86_400


def _assert_moderated_once_and_failure_reported(
    s3: BaseClient, bucket: str, imagga: FakeImagga, result: Invocation
) -> None:
    # the record succeeds: SQS will not deliver it again
    assert result.error is None
    assert result.failed_message_ids == []
    # the moderation happened: tagged and in quarantine, Imagga asked once
    assert tags_of(s3, bucket, "quarantine/in/unsafe.jpg")["moderation:status"] == "UNSAFE"
    assert s3.list_objects_v2(Bucket=bucket, Prefix="in/").get("KeyCount") == 0
    assert len(imagga.requests(path_prefix="/v2/categories")) == 1
    # the failed write is logged with the whole decision (enough to replay it), and counted
    (line,) = result.logged("ledger write failed")
    assert line["decision"]["status"] == "UNSAFE"
    assert line["decision"]["quarantine_key"] == "quarantine/in/unsafe.jpg"
    assert line["decision"]["scores"] == pytest.approx(UNSAFE)
    assert result.metrics["ErrorLedgerWriteFailed"] == 1


def test_a_missing_ledger_table_neither_loses_nor_reruns_the_moderation(
    s3: BaseClient, bucket: str, table: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN a function whose decisions table does not exist (approvals kept in a table that does)
    moderation.configure(DECISIONS_TABLE="no-such-table", APPROVALS_TABLE=table)
    s3.put_object(Bucket=bucket, Key="in/unsafe.jpg", Body=jpeg_bytes(color=RED))

    # WHEN an unsafe image's notification is handled
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, "in/unsafe.jpg"))))

    # THEN it is moderated once, the record succeeds, and the lost write is logged and counted
    _assert_moderated_once_and_failure_reported(s3, bucket, imagga, result)


def _refuse_writes(client: BaseClient, code: str) -> None:
    """Every PutItem answered with an AWS error, as a table whose writes are denied would answer."""

    def refuse(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        error = {"Error": {"Code": code, "Message": "refused by the test"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return AWSResponse("https://dynamodb.us-east-1.amazonaws.com/", 400, {}, None), error

    client.meta.events.register("before-call.dynamodb.PutItem", refuse)


def test_refused_ledger_writes_neither_lose_nor_rerun_the_moderation(
    s3: BaseClient, bucket: str, dynamodb: BaseClient, table: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN a function whose ledger table exists (approvals readable in it) but refuses every write
    moderation.configure(DECISIONS_TABLE=table)
    _refuse_writes(moderation.dynamodb, "AccessDeniedException")
    s3.put_object(Bucket=bucket, Key="in/unsafe.jpg", Body=jpeg_bytes(color=RED))

    # WHEN an unsafe image's notification is handled
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, "in/unsafe.jpg"))))

    # THEN it is moderated once, the record succeeds, and the lost write is logged and counted
    _assert_moderated_once_and_failure_reported(s3, bucket, imagga, result)
    assert dynamodb.scan(TableName=table)["Count"] == 0


def _outcome(key: str, status: Status, scanned_at: str) -> Outcome:
    return Outcome(
        ref=ObjectRef("photos", key),
        action=Action.TAGGED,
        status=status,
        scores={"nsfw": 1.0, "underwear": 60.0, "safe": 39.0},
        categorizer="nsfw_beta",
        etag="0123456789abcdef",
        scanned_at=scanned_at,
    )


def test_the_status_index_lists_one_status_newest_first_page_by_page(dynamodb: BaseClient, table: str) -> None:
    # GIVEN REVIEW decisions written out of order, and decisions of other statuses in between
    ledger = DynamoDBLedger(dynamodb, table)
    times = ["2026-03-01T10:00:00Z", "2026-03-03T08:30:00Z", "2026-03-02T23:59:59Z", "2026-03-04T00:00:01Z"]
    for number, scanned_at in enumerate(times):
        ledger.publish(_outcome(f"review-{number}.jpg", Status.REVIEW, scanned_at))
        ledger.publish(_outcome(f"safe-{number}.jpg", Status.SAFE, scanned_at))

    # WHEN the REVIEW decisions are read two at a time
    first, next_page = ledger.by_status("REVIEW", limit=2)
    assert next_page is not None
    second, _ = ledger.by_status("REVIEW", limit=2, start=next_page)

    # THEN they come newest first, across pages, and nothing of another status
    listed = [(item["object_key"], item["scanned_at"]) for item in [*first, *second]]
    assert listed == [
        ("review-3.jpg", "2026-03-04T00:00:01Z"),
        ("review-1.jpg", "2026-03-03T08:30:00Z"),
        ("review-2.jpg", "2026-03-02T23:59:59Z"),
        ("review-0.jpg", "2026-03-01T10:00:00Z"),
    ]
    assert first[0]["scores"] == {"nsfw": 1.0, "underwear": 60.0, "safe": 39.0}


def test_skipped_objects_are_not_written_to_the_ledger(dynamodb: BaseClient, table: str) -> None:
    # GIVEN a ledger
    ledger = DynamoDBLedger(dynamodb, table)

    # WHEN an outcome that moderated nothing (a quarantine key, skipped by the loop guard) is published
    ledger.publish(Outcome(ref=ObjectRef("photos", "quarantine/a.jpg"), action=Action.SKIPPED))

    # THEN the table stays empty
    assert dynamodb.scan(TableName=table)["Count"] == 0


def test_releasing_and_purging_record_the_human_decision_on_the_scan_that_quarantined_it(
    s3: BaseClient, bucket: str, dynamodb: BaseClient, table: str, moderation: Moderation
) -> None:
    # GIVEN two unsafe images the function quarantined, with a ledger
    moderation.configure(DECISIONS_TABLE=table)
    for key in ("in/keep.jpg", "in/drop.jpg"):
        s3.put_object(Bucket=bucket, Key=key, Body=jpeg_bytes(color=RED))
    moderation.invoke(sqs_event(s3_notification(s3_record(bucket, "in/keep.jpg"), s3_record(bucket, "in/drop.jpg"))))
    ledger = DynamoDBLedger(dynamodb, table)
    storage = S3Storage(s3)  # type: ignore[arg-type]

    # WHEN a human releases one and purges the other (the code behind the CLI and the review page)
    release(
        storage,
        DynamoDBApprovals(dynamodb, table),  # type: ignore[arg-type]
        ObjectRef(bucket, "quarantine/in/keep.jpg"),
        quarantine_prefix="quarantine/",
        to_bucket=None,
        reviewer=REVIEWER,
        now="2026-03-05T12:00:00Z",
        ledger=ledger,
    )
    purge(
        storage,
        ObjectRef(bucket, "quarantine/in/drop.jpg"),
        quarantine_prefix="quarantine/",
        reviewer=REVIEWER,
        now="2026-03-05T12:01:00Z",
        ledger=ledger,
    )

    # THEN each scan's item says what was decided, by whom, when, and where the object is now
    kept = _record_of(dynamodb, bucket, "in/keep.jpg")
    assert (kept["status"]["S"], kept["decided_by"]["S"], kept["decided_at"]["S"]) == (
        "APPROVED",
        REVIEWER,
        "2026-03-05T12:00:00Z",
    )
    assert kept["location_key"]["S"] == "in/keep.jpg"
    assert _scores(kept) == pytest.approx(UNSAFE)
    dropped = _record_of(dynamodb, bucket, "in/drop.jpg")
    assert (dropped["status"]["S"], dropped["decided_by"]["S"], dropped["location_key"]["S"]) == (
        REJECTED,
        REVIEWER,
        "deleted",
    )
    # AND neither is listed as UNSAFE any more
    assert ledger.by_status("UNSAFE")[0] == []
