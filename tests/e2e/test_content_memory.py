"""The content memory on the local stack, as deployed (CONTENT_MEMORY=on, the decisions table):
uploads of bytes already categorized cost no Imagga call; an image a human rejected comes back
quarantined, as the same bytes or as a near-copy, without a call.

Every test uses bytes no other test uploaded (`new_bytes`): the stack is shared by the module and
remembers what it saw.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from infra.local.demo import half_size_png, purge_quarantined
from infra.local.stack import LocalStack
from tests.e2e.conftest import FAST_IMAGGA_ENV, new_bytes

from moderator.ledger import DynamoDBLedger

pytestmark = pytest.mark.e2e

VERDICT_WAIT = 20.0
REVIEWER = "arn:aws:iam::123456789012:user/reviewer-e2e"


def ledger_entries(stack: LocalStack, key: str) -> list[dict[str, Any]]:
    items = stack.boto3_client("dynamodb").scan(TableName=stack.decisions_table)["Items"]
    found = [i for i in items if i["kind"]["S"] == "decision" and i["object_key"]["S"] == key]
    return sorted(found, key=lambda item: item["scanned_at"]["S"])


def versions_tagged(stack: LocalStack, key: str) -> list[str]:
    """The status tag of every version of the key, oldest first."""
    s3 = stack.boto3_client("s3")
    listed = [
        v for v in s3.list_object_versions(Bucket=stack.bucket, Prefix=key).get("Versions", []) if v["Key"] == key
    ]
    statuses = []
    for version in sorted(listed, key=lambda v: v["LastModified"]):
        tags = s3.get_object_tagging(Bucket=stack.bucket, Key=key, VersionId=version["VersionId"])["TagSet"]
        statuses.append(next((t["Value"] for t in tags if t["Key"] == "moderation:status"), "-"))
    return statuses


def reject(stack: LocalStack, uploaded_key: str) -> None:
    """What `quarantine purge --version-id` (and Reject on the review page) does with the quarantined copy."""
    purge_quarantined(stack, uploaded_key, now="2026-11-02T09:00:00Z")


def test_the_same_bytes_under_another_key_are_tagged_from_memory_without_a_call(
    stack: LocalStack, samples: dict[str, bytes]
) -> None:
    # GIVEN a photo moderated once
    photo = new_bytes(samples["chelsea.jpg"])
    first = stack.upload(f"memory/{uuid.uuid4().hex[:6]}/cat.jpg", photo)
    stack.wait_for_status([first], timeout=VERDICT_WAIT)

    # WHEN the same bytes are uploaded under another key
    second = stack.upload(f"memory/{uuid.uuid4().hex[:6]}/same-cat.jpg", photo)
    found = stack.wait_for_status([second], timeout=VERDICT_WAIT)[second]

    # THEN the copy has its own SAFE verdict with the same scores, Imagga was asked once, and the ledger
    # says the scores were reused from the first scan
    assert found.status == "SAFE" and found.scores == stack.object_status(first).scores
    assert stack.imagga_calls_for(photo) == 1
    (original,) = ledger_entries(stack, first)
    (copy,) = ledger_entries(stack, second)
    assert copy["reused_from"]["S"] == original["scanned_at"]["S"]


def test_an_image_uploaded_twice_to_one_key_is_two_versions_tagged_for_one_call(
    stack: LocalStack, samples: dict[str, bytes]
) -> None:
    # GIVEN a photo uploaded and moderated
    photo = new_bytes(samples["rocket.jpg"])
    key = stack.upload(f"memory/{uuid.uuid4().hex[:6]}/rocket.jpg", photo)
    stack.wait_for_status([key], timeout=VERDICT_WAIT)

    # WHEN the same bytes are uploaded to the same key again (a second version of the object)
    stack.upload(key, photo)

    # THEN both versions carry a verdict, for a single Imagga call: the second from memory
    # (the second scan ends a moment after its tags land: wait for both, bounded)
    deadline = time.monotonic() + VERDICT_WAIT
    while versions_tagged(stack, key) != ["SAFE", "SAFE"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert versions_tagged(stack, key) == ["SAFE", "SAFE"]
    assert stack.imagga_calls_for(photo) == 1
    entries = ledger_entries(stack, key)
    assert len(entries) == 2 and entries[1]["reused_from"]["S"] == entries[0]["scanned_at"]["S"]


def test_a_rejected_image_under_a_new_name_is_quarantined_without_a_call(
    stack: LocalStack, samples: dict[str, bytes]
) -> None:
    # GIVEN the unsafe demo sample, quarantined by the function and then purged by a human
    image = new_bytes(samples["demo-unsafe-sample.png"])
    first = stack.upload(f"memory/{uuid.uuid4().hex[:6]}/first.png", image)
    assert stack.wait_for_status([first], timeout=VERDICT_WAIT)[first].location == "quarantine"
    reject(stack, first)
    calls_before = stack.imagga.count("/v2/categories/")

    # WHEN the same bytes are uploaded under a new name
    renamed = stack.upload(f"memory/{uuid.uuid4().hex[:6]}/innocent-name.png", image)
    found = stack.wait_for_status([renamed], timeout=VERDICT_WAIT)[renamed]

    # THEN they are quarantined UNSAFE, rejected-before, with no Imagga call, the ledger naming the rejected image
    assert (found.location, found.status, found.tags["moderation:reason"]) == (
        "quarantine",
        "UNSAFE",
        "rejected-before",
    )
    assert stack.imagga.count("/v2/categories/") == calls_before
    (entry,) = ledger_entries(stack, renamed)
    assert entry["matched_distance"]["N"] == "0"
    assert entry["matched_location"]["S"] == f"s3://{stack.bucket}/{first}"


def test_a_near_copy_of_a_rejected_image_is_quarantined_without_a_call(
    stack: LocalStack, samples: dict[str, bytes]
) -> None:
    # GIVEN a rejected image
    image = new_bytes(samples["demo-unsafe-sample.png"])
    first = stack.upload(f"memory/{uuid.uuid4().hex[:6]}/original.png", image)
    assert stack.wait_for_status([first], timeout=VERDICT_WAIT)[first].location == "quarantine"
    reject(stack, first)
    calls_before = stack.imagga.count("/v2/categories/")

    # WHEN a half-size PNG of it is uploaded under another name (the emulator would recognise it too:
    # a call, had one been made, would show in its log)
    copy = stack.upload(f"memory/{uuid.uuid4().hex[:6]}/smaller.png", half_size_png(image))
    found = stack.wait_for_status([copy], timeout=VERDICT_WAIT)[copy]

    # THEN it is quarantined UNSAFE, matches-rejected, with no Imagga call; the ledger has the distance
    assert (found.location, found.status, found.tags["moderation:reason"]) == (
        "quarantine",
        "UNSAFE",
        "matches-rejected",
    )
    assert stack.imagga.count("/v2/categories/") == calls_before
    (entry,) = ledger_entries(stack, copy)
    assert int(entry["matched_distance"]["N"]) <= 3
    # (the nearest rejected image of that picture: this one, or one rejected by an earlier test)
    matched = (
        DynamoDBLedger(stack.boto3_client("dynamodb"), stack.decisions_table)
        .memory()
        .rejected(entry["matched_sha256"]["S"])
    )
    assert matched is not None and matched.preview
    assert entry["matched_location"]["S"] == matched.location
    assert matched.location.startswith(f"s3://{stack.bucket}/{stack.incoming_prefix}memory/")


def test_with_the_memory_off_the_same_bytes_cost_a_call_each_time(make_stack: Any, samples: dict[str, bytes]) -> None:
    # GIVEN a stack deployed with ContentMemory=off
    stack = make_stack(env={**FAST_IMAGGA_ENV, "CONTENT_MEMORY": "off"})
    photo = samples["coffee.jpg"]

    # WHEN the same photo is uploaded under two keys, one after the other
    first = stack.upload("off/one.jpg", photo)
    stack.wait_for_status([first], timeout=VERDICT_WAIT)
    second = stack.upload("off/two.jpg", photo)
    stack.wait_for_status([second], timeout=VERDICT_WAIT)

    # THEN Imagga is asked for each
    assert stack.imagga_calls_for(photo) == 2
