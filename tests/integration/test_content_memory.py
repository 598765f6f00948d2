"""The content memory in the decisions table, through the real handler, the review actions and DynamoDB.

Imagga's scores reused for the same bytes in another bucket (the ledger and the event say from
when); their expiry; a purge and a reject in place remembered, so the same bytes, or a near-copy,
come back quarantined with no Imagga call; an unreadable memory moderating as if new; one request
per look-up however many images were rejected.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient
from infra.bench.corpus import SAMPLES, crop, encoded, generated, source_images

from moderator.content_memory import FrameScores, RememberedScores, rejection_of
from moderator.fingerprint import PARTS, parts
from moderator.ledger import DynamoDBLedger, table_definition
from moderator.memory import DynamoDBContentMemory, near_index_id, rejected_id
from moderator.model import ObjectRef
from moderator.notifications import DETAIL_TYPE, EVENT_SOURCE
from moderator.review import purge, reject_in_place
from moderator.settings import Settings
from moderator.storage import S3Storage
from tests.builders import s3_notification, s3_record, sqs_event

from .fake_imagga import FakeImagga
from .harness import Invocation, Moderation, Subscriber, tags_of

pytestmark = pytest.mark.integration

REGION = "us-east-1"
TABLE = "moderation-decisions"
BUS = "moderation-events"
REVIEWER = "arn:aws:iam::123456789012:user/reviewer-test"
SAFE = {"safe": 88.0, "nsfw": 12.0, "underwear": 0.0}
REVIEW = {"safe": 30.0, "nsfw": 2.0, "underwear": 68.0}
COFFEE = (SAMPLES / "coffee.jpg").read_bytes()
COFFEE_SHA = hashlib.sha256(COFFEE).hexdigest()


@pytest.fixture
def dynamodb(aws: None) -> BaseClient:
    return boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def table(dynamodb: BaseClient) -> str:
    dynamodb.create_table(**table_definition(TABLE))
    return TABLE


@pytest.fixture
def other_bucket(s3: BaseClient, versioned_bucket: str) -> str:
    name = f"{versioned_bucket}-other"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def events(aws: None) -> Subscriber:
    """A rule on the function's bus delivering every "Image Moderated" event to a queue."""
    sqs = boto3.client("sqs", region_name=REGION)
    bus = boto3.client("events", region_name=REGION)
    bus.create_event_bus(Name=BUS)
    subscriber = Subscriber(sqs, "memory-events")
    pattern = json.dumps({"source": [EVENT_SOURCE], "detail-type": [DETAIL_TYPE]})
    bus.put_rule(Name="image-moderated", EventBusName=BUS, EventPattern=pattern)
    bus.put_targets(Rule="image-moderated", EventBusName=BUS, Targets=[{"Id": "q", "Arn": subscriber.arn}])
    return subscriber


def moderate(moderation: Moderation, s3: BaseClient, bucket: str, key: str, data: bytes) -> Invocation:
    version = s3.put_object(Bucket=bucket, Key=key, Body=data)["VersionId"]
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, key, version_id=version))))
    assert result.failed_message_ids == [], result.log_lines
    return result


def decisions(dynamodb: BaseClient, bucket: str, key: str) -> list[dict[str, Any]]:
    items = dynamodb.scan(TableName=TABLE)["Items"]
    return [
        item
        for item in items
        if item["kind"]["S"] == "decision" and (item["bucket"]["S"], item["object_key"]["S"]) == (bucket, key)
    ]


def categorizations(imagga: FakeImagga) -> int:
    return len(imagga.requests("POST", "/v2/categories/"))


