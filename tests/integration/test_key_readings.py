"""Keys whose encoding an event leaves uncertain: no object is dropped silently, and no other object is judged."""

from __future__ import annotations

import pytest
from botocore.client import BaseClient

from tests.builders import batch_operations_event, eventbridge_event, jpeg_bytes, s3_notification, s3_record, sqs_event

from .fake_imagga import BLUE, GREEN, FakeImagga
from .harness import Moderation, tags_of

pytestmark = pytest.mark.integration

#: An object's key, and the same key percent-encoded as some S3 emulators put it in EventBridge events.
KEY = "incoming/eb/holiday photos/café + friends.jpg"
PERCENT_ENCODED = "incoming/eb/holiday%20photos/caf%C3%A9%20%2B%20friends.jpg"


@pytest.mark.parametrize("delivery", ["eventbridge-direct", "eventbridge-in-sqs"])
def test_percent_encoded_eventbridge_key_is_found_under_its_decoded_key_and_the_reading_is_logged(
    delivery: str, s3: BaseClient, versioned_bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an object, and an EventBridge event naming it percent-encoded (with its version)
    version_id = s3.put_object(Bucket=versioned_bucket, Key=KEY, Body=jpeg_bytes(color=GREEN))["VersionId"]
    event = eventbridge_event(versioned_bucket, PERCENT_ENCODED, version_id=version_id)
    if delivery == "eventbridge-in-sqs":
        event = sqs_event(event)

    # WHEN the handler receives it
    result = moderation.invoke(event)

    # THEN that version is tagged, and the log says which key was found for the one given
    assert result.error is None, result.error
    assert tags_of(s3, versioned_bucket, KEY, version_id)["moderation:status"] == "SAFE"
    [resolved] = result.logged("key of uncertain encoding resolved")
    assert (resolved["key_given"], resolved["key_found"]) == (PERCENT_ENCODED, KEY)
    assert result.metrics.get("SkippedGone", 0) == 0
    [moderated] = result.logged("object moderated")
    assert moderated["key"] == KEY


def test_a_plus_in_a_percent_encoded_eventbridge_key_stays_a_plus(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN "a+b c.jpg" (safe) and "a b c.jpg" (underwear) side by side, and an event naming "a+b%20c.jpg"
    imagga.answer_for_colour(BLUE, {"safe": 30.0, "underwear": 70.0, "nsfw": 0.0})
    s3.put_object(Bucket=bucket, Key="incoming/a+b c.jpg", Body=jpeg_bytes(color=GREEN))
    s3.put_object(Bucket=bucket, Key="incoming/a b c.jpg", Body=jpeg_bytes(color=BLUE))

    # WHEN the handler receives it
    result = moderation.invoke(eventbridge_event(bucket, "incoming/a+b%20c.jpg"))

    # THEN the key is percent-decoded (unquote), not form-decoded: the '+' object is judged, the other untouched
    assert result.error is None, result.error
    assert tags_of(s3, bucket, "incoming/a+b c.jpg")["moderation:status"] == "SAFE"
    assert tags_of(s3, bucket, "incoming/a b c.jpg") == {}
    assert len(imagga.requests("POST", "/v2/categories/")) == 1


def test_object_gone_under_every_reading_is_skipped_with_a_warning_naming_each_key_and_counted(
    versioned_bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an event for a version that is no longer there under any reading of its key
    event = sqs_event(eventbridge_event(versioned_bucket, PERCENT_ENCODED, version_id="3HL4kqtJlcpXroDTDmJ"))

    # WHEN the handler receives it
    result = moderation.invoke(event)

    # THEN the message succeeds (there is nothing to retry), and the skip is not silent
    assert result.failed_message_ids == []
    [warning] = result.logged("object gone before its scan: skipped")
    assert warning["level"] == "WARNING"
    assert warning["bucket"] == versioned_bucket
    assert warning["keys_tried"] == [PERCENT_ENCODED, KEY]
    assert warning["version_id"] == "3HL4kqtJlcpXroDTDmJ"
    assert result.metrics["SkippedGone"] == 1
    assert imagga.calls == []


def test_object_gone_named_by_an_s3_notification_is_skipped_with_a_warning_and_counted(
    bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    result = moderation.invoke(sqs_event(s3_notification(s3_record(bucket, "incoming/deleted meanwhile.jpg"))))

    assert result.failed_message_ids == []
    [warning] = result.logged("object gone before its scan: skipped")
    assert (warning["level"], warning["keys_tried"]) == ("WARNING", ["incoming/deleted meanwhile.jpg"])
    assert result.metrics["SkippedGone"] == 1


def test_batch_operations_key_with_an_unencoded_plus_is_found_under_its_other_reading(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an object "a+b.jpg", and a manifest written by another tool that left its '+' unencoded
    s3.put_object(Bucket=bucket, Key="incoming/archive/a+b.jpg", Body=jpeg_bytes(color=GREEN))
    event = batch_operations_event(bucket, "placeholder")
    event["tasks"][0]["s3Key"] = "incoming/archive/a+b.jpg"

    # WHEN the task runs: by AWS's rule the key reads "a b.jpg", which is not there
    result = moderation.invoke(event)

    # THEN the object is found under the key as written and judged, instead of skipped as gone
    assert result.response is not None, result.error
    assert [r["resultString"] for r in result.response["results"]] == ["SAFE"]
    assert tags_of(s3, bucket, "incoming/archive/a+b.jpg")["moderation:status"] == "SAFE"
    [resolved] = result.logged("key of uncertain encoding resolved")
    assert (resolved["key_given"], resolved["key_found"]) == ("incoming/archive/a b.jpg", "incoming/archive/a+b.jpg")
