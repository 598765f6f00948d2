"""At-least-once delivery on a moto DynamoDB table: a redelivery costs no second Imagga request."""

from __future__ import annotations

import pytest
from botocore.client import BaseClient

from tests.builders import jpeg_bytes, s3_notification, s3_record, sqs_event

from .fake_imagga import BLUE, GREEN, FakeImagga
from .harness import Moderation, tags_of

pytestmark = pytest.mark.integration

TABLE = "moderation-idempotency"
KEY = "incoming/redelivered.jpg"


@pytest.fixture
def idempotency_table(moderation: Moderation) -> str:
    moderation.dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    moderation.configure(IDEMPOTENCY_TABLE=TABLE)
    return TABLE


def test_the_same_message_delivered_twice_asks_imagga_once(
    s3: BaseClient, bucket: str, idempotency_table: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an upload and its SQS message
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=GREEN))
    event = sqs_event(s3_notification(s3_record(bucket, KEY)))

    # WHEN the message is delivered, then delivered again (SQS is at-least-once)
    first = moderation.invoke(event)
    second = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, KEY)), receive_count=2))

    # THEN both succeed, Imagga was asked once, and the second delivery says it was a duplicate
    assert first.failed_message_ids == second.failed_message_ids == []
    assert len(imagga.calls) == 1
    assert tags_of(s3, bucket, KEY)["moderation:status"] == "SAFE"
    (duplicate,) = second.logged("duplicate delivery: the earlier result stands, nothing called again")
    assert duplicate["status"] == "SAFE"


def test_a_new_upload_to_the_same_key_is_scanned_again(
    s3: BaseClient, bucket: str, idempotency_table: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN a moderated upload
    imagga.answer_for_colour(BLUE, {"safe": 20.0, "underwear": 80.0, "nsfw": 0.0})
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=GREEN))
    moderation.invoke(sqs_event(s3_notification(s3_record(bucket, KEY))))

    # WHEN different bytes are uploaded to the same key and their notification arrives
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=BLUE))
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, KEY))))

    # THEN the new object is scanned and tagged with its own verdict
    assert result.failed_message_ids == []
    assert len(imagga.calls) == 2
    assert tags_of(s3, bucket, KEY)["moderation:status"] == "REVIEW"
    assert result.logged("duplicate delivery: the earlier result stands, nothing called again") == []


def test_with_idempotency_on_the_verdict_still_reports_what_imagga_cost_and_the_quota_left(
    s3: BaseClient, bucket: str, idempotency_table: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an upload, moderated through the idempotency layer (the verdict comes back from its record)
    s3.put_object(Bucket=bucket, Key=KEY, Body=jpeg_bytes(color=GREEN))

    # WHEN its message is delivered
    done = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, KEY))))

    # THEN the log line and the metrics carry the call, its latency and Imagga's Monthly-Limit-Remaining,
    # which the template's quota alarm reads
    (line,) = done.logged("object moderated")
    assert (line["imagga_attempts"], line["monthly_limit_remaining"]) == (1, 990)
    assert line["imagga_latency_ms"] is not None
    assert done.metrics["ImaggaCalls"] == 1
    assert done.metrics["ImaggaMonthlyLimitRemaining"] == 990
