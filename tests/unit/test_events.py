"""Every event shape the function can receive, parsed to the objects it names."""

from __future__ import annotations

import json

import pytest

from moderator.events import (
    EventKind,
    UnknownEventError,
    batch_tasks,
    event_kind,
    refs_from_message,
    refs_from_payload,
)
from moderator.model import ObjectRef
from tests.builders import (
    batch_operations_event,
    eventbridge_event,
    load_event,
    s3_notification,
    s3_record,
    s3_test_event,
    sns_envelope,
    sns_event,
    sqs_event,
)

BUCKET = "moderation-demo-bucket"
HOLIDAY_KEY = "incoming/summer holiday/café + friends.jpg"
ETAG = "b21b84d653bb07b05b1e6b33684dc11b"


def refs_of_sqs(event: dict) -> list[list[ObjectRef]]:
    return [refs_from_message(record["body"]) for record in event["Records"]]


# ---- the sample events in infra/events ------------------------------------------------------


def test_s3_put_sample_names_the_decoded_key_with_its_etag_and_size() -> None:
    # GIVEN the S3 Put sample, whose key is URL-encoded
    event = load_event("s3-put.json")
    # WHEN it is parsed
    refs = refs_from_payload(event)
    # THEN it names the object under its real key
    assert refs == [ObjectRef(BUCKET, HOLIDAY_KEY, None, ETAG, 1305107, "0A1B2C3D4E5F678901")]


def test_versioned_s3_put_sample_keeps_its_version_id() -> None:
    refs = refs_from_payload(load_event("s3-put-versioned.json"))
    assert [(r.key, r.version_id) for r in refs] == [
        ("incoming/portraits/IMG_0042.JPG", "096fKKXTRTtl3on89fVO.nfljtsv6qko")
    ]


def test_multi_record_sample_names_every_object_not_only_the_first() -> None:
    refs = refs_from_payload(load_event("s3-multi-record.json"))
    assert [r.key for r in refs] == [
        "incoming/batch-2024-05-14/0001.png",
        "incoming/batch-2024-05-14/0002.webp",
        "incoming/batch-2024-05-14/0003.gif",
    ]


def test_sqs_sample_body_is_an_s3_notification() -> None:
    event = load_event("sqs-s3.json")
    assert event_kind(event) is EventKind.SQS
    assert refs_of_sqs(event) == [[ObjectRef(BUCKET, HOLIDAY_KEY, None, ETAG, 1305107, "0A1B2C3D4E5F678901")]]


def test_sqs_sample_carries_the_receive_count() -> None:
    event = load_event("sqs-s3.json")
    assert event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "1"


def test_sqs_sns_sample_is_unwrapped_twice() -> None:
    event = load_event("sqs-sns-s3.json")
    assert refs_of_sqs(event) == [
        [
            ObjectRef(
                BUCKET,
                "incoming/portraits/IMG_0042.JPG",
                "096fKKXTRTtl3on89fVO.nfljtsv6qko",
                "9b2cf535f27731c974343645a3985328",
                2409218,
                "0066436D2E9E5A1A2B",
            )
        ]
    ]


def test_sqs_eventbridge_sample_uses_the_raw_key() -> None:
    event = load_event("sqs-eventbridge.json")
    assert refs_of_sqs(event) == [
        [ObjectRef(BUCKET, HOLIDAY_KEY, "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e", ETAG, 1305107, "617f08299329d189")]
    ]


def test_direct_eventbridge_sample_is_a_notification_naming_the_raw_key() -> None:
    event = load_event("eventbridge-object-created.json")
    assert event_kind(event) is EventKind.NOTIFICATION
    assert [(r.key, r.version_id) for r in refs_from_payload(event)] == [
        (HOLIDAY_KEY, "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e")
    ]


def test_sqs_test_event_sample_names_no_object() -> None:
    assert refs_of_sqs(load_event("sqs-s3-test-event.json")) == [[]]


def test_direct_sns_sample_is_a_notification_naming_the_decoded_key() -> None:
    event = load_event("sns-s3.json")
    assert event_kind(event) is EventKind.NOTIFICATION
    assert [r.key for r in refs_from_payload(event)] == [HOLIDAY_KEY]


def test_batch_operations_1_0_sample_names_the_bucket_by_arn_and_decodes_the_key() -> None:
    event = load_event("batch-operations-1.0.json")
    assert event_kind(event) is EventKind.BATCH_OPERATIONS
    version, tasks = batch_tasks(event)
    assert version == "1.0"
    assert [(t.task_id, t.ref) for t in tasks] == [
        (
            "dGFza2lkZ29lc2hlcmUK",
            ObjectRef(
                BUCKET,
                "incoming/archive/old photo(1).jpg",
                "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo",
            ),
        )
    ]


