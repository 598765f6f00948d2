"""The ledger's side of the review page: what each decision item keeps for the overview, and the queries.

On moto's DynamoDB (the ledger touches no S3), with the table `ledger.table_definition` creates,
the template's DecisionsTable (tests/template checks they are the same).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from moderator.ledger import DISMISSED, DynamoDBLedger, table_definition
from moderator.model import Action, ObjectRef, Outcome, Status

pytestmark = pytest.mark.integration

TABLE = "decisions"
REVIEWER = "arn:aws:iam::123456789012:user/reviewer-test"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**table_definition(TABLE))
        yield client


@pytest.fixture
def ledger(dynamodb: Any) -> DynamoDBLedger:
    return DynamoDBLedger(dynamodb, TABLE)


def _outcome(key: str, status: Status, scanned_at: str, *, calls: int = 1, remaining: int | None = 900) -> Outcome:
    return Outcome(
        ref=ObjectRef("photos", key, "v1", "etag"),
        action=Action.QUARANTINED if status is Status.UNSAFE else Action.TAGGED,
        status=status,
        scores={"nsfw": 50.0},
        categorizer="nsfw_beta",
        scanned_at=scanned_at,
        quarantine_bucket="photos",
        quarantine_key=f"quarantine/{key}",
        imagga_attempts=calls,
        monthly_limit_remaining=remaining,
        imagga_response={"result": {"categories": []}},
        sha256="a" * 64,
    )


def test_each_scan_keeps_its_verdict_day_calls_and_remaining_for_the_overview(
    ledger: DynamoDBLedger, dynamodb: Any
) -> None:
    # GIVEN three scans on two days, one retried by Imagga (two requests), one that sent nothing
    ledger.publish(_outcome("a.jpg", Status.UNSAFE, "2026-03-01T23:59:59.999Z", calls=2, remaining=880))
    ledger.publish(_outcome("b.jpg", Status.REVIEW, "2026-03-01T08:00:00.000Z", remaining=890))
    ledger.publish(_outcome("c.txt", Status.UNSUPPORTED, "2026-03-02T00:00:00.000Z", calls=0, remaining=None))
    # AND a human then approves the REVIEW one (its status changes)
    ledger.record_review(
        bucket="photos", key="b.jpg", scanned_at="2026-03-01T08:00:00.000Z", decision="APPROVED",
        reviewer=REVIEWER, when="2026-03-01T09:00:00Z", location="b.jpg",
    )  # fmt: skip

    # WHEN the overview reads each day from the day index
    first, second = ledger.day("2026-03-01"), ledger.day("2026-03-02")

    # THEN each day holds its own scans, with the function's verdict (not the human's), calls and remaining
    assert sorted((i["verdict"], i["imagga_calls"], i.get("monthly_limit_remaining")) for i in first) == [
        ("REVIEW", 1.0, 890.0),
        ("UNSAFE", 2.0, 880.0),
    ]
    assert [(i["verdict"], i["imagga_calls"], i.get("monthly_limit_remaining")) for i in second] == [
        ("UNSUPPORTED", 0.0, None)
    ]
    # AND the index gives only those small attributes, never Imagga's raw answer or the scores
    assert {name for item in first for name in item} <= {
        "id", "scanned_day", "scanned_at", "verdict", "imagga_calls", "monthly_limit_remaining",
    }  # fmt: skip
    (approved,) = [i for i in dynamodb.scan(TableName=TABLE)["Items"] if i["object_key"]["S"] == "b.jpg"]
    assert (approved["status"]["S"], approved["verdict"]["S"]) == ("APPROVED", "REVIEW")


def test_a_dismissal_marks_only_a_scan_that_still_waits_and_deletes_nothing(
    ledger: DynamoDBLedger, dynamodb: Any
) -> None:
    # GIVEN two REVIEW scans, one of which a moderator already approved
    ledger.publish(_outcome("gone.jpg", Status.REVIEW, "2026-03-01T08:00:00.000Z"))
    ledger.publish(_outcome("decided.jpg", Status.REVIEW, "2026-03-01T09:00:00.000Z"))
    ledger.record_review(
        bucket="photos", key="decided.jpg", scanned_at="2026-03-01T09:00:00.000Z", decision="APPROVED",
        reviewer="someone-else", when="2026-03-01T10:00:00Z", location="decided.jpg",
    )  # fmt: skip

    # WHEN both are dismissed
    dismissed = ledger.record_dismissal(
        bucket="photos", key="gone.jpg", scanned_at="2026-03-01T08:00:00.000Z",
        reviewer=REVIEWER, when="2026-03-02T10:00:00Z", why="object-gone",
    )  # fmt: skip
    not_waiting = ledger.record_dismissal(
        bucket="photos", key="decided.jpg", scanned_at="2026-03-01T09:00:00.000Z",
        reviewer=REVIEWER, when="2026-03-02T10:00:00Z", why="object-gone",
    )  # fmt: skip

    # THEN the waiting one is DISMISSED with who, when and why, its verdict kept; the decided one is untouched
    assert (dismissed, not_waiting) == (True, False)
    items = {i["object_key"]["S"]: i for i in dynamodb.scan(TableName=TABLE)["Items"]}
    gone, decided = items["gone.jpg"], items["decided.jpg"]
    assert (gone["status"]["S"], gone["decided_by"]["S"], gone["dismissed_because"]["S"]) == (
        DISMISSED,
        REVIEWER,
        "object-gone",
    )
    assert gone["verdict"]["S"] == "REVIEW"
    assert (decided["status"]["S"], decided["decided_by"]["S"]) == ("APPROVED", "someone-else")
    # AND both items are still there, and no longer counted as waiting
    assert len(items) == 2
    assert ledger.count_status("REVIEW") == 0


def test_a_status_lists_newest_first_within_dates_and_a_key_prefix_without_imaggas_answer(
    ledger: DynamoDBLedger,
) -> None:
    # GIVEN REVIEW scans of two folders over three days
    for key, at in [
        ("cats/1.jpg", "2026-03-01T10:00:00.000Z"),
        ("dogs/1.jpg", "2026-03-02T10:00:00.000Z"),
        ("cats/2.jpg", "2026-03-02T11:00:00.000Z"),
        ("cats/3.jpg", "2026-03-03T10:00:00.000Z"),
    ]:
        ledger.publish(_outcome(key, Status.REVIEW, at))

    # WHEN the cats of March 2nd onwards are asked for, then everything up to the end of March 2nd
    cats = ledger.status_items("REVIEW", since="2026-03-02T00:00:00", key_prefix="cats/")
    early = ledger.status_items("REVIEW", until="2026-03-02T23:59:59.999Z")

    # THEN each list is newest first, within its bounds, and carries no raw Imagga answer
    assert [i["object_key"] for i in cats] == ["cats/3.jpg", "cats/2.jpg"]
    assert [i["object_key"] for i in early] == ["cats/2.jpg", "dogs/1.jpg", "cats/1.jpg"]
    assert all("imagga_response" not in item and item["sha256"] == "a" * 64 for item in cats + early)
    assert ledger.count_status("REVIEW") == 4


def test_many_scans_are_read_by_id_in_batches(ledger: DynamoDBLedger) -> None:
    # GIVEN 150 scans (more than one BatchGetItem takes)
    scans = [("photos", f"k/{n:03}.jpg", f"2026-03-01T10:{n // 60:02}:{n % 60:02}.000Z") for n in range(150)]
    for _, key, at in scans:
        ledger.publish(_outcome(key, Status.UNSAFE, at))

    # WHEN they are asked for by bucket, key and scanned-at, with one that does not exist
    found = ledger.decisions([*scans, ("photos", "missing.jpg", "2026-03-01T10:00:00.000Z")])

    # THEN every known one is found, the unknown one is absent
    assert len(found) == 150
    assert {item["object_key"] for item in found.values()} == {key for _, key, _ in scans}