def test_the_same_bytes_in_another_bucket_cost_no_call_and_the_ledger_and_the_event_say_from_when(
    s3: BaseClient,
    versioned_bucket: str,
    other_bucket: str,
    table: str,
    dynamodb: BaseClient,
    imagga: FakeImagga,
    moderation: Moderation,
    events: Subscriber,
) -> None:
    # GIVEN a photo moderated once in one bucket
    imagga.answer(SAFE)
    moderation.configure(DECISIONS_TABLE=table, EVENT_BUS_NAME=BUS)
    moderate(moderation, s3, versioned_bucket, "incoming/coffee.jpg", COFFEE)
    (first,) = decisions(dynamodb, versioned_bucket, "incoming/coffee.jpg")

    # WHEN the same bytes are uploaded to another bucket under another key
    second = moderate(moderation, s3, other_bucket, "incoming/uploads/same.jpg", COFFEE)

    # THEN Imagga was asked once; the copy has its own tags and ledger entry with the remembered scores,
    # which say when they were obtained: at the first upload's scan
    assert categorizations(imagga) == 1
    tags = tags_of(s3, other_bucket, "incoming/uploads/same.jpg")
    assert (tags["moderation:status"], tags["moderation:nsfw"]) == ("SAFE", "12.00")
    (entry,) = decisions(dynamodb, other_bucket, "incoming/uploads/same.jpg")
    assert entry["reused_from"]["S"] == first["scanned_at"]["S"]
    assert entry["scanned_at"]["S"] != first["scanned_at"]["S"]
    assert "reused_from" not in first
    assert second.metrics.get("ScoresReused") == 1 and "ImaggaCalls" not in second.metrics
    (logged,) = second.logged("object moderated")
    assert logged["reused_from"] == first["scanned_at"]["S"] and logged["imagga_attempts"] == 0
    # AND the event says so too
    details = [body["detail"] for body in events.bodies(expect=2)]
    assert [d["reusedFrom"] for d in details] == [None, first["scanned_at"]["S"]]
    assert [d["matched"] for d in details] == [None, None]