def test_batch_operations_2_0_sample_names_the_bucket_and_each_task() -> None:
    event = load_event("batch-operations-2.0.json")
    assert event_kind(event) is EventKind.BATCH_OPERATIONS
    version, tasks = batch_tasks(event)
    assert version == "2.0"
    assert [(t.task_id, t.ref) for t in tasks] == [
        ("dGFza2lkZ29lc2hlcmUK", ObjectRef(BUCKET, "incoming/archive/2019/beach.png", None)),
        (
            "dGFza2lkZ29lc2hlcmUL",
            ObjectRef(BUCKET, "incoming/archive/2019/sunset.jpg", "UIjrY1HqJG0fBwdmBXWTNSeYMhVLLIRT"),
        ),
    ]


# ---- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoded_key", "expected"),
    [
        ("incoming/summer+holiday.jpg", "incoming/summer holiday.jpg"),
        ("incoming/a%2Bb.jpg", "incoming/a+b.jpg"),
        ("incoming/caf%C3%A9.jpg", "incoming/café.jpg"),
        ("incoming/%E5%86%99%E7%9C%9F/%F0%9F%98%80.png", "incoming/写真/😀.png"),
        ("incoming/2024/05/14/deep/nested/photo.jpg", "incoming/2024/05/14/deep/nested/photo.jpg"),
        ("incoming%2Fmoto%2Fencodes%2Fslashes.jpg", "incoming/moto/encodes/slashes.jpg"),
        ("incoming/%20sam%20local%20.jpg", "incoming/ sam local .jpg"),
    ],
)
def test_s3_notification_keys_are_url_decoded(encoded_key: str, expected: str) -> None:
    # GIVEN a record whose key arrives encoded as S3 (or moto, or sam local) writes it
    event = s3_notification(s3_record(BUCKET, encoded_key, encoded=False))
    # WHEN / THEN the object is named by its real key
    assert [r.key for r in refs_from_payload(event)] == [expected]


@pytest.mark.parametrize("key", ["incoming/a b.jpg", "incoming/a+b.jpg", "incoming/ü/%41.jpg", "incoming/x/y/z.gif"])
def test_s3_notification_key_encoded_by_the_builder_round_trips(key: str) -> None:
    event = s3_notification(s3_record(BUCKET, key))
    assert [r.key for r in refs_from_payload(event)] == [key]


@pytest.mark.parametrize("key", ["incoming/a+b.jpg", "incoming/summer holiday.jpg", "incoming/100%25.jpg"])
def test_eventbridge_keys_are_used_as_given(key: str) -> None:
    # GIVEN an EventBridge event: its keys are not URL-encoded, so a '+' is a real '+'
    event = eventbridge_event(BUCKET, key)
    # WHEN / THEN the key is not decoded
    assert [r.key for r in refs_from_payload(event)] == [key]


# ---- versions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("version_id", "expected"), [(None, None), ("null", None), ("", None), ("3sL4kq", "3sL4kq")])
def test_s3_version_id_null_or_absent_means_unversioned(version_id: str | None, expected: str | None) -> None:
    event = s3_notification(s3_record(BUCKET, "incoming/a.jpg", version_id=version_id))
    assert [r.version_id for r in refs_from_payload(event)] == [expected]


@pytest.mark.parametrize(("version_id", "expected"), [(None, None), ("null", None), ("3sL4kq", "3sL4kq")])
def test_eventbridge_version_id_null_or_absent_means_unversioned(version_id: str | None, expected: str | None) -> None:
    event = eventbridge_event(BUCKET, "incoming/a.jpg", version_id=version_id)
    assert [r.version_id for r in refs_from_payload(event)] == [expected]


def test_quoted_etag_is_unquoted() -> None:
    event = s3_notification(s3_record(BUCKET, "incoming/a.jpg", etag='"abc123"'))
    assert [r.etag for r in refs_from_payload(event)] == ["abc123"]


# ---- what names no object ---------------------------------------------------------------------


def test_s3_test_event_names_no_object() -> None:
    assert refs_from_payload(s3_test_event()) == []


def test_s3_test_event_inside_sqs_names_no_object() -> None:
    assert refs_of_sqs(sqs_event(s3_test_event())) == [[]]


@pytest.mark.parametrize(
    "event_name", ["ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated", "ObjectTagging:Put"]
)
def test_records_that_are_not_object_created_name_no_object(event_name: str) -> None:
    event = s3_notification(s3_record(BUCKET, "incoming/a.jpg", event_name=event_name))
    assert refs_from_payload(event) == []


def test_only_object_created_records_of_a_mixed_event_are_named() -> None:
    event = s3_notification(
        s3_record(BUCKET, "incoming/gone.jpg", event_name="ObjectRemoved:Delete"),
        s3_record(BUCKET, "incoming/new.jpg", event_name="ObjectCreated:CompleteMultipartUpload"),
    )
    assert [r.key for r in refs_from_payload(event)] == ["incoming/new.jpg"]


