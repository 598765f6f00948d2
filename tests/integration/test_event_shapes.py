"""Every event shape, through the real handler, ends with the right object tagged."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.client import BaseClient

from tests.builders import (
    batch_operations_event,
    eventbridge_event,
    gif_bytes,
    jpeg_bytes,
    load_event,
    png_bytes,
    s3_notification,
    s3_record,
    sqs_event,
    webp_bytes,
)

from .fake_imagga import BLUE, GREEN, RED, FakeImagga, Reply
from .harness import Moderation, notify_queue, sqs_event_from_queue, tags_of

pytestmark = pytest.mark.integration

DEMO_BUCKET = "moderation-demo-bucket"  # the bucket the samples in infra/events name
SAMPLE_KEY = "incoming/summer holiday/café + friends.jpg"
VERSIONED_SAMPLE_KEY = "incoming/portraits/IMG_0042.JPG"
ARCHIVE_KEY = "incoming/archive/old photo(1)+.jpg"  # the Batch Operations samples' key
#: The version ids the samples were published with (AWS docs, Powertools).
SAMPLE_VERSION_IDS = (
    "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
    "096fKKXTRTtl3on89fVO.nfljtsv6qko",
    "yd3d4HaWOT2zguDLvIQLU6ptDTwKBnQV",
)
AWKWARD_KEYS = (
    "incoming/summer holiday/photo 1.jpg",
    "incoming/a+b=c.jpg",
    "incoming/café/naïve ☀ 東京.jpg",
    "incoming/2024/05/14/deep/nested/path/image.png",
    "incoming/100% real & (final).jpg",
    "incoming/pic #1?v=2.jpg",
)


def _sample_with_version(name: str, version_id: str) -> dict[str, Any]:
    """A sample event, the version id it was published with replaced by the one S3 gave our upload."""
    text = json.dumps(load_event(name))
    for published in SAMPLE_VERSION_IDS:
        text = text.replace(published, version_id)
    return json.loads(text)


@pytest.fixture
def demo_bucket(s3: BaseClient) -> str:
    s3.create_bucket(Bucket=DEMO_BUCKET)
    s3.put_bucket_versioning(Bucket=DEMO_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return DEMO_BUCKET


def test_awkward_keys_delivered_by_s3_through_sqs_are_tagged_on_the_right_objects(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN the bucket notifies an SQS queue, and objects whose keys S3 must URL-encode are uploaded
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url = notify_queue(s3, sqs, bucket)
    for key in AWKWARD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=jpeg_bytes(color=GREEN), ContentType="image/jpeg")
    event = sqs_event_from_queue(sqs, queue_url, expect=len(AWKWARD_KEYS) + 1)

    # WHEN the handler receives what S3 put in the queue (a test event first, then one message per upload)
    result = moderation.invoke(event)

    # THEN every message succeeded and every object carries its own status
    assert len(event["Records"]) == len(AWKWARD_KEYS) + 1
    assert result.failed_message_ids == []
    for key in AWKWARD_KEYS:
        assert tags_of(s3, bucket, key)["moderation:status"] == "SAFE", key
    assert len(imagga.requests("POST", "/v2/categories/")) == len(AWKWARD_KEYS)


@pytest.mark.parametrize("delivery", ["s3-direct", "eventbridge-direct", "sqs-s3"])
def test_a_space_and_a_plus_in_keys_name_different_objects(
    delivery: str, s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN "a b.jpg" (shows underwear) and "a+b.jpg" (safe) side by side
    imagga.answer_for_colour(BLUE, {"safe": 30.0, "underwear": 70.0, "nsfw": 0.0})
    imagga.answer_for_colour(GREEN, {"safe": 99.0, "underwear": 1.0, "nsfw": 0.0})
    s3.put_object(Bucket=bucket, Key="incoming/a b.jpg", Body=jpeg_bytes(color=BLUE))
    s3.put_object(Bucket=bucket, Key="incoming/a+b.jpg", Body=jpeg_bytes(color=GREEN))
    keys = ["incoming/a b.jpg", "incoming/a+b.jpg"]
    if delivery == "s3-direct":
        event = s3_notification(*(s3_record(bucket, key) for key in keys))
    elif delivery == "eventbridge-direct":
        event = eventbridge_event(bucket, "incoming/a+b.jpg")  # raw key: its '+' is a plus, not a space
    else:
        event = sqs_event(*(s3_notification(s3_record(bucket, key)) for key in keys))

    # WHEN the handler runs
    result = moderation.invoke(event)

    # THEN each verdict lands on the object whose bytes produced it, and on no other
    assert result.error is None
    assert tags_of(s3, bucket, "incoming/a+b.jpg")["moderation:status"] == "SAFE"
    if delivery == "eventbridge-direct":
        assert tags_of(s3, bucket, "incoming/a b.jpg") == {}
    else:
        assert tags_of(s3, bucket, "incoming/a b.jpg")["moderation:status"] == "REVIEW"


@pytest.mark.parametrize(
    ("sample", "key", "answer"),
    [
        ("s3-put", SAMPLE_KEY, {"objects": 1}),
        ("s3-put-versioned", VERSIONED_SAMPLE_KEY, {"objects": 1}),
        ("sns-s3", SAMPLE_KEY, {"objects": 1}),
        ("eventbridge-object-created", SAMPLE_KEY, {"objects": 1}),
        ("sqs-s3", SAMPLE_KEY, {"batchItemFailures": []}),
        ("sqs-s3-versioned", VERSIONED_SAMPLE_KEY, {"batchItemFailures": []}),
        ("sqs-sns-s3", VERSIONED_SAMPLE_KEY, {"batchItemFailures": []}),
        ("sqs-eventbridge", SAMPLE_KEY, {"batchItemFailures": []}),
    ],
)
def test_each_outside_sample_tags_the_object_it_names(
    sample: str,
    key: str,
    answer: dict[str, Any],
    s3: BaseClient,
    demo_bucket: str,
    imagga: FakeImagga,
    moderation: Moderation,
) -> None:
    # GIVEN the object a SAM CLI / Powertools / AWS docs sample names exists in a versioned bucket
    version_id = s3.put_object(Bucket=demo_bucket, Key=key, Body=jpeg_bytes(color=GREEN))["VersionId"]
    event = _sample_with_version(sample, version_id)

    # WHEN the handler receives the event
    result = moderation.invoke(event)

    # THEN it answers as its entry path requires, and that exact version is tagged SAFE after one Imagga call
    assert result.response is not None, result.error
    assert {name: result.response[name] for name in answer} == answer
    assert tags_of(s3, demo_bucket, key, version_id)["moderation:status"] == "SAFE"
    assert len(imagga.requests("POST", "/v2/categories/nsfw_beta")) == 1


@pytest.mark.parametrize("sample", ["s3-delete", "eventbridge-object-deleted", "sqs-s3-test-event"])
def test_outside_samples_that_create_nothing_cost_no_call(
    sample: str, s3_calls: Any, demo_bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN a deletion (SAM CLI, AWS docs) or the test message S3 sends when notifications are set up
    s3_calls.reset()
    # WHEN the handler receives it
    result = moderation.invoke(load_event(sample))
    # THEN it succeeds naming no object, and neither S3 nor Imagga was asked anything
    assert result.response in ({"objects": 0, "outcomes": []}, {"batchItemFailures": []}), result.error
    assert s3_calls.calls == []
    assert imagga.calls == []


def test_every_record_of_a_multi_record_s3_event_is_moderated(
    s3: BaseClient, demo_bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN three objects: a PNG, a WebP and a GIF; the GIF is unsafe
    imagga.answer_for_colour(RED, {"nsfw": 91.0, "safe": 9.0})
    uploads = {
        "incoming/batch 2024-05-14/0001.png": png_bytes(color=GREEN),
        "incoming/batch 2024-05-14/0002.webp": webp_bytes(color=GREEN),
        "incoming/batch 2024-05-14/0003.gif": gif_bytes(colors=(RED,), frames=1),
    }
    for key, body in uploads.items():
        s3.put_object(Bucket=demo_bucket, Key=key, Body=body)
    # AND one S3 event naming all three: the SAM CLI's Put record, once per key (keys encoded as S3 does)
    [record] = load_event("s3-put")["Records"]
    records = [copy.deepcopy(record) for _ in uploads]
    for each, key in zip(records, uploads, strict=True):
        each["s3"]["object"]["key"] = quote_plus(key, safe="/")

    # WHEN the handler receives the event directly from S3
    result = moderation.invoke({"Records": records})

    # THEN all three were sent to Imagga and carry their verdicts; the GIF went to quarantine
    assert result.response is not None, result.error
    assert result.response["objects"] == 3
    assert len(imagga.requests("POST", "/v2/categories/")) == 3
    assert tags_of(s3, demo_bucket, "incoming/batch 2024-05-14/0001.png")["moderation:status"] == "SAFE"
    assert tags_of(s3, demo_bucket, "incoming/batch 2024-05-14/0002.webp")["moderation:status"] == "SAFE"
    quarantined = "quarantine/incoming/batch 2024-05-14/0003.gif"
    assert tags_of(s3, demo_bucket, quarantined)["moderation:status"] == "UNSAFE"


def test_the_s3_test_event_is_acknowledged_without_any_call(
    s3_calls: Any, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN the s3:TestEvent S3 sends when a notification configuration is saved, delivered through SQS
    event = load_event("sqs-s3-test-event")

    # WHEN the handler receives it
    result = moderation.invoke(event)

    # THEN the message succeeds, and neither S3 nor Imagga was asked anything
    assert result.failed_message_ids == []
    assert s3_calls.calls == []
    assert imagga.calls == []


def test_only_the_message_whose_image_imagga_keeps_failing_is_reported_as_failed(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN three messages; Imagga answers 500 for the red image every time
    imagga.answer_for_colour(RED, Reply.error(500))
    s3.put_object(Bucket=bucket, Key="incoming/one.jpg", Body=jpeg_bytes(color=GREEN))
    s3.put_object(Bucket=bucket, Key="incoming/two.jpg", Body=jpeg_bytes(color=RED))
    s3.put_object(Bucket=bucket, Key="incoming/three.jpg", Body=jpeg_bytes(color=GREEN))
    event = sqs_event(*(s3_notification(s3_record(bucket, f"incoming/{name}.jpg")) for name in ("one", "two", "three")))

    # WHEN the batch is handled (first delivery)
    result = moderation.invoke(event)

    # THEN only the second message fails; the others are tagged, the failing object is left for the retry
    assert result.failed_message_ids == ["msg-2"]
    assert tags_of(s3, bucket, "incoming/one.jpg")["moderation:status"] == "SAFE"
    assert tags_of(s3, bucket, "incoming/three.jpg")["moderation:status"] == "SAFE"
    assert tags_of(s3, bucket, "incoming/two.jpg") == {}


def test_a_message_of_unknown_shape_fails_alone(
    s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN a good message between an unknown JSON shape and a body that is not JSON at all
    s3.put_object(Bucket=bucket, Key="incoming/good.jpg", Body=jpeg_bytes(color=GREEN))
    event = sqs_event({"hello": "world"}, s3_notification(s3_record(bucket, "incoming/good.jpg")), "not json")

    # WHEN the batch is handled
    result = moderation.invoke(event)

    # THEN the two unknown messages fail, the good one is tagged, and the problem is logged
    assert result.failed_message_ids == ["msg-1", "msg-3"]
    assert tags_of(s3, bucket, "incoming/good.jpg")["moderation:status"] == "SAFE"
    assert len(result.logged("unknown event shape: message fails alone")) == 2
    assert result.metrics["ErrorUnknownEvent"] == 2


@pytest.mark.parametrize("schema", ["1.0", "2.0"])
def test_batch_operations_answer_one_result_per_task(
    schema: str, s3: BaseClient, bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN a safe photo with an awkward key, a photo Imagga keeps failing on, and a key that no longer exists
    imagga.answer_for_colour(RED, Reply.error(503, "Service Unavailable"))
    s3.put_object(Bucket=bucket, Key="incoming/archive/old photo(1)+.jpg", Body=jpeg_bytes(color=GREEN))
    s3.put_object(Bucket=bucket, Key="incoming/archive/busy.jpg", Body=jpeg_bytes(color=RED))
    moderation.configure(IMAGGA_MAX_ATTEMPTS="2")
    keys = ("incoming/archive/old photo(1)+.jpg", "incoming/archive/busy.jpg", "incoming/archive/gone.jpg")

    # WHEN a Batch Operations job invokes the function with the three tasks
    result = moderation.invoke(batch_operations_event(bucket, *keys, schema=schema))

    # THEN each task has its result: done, worth a retry, nothing to do
    assert result.response is not None, result.error
    assert result.response["invocationSchemaVersion"] == schema
    assert [(r["taskId"], r["resultCode"]) for r in result.response["results"]] == [
        ("task-1", "Succeeded"),
        ("task-2", "TemporaryFailure"),
        ("task-3", "Succeeded"),
    ]
    assert result.response["results"][0]["resultString"] == "SAFE"
    assert result.response["results"][2]["resultString"] == "SKIPPED:gone"
    assert tags_of(s3, bucket, "incoming/archive/old photo(1)+.jpg")["moderation:status"] == "SAFE"


@pytest.mark.parametrize(("sample", "schema"), [("batch-operations-1.0", "1.0"), ("batch-operations-2.0", "2.0")])
def test_outside_batch_operations_samples_are_answered_in_aws_response_shape(
    sample: str, schema: str, s3: BaseClient, demo_bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN the object the SAM CLI's (1.0) or Powertools' (2.0) sample names; on 1.0 its version
    version_id = s3.put_object(Bucket=demo_bucket, Key=ARCHIVE_KEY, Body=jpeg_bytes(color=GREEN))["VersionId"]
    event = load_event(sample)
    if event["tasks"][0]["s3VersionId"] is not None:
        event["tasks"][0]["s3VersionId"] = version_id  # the sample's "1", replaced by the one S3 gave our upload

    # WHEN S3 Batch Operations invokes the function with it
    result = moderation.invoke(event)

    # THEN the answer is AWS's documented response: schema and invocation id echoed, one result per task
    assert result.response == {
        "invocationSchemaVersion": schema,
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": event["invocationId"],
        "results": [{"taskId": event["tasks"][0]["taskId"], "resultCode": "Succeeded", "resultString": "SAFE"}],
    }, result.error
    # AND the object under the decoded key carries its status
    assert tags_of(s3, demo_bucket, ARCHIVE_KEY, version_id)["moderation:status"] == "SAFE"


@pytest.mark.parametrize("sample", ["batch-operations-1.0", "batch-operations-2.0"])
def test_a_batch_operations_task_whose_object_is_missing_succeeds_as_a_skip_never_a_temporary_failure(
    sample: str, demo_bucket: str, imagga: FakeImagga, moderation: Moderation
) -> None:
    # GIVEN an outside sample naming an object that is not in the bucket (deleted since the manifest was made)
    event = load_event(sample)

    # WHEN the task runs
    result = moderation.invoke(event)

    # THEN it succeeds as a skip with the reason, so the job neither retries it nor counts it failed
    assert result.response is not None, result.error
    assert [(r["resultCode"], r["resultString"]) for r in result.response["results"]] == [("Succeeded", "SKIPPED:gone")]
    assert result.metrics["SkippedGone"] == 1
    assert imagga.calls == []