def test_scores_older_than_verdict_memory_days_are_asked_for_again(
    s3: BaseClient, versioned_bucket: str, table: str, dynamodb: BaseClient, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN scores for the photo obtained 3 days ago, kept for a month (the setting when they were written)
    imagga.answer(SAFE)
    obtained_at = (datetime.now(UTC) - timedelta(days=3)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    old = RememberedScores(COFFEE_SHA, "nsfw_beta", "p1-s600", obtained_at, (FrameScores(0, SAFE),), 1)
    DynamoDBContentMemory(dynamodb, table, scores_days=30).remember_scores(old)
    assert DynamoDBContentMemory(dynamodb, table, scores_days=30).recall(COFFEE_SHA, old.key).scores == old
    # AND VERDICT_MEMORY_DAYS=2 now
    moderation.configure(DECISIONS_TABLE=table, VERDICT_MEMORY_DAYS="2")

    # WHEN the bytes are uploaded
    result = moderate(moderation, s3, versioned_bucket, "incoming/coffee.jpg", COFFEE)

    # THEN Imagga is asked (the old scores are past the days in force now) and the new scores are kept
    assert categorizations(imagga) == 1
    assert "reused_from" not in result.logged("object moderated")[0]
    item = dynamodb.get_item(TableName=table, Key={"id": {"S": f"scores#{old.key}"}})["Item"]
    assert item["obtained_at"]["S"] > obtained_at
    assert int(item["expires_at"]["N"]) == pytest.approx(time.time() + 2 * 86_400, abs=120)


def test_content_memory_off_asks_imagga_every_time_and_keeps_nothing(
    s3: BaseClient, versioned_bucket: str, table: str, dynamodb: BaseClient, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN CONTENT_MEMORY=off
    moderation.configure(DECISIONS_TABLE=table, CONTENT_MEMORY="off")

    # WHEN the same bytes are uploaded twice
    moderate(moderation, s3, versioned_bucket, "incoming/one.jpg", COFFEE)
    moderate(moderation, s3, versioned_bucket, "incoming/two.jpg", COFFEE)

    # THEN each costs a call and the table holds only the two decisions
    assert categorizations(imagga) == 2
    assert sorted(item["kind"]["S"] for item in dynamodb.scan(TableName=table)["Items"]) == ["decision", "decision"]


def test_a_purged_image_comes_back_under_a_new_name_quarantined_without_a_call(
    s3: BaseClient, versioned_bucket: str, table: str, dynamodb: BaseClient, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an image the function quarantined (REVIEW is quarantined here) and a human purged
    imagga.answer(REVIEW)
    moderation.configure(DECISIONS_TABLE=table, QUARANTINE_STATUSES="REVIEW,UNSAFE")
    moderate(moderation, s3, versioned_bucket, "incoming/first.jpg", COFFEE)
    ledger = DynamoDBLedger(dynamodb, table)
    purge(
        S3Storage(s3),
        ObjectRef(versioned_bucket, "quarantine/incoming/first.jpg"),
        quarantine_prefix="quarantine/",
        reviewer=REVIEWER,
        now="2026-11-02T09:00:00Z",
        ledger=ledger,
    )
    remembered = ledger.memory().rejected(COFFEE_SHA)
    assert remembered is not None and remembered.preview
    assert (remembered.location, remembered.rejected_by) == (f"s3://{versioned_bucket}/incoming/first.jpg", REVIEWER)

    # WHEN the same bytes are uploaded under another name
    result = moderate(moderation, s3, versioned_bucket, "incoming/renamed.jpg", COFFEE)

    # THEN they are quarantined UNSAFE / rejected-before without a second Imagga call, and the ledger
    # and the log name the rejected image (distance 0)
    assert categorizations(imagga) == 1
    tags = tags_of(s3, versioned_bucket, "quarantine/incoming/renamed.jpg")
    assert (tags["moderation:status"], tags["moderation:reason"]) == ("UNSAFE", "rejected-before")
    (entry,) = decisions(dynamodb, versioned_bucket, "incoming/renamed.jpg")
    assert (entry["reason"]["S"], entry["status"]["S"]) == ("rejected-before", "UNSAFE")
    assert entry["matched_sha256"]["S"] == COFFEE_SHA
    assert entry["matched_distance"]["N"] == "0"
    assert entry["matched_location"]["S"] == f"s3://{versioned_bucket}/incoming/first.jpg"
    (logged,) = result.logged("object moderated")
    assert (logged["matched_sha256"], logged["matched_distance"]) == (COFFEE_SHA, 0)
    assert result.metrics.get("MatchedRejected") == 1


def test_a_near_copy_of_an_image_rejected_in_place_is_quarantined_as_matching_it(
    s3: BaseClient, versioned_bucket: str, table: str, dynamodb: BaseClient, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an image left in place as REVIEW, rejected there by a human
    imagga.answer(REVIEW)
    moderation.configure(DECISIONS_TABLE=table)
    moderate(moderation, s3, versioned_bucket, "incoming/doubtful.jpg", COFFEE)
    reject_in_place(
        S3Storage(s3),
        ObjectRef(versioned_bucket, "incoming/doubtful.jpg"),
        reviewer=REVIEWER,
        now="2026-11-02T09:00:00Z",
        ledger=DynamoDBLedger(dynamodb, table),
    )

    # WHEN a copy at half size, saved as PNG, is uploaded
    coffee = source_images()["coffee.jpg"]
    half = encoded(coffee.resize((coffee.width // 2, coffee.height // 2)), "PNG")
    result = moderate(moderation, s3, versioned_bucket, "incoming/smaller.png", half)

    # THEN it is quarantined UNSAFE / matches-rejected, with no Imagga call; the distance and the rejected
    # image are in the ledger and the log
    assert categorizations(imagga) == 1
    tags = tags_of(s3, versioned_bucket, "quarantine/incoming/smaller.png")
    assert (tags["moderation:status"], tags["moderation:reason"]) == ("UNSAFE", "matches-rejected")
    (entry,) = decisions(dynamodb, versioned_bucket, "incoming/smaller.png")
    assert entry["matched_sha256"]["S"] == COFFEE_SHA
    assert int(entry["matched_distance"]["N"]) <= 3
    assert entry["matched_location"]["S"] == f"s3://{versioned_bucket}/incoming/doubtful.jpg"
    (near,) = result.logged("near-copy of a rejected image")
    assert (near["matched_sha256"], near["distance"]) == (COFFEE_SHA, int(entry["matched_distance"]["N"]))


def test_the_function_may_not_write_what_only_people_decide_but_its_items_carry_the_ttl(
    s3: BaseClient, versioned_bucket: str, table: str, dynamodb: BaseClient, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN the function moderating a photo
    imagga.answer(SAFE)
    moderation.configure(DECISIONS_TABLE=table)

    # WHEN it is done
    moderate(moderation, s3, versioned_bucket, "incoming/coffee.jpg", COFFEE)

    # THEN it wrote a decision and Imagga's scores - the keys its role allows (template.yaml,
    # WriteVerdictsAndScores) - each with the table's TTL attribute
    items = dynamodb.scan(TableName=table)["Items"]
    assert sorted(item["id"]["S"].split("#", 1)[0] for item in items) == ["decision", "scores"]
    assert all(int(item["expires_at"]["N"]) > 0 for item in items)


def test_an_unreadable_memory_moderates_as_if_the_image_were_new_and_counts_it(
    s3: BaseClient, versioned_bucket: str, table: str, dynamodb: BaseClient, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN a photo a human rejected, and a table whose batch reads are refused now
    memory = DynamoDBContentMemory(dynamodb, table)
    rejection = rejection_of(
        COFFEE_SHA,
        COFFEE,
        location="s3://b/k",
        rejected_by=REVIEWER,
        rejected_at="2026-11-02T09:00:00Z",
        settings=Settings(),
    )
    memory.remember_rejected(rejection.image, rejection.index)
    moderation.configure(DECISIONS_TABLE=table)
    moderation.dynamodb.meta.events.register("before-send.dynamodb.BatchGetItem", _access_denied)

    # WHEN the photo is uploaded again
    result = moderate(moderation, s3, versioned_bucket, "incoming/again.jpg", COFFEE)

    # THEN Imagga judges it (nothing is let through unjudged), and the failure is logged and counted
    assert categorizations(imagga) == 1
    assert tags_of(s3, versioned_bucket, "incoming/again.jpg")["moderation:status"] == "SAFE"
    assert result.logged("content memory unreadable: moderating as if the image were new")
    assert result.metrics.get("ErrorMemoryUnavailable", 0) >= 1


def _access_denied(request: Any, **_: Any) -> AWSResponse:
    body = b'{"__type":"com.amazonaws.dynamodb.v20120810#AccessDeniedException","message":"not allowed"}'
    return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body))


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def test_a_look_up_is_one_request_for_four_index_items_however_many_images_were_rejected(
    table: str, dynamodb: BaseClient
) -> None:
    # GIVEN 120 rejected pictures in the memory
    memory = DynamoDBContentMemory(dynamodb, table)
    for number in range(120):
        data = encoded(generated(number))
        sha = hashlib.sha256(data).hexdigest()
        rejection = rejection_of(
            sha,
            data,
            location=f"s3://b/{number}",
            rejected_by=REVIEWER,
            rejected_at="2026-11-02T09:00:00Z",
            settings=Settings(),
        )
        memory.remember_rejected(rejection.image, rejection.index)
    sent: list[dict[str, Any]] = []
    dynamodb.meta.events.register(
        "before-parameter-build.dynamodb.BatchGetItem", lambda params, **_: sent.append(params)
    )

    # WHEN an unrelated photo's hash is looked up
    (found,) = rejection_of(
        "x", COFFEE, location="", rejected_by="", rejected_at="", settings=Settings()
    ).image.fingerprints
    candidates = memory.near([found])

    # THEN one BatchGetItem read the four index items of its parts, strongly consistent
    assert len(sent) == 1
    (request,) = sent[0]["RequestItems"].values()
    assert len(request["Keys"]) == PARTS and request["ConsistentRead"] is True
    assert all(candidate.sha256 != COFFEE_SHA for candidate in candidates)
    # AND a rejected item can be read back, preview included, for the review page
    some = memory.rejected(hashlib.sha256(encoded(generated(7))).hexdigest())
    assert some is not None and some.location == "s3://b/7" and some.preview
    assert dynamodb.get_item(TableName=table, Key={"id": {"S": rejected_id(some.sha256)}})["Item"]["kind"]["S"] == (
        "rejected"
    )


def test_a_trimmed_copy_found_through_the_table_index(table: str, dynamodb: BaseClient) -> None:
    # GIVEN a rejected photo remembered in the table
    memory = DynamoDBContentMemory(dynamodb, table)
    rejection = rejection_of(
        COFFEE_SHA,
        COFFEE,
        location="s3://b/k",
        rejected_by=REVIEWER,
        rejected_at="2026-11-02T09:00:00Z",
        settings=Settings(),
    )
    memory.remember_rejected(rejection.image, rejection.index)

    # WHEN a copy trimmed by 5 % is looked up
    trimmed = encoded(crop(source_images()["coffee.jpg"], 0.05, 0.8, 0.1))
    (value,) = rejection_of(
        "y", trimmed, location="", rejected_by="", rejected_at="", settings=Settings()
    ).image.fingerprints
    candidates = memory.near([value])

    # THEN the rejected photo is among the candidates
    assert COFFEE_SHA in {candidate.sha256 for candidate in candidates}


def test_an_index_item_shared_by_two_rejections_lives_as_long_as_the_longer_kept_one(
    table: str, dynamodb: BaseClient
) -> None:
    # GIVEN a photo rejected by a tool that keeps rejections 90 days
    long_kept = rejection_of(
        COFFEE_SHA,
        COFFEE,
        location="s3://b/k",
        rejected_by=REVIEWER,
        rejected_at="2026-11-02T09:00:00Z",
        settings=Settings(),
    )
    DynamoDBContentMemory(dynamodb, table, rejection_days=90).remember_rejected(long_kept.image, long_kept.index)
    first = long_kept.image.fingerprints[0]
    item = {"id": {"S": near_index_id(0, parts(first)[0])}}
    kept_until = dynamodb.get_item(TableName=table, Key=item)["Item"]["expires_at"]["N"]

    # WHEN a later rejection sharing its index items is remembered by a tool that keeps them 1 day
    other_sha = hashlib.sha256(b"other bytes, same picture").hexdigest()
    short_kept = rejection_of(
        other_sha,
        COFFEE,
        location="s3://b/j",
        rejected_by=REVIEWER,
        rejected_at="2026-11-03T09:00:00Z",
        settings=Settings(),
    )
    DynamoDBContentMemory(dynamodb, table, rejection_days=1).remember_rejected(short_kept.image, short_kept.index)

    # THEN the shared item holds both entries and keeps the longer expiry
    shared = dynamodb.get_item(TableName=table, Key=item)["Item"]
    assert shared["expires_at"]["N"] == kept_until
    assert {entry.split(":")[0] for entry in shared["entries"]["SS"]} >= {COFFEE_SHA, other_sha}
    # AND a rejection kept longer than both moves the expiry later
    later = rejection_of(
        "f" * 64,
        COFFEE,
        location="s3://b/i",
        rejected_by=REVIEWER,
        rejected_at="2026-11-04T09:00:00Z",
        settings=Settings(),
    )
    DynamoDBContentMemory(dynamodb, table, rejection_days=365).remember_rejected(later.image, later.index)
    assert int(dynamodb.get_item(TableName=table, Key=item)["Item"]["expires_at"]["N"]) > int(kept_until)