# ---- wrappers ---------------------------------------------------------------------------------


def test_sns_envelope_inside_sqs_is_unwrapped() -> None:
    notification = s3_notification(s3_record(BUCKET, "incoming/a b.jpg"))
    event = sqs_event(sns_envelope(notification))
    assert [[r.key for r in refs] for refs in refs_of_sqs(event)] == [["incoming/a b.jpg"]]


def test_sns_envelope_carrying_a_test_event_names_no_object() -> None:
    assert refs_from_message(json.dumps(sns_envelope(s3_test_event()))) == []


def test_direct_sns_event_is_unwrapped() -> None:
    event = sns_event(s3_notification(s3_record(BUCKET, "incoming/x.png")))
    assert [r.key for r in refs_from_payload(event)] == ["incoming/x.png"]


def test_eventbridge_event_inside_sqs_is_unwrapped() -> None:
    event = sqs_event(eventbridge_event(BUCKET, "incoming/a+b.jpg", version_id="v1", etag="e1", size=7))
    assert refs_of_sqs(event) == [[ObjectRef(BUCKET, "incoming/a+b.jpg", "v1", "e1", 7, "617f08299329d189")]]


# ---- unknown shapes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        "",
        "<html><body>502 Bad Gateway</body></html>",
        "[1, 2, 3]",
        '"a string"',
        "42",
        '{"hello": "world"}',
        '{"Records": [{"eventSource": "aws:dynamodb"}]}',
        '{"Records": ["not an object"]}',
        '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {}}]}',
        '{"Type": "Notification", "Message": "{not json"}',
        '{"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {}}}',
    ],
)
def test_message_bodies_of_unknown_shape_raise_unknown_event_error(body: str) -> None:
    with pytest.raises(UnknownEventError):
        refs_from_message(body)


def test_sns_record_without_a_message_raises_unknown_event_error() -> None:
    event = sns_event("x")
    del event["Records"][0]["Sns"]["Message"]
    with pytest.raises(UnknownEventError, match="SNS record without a Message"):
        refs_from_payload(event)


def test_unknown_event_error_is_permanent() -> None:
    with pytest.raises(UnknownEventError) as caught:
        refs_from_message("{}")
    assert caught.value.kind == "unknown-event"


# ---- event_kind -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        (sqs_event(s3_notification(s3_record(BUCKET, "incoming/a.jpg"))), EventKind.SQS),
        (sqs_event("a", "b", "c"), EventKind.SQS),
        (s3_notification(s3_record(BUCKET, "incoming/a.jpg")), EventKind.NOTIFICATION),
        (sns_event("x"), EventKind.NOTIFICATION),
        (eventbridge_event(BUCKET, "incoming/a.jpg"), EventKind.NOTIFICATION),
        (batch_operations_event(BUCKET, "incoming/a.jpg", schema="1.0"), EventKind.BATCH_OPERATIONS),
        (batch_operations_event(BUCKET, "incoming/a.jpg"), EventKind.BATCH_OPERATIONS),
        ({"Records": []}, EventKind.NOTIFICATION),
    ],
)
def test_event_kind_tells_the_entry_path(event: dict, kind: EventKind) -> None:
    assert event_kind(event) is kind


@pytest.mark.parametrize("event", [None, [], "text", 3])
def test_event_kind_of_a_non_object_raises_unknown_event_error(event: object) -> None:
    with pytest.raises(UnknownEventError):
        event_kind(event)


# ---- Batch Operations -------------------------------------------------------------------------


@pytest.mark.parametrize("schema", ["1.0", "2.0"])
def test_batch_operations_tasks_name_each_object(schema: str) -> None:
    event = batch_operations_event(BUCKET, "incoming/a b.jpg", "incoming/c+d.png", schema=schema, version_id="v9")
    version, tasks = batch_tasks(event)
    assert version == schema
    assert [(t.task_id, t.ref) for t in tasks] == [
        ("task-1", ObjectRef(BUCKET, "incoming/a b.jpg", "v9")),
        ("task-2", ObjectRef(BUCKET, "incoming/c+d.png", "v9")),
    ]


def test_batch_operations_with_an_unknown_schema_raise_unknown_event_error() -> None:
    event = batch_operations_event(BUCKET, "incoming/a.jpg")
    event["invocationSchemaVersion"] = "3.0"
    with pytest.raises(UnknownEventError, match="schema"):
        batch_tasks(event)


def test_batch_operations_task_without_a_key_raises_unknown_event_error() -> None:
    event = batch_operations_event(BUCKET, "incoming/a.jpg", schema="1.0")
    del event["tasks"][0]["s3Key"]
    with pytest.raises(UnknownEventError):
        batch_tasks(event)
