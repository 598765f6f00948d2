"""Every event shape the function can receive, parsed to the objects it names."""

from __future__ import annotations

import json

import pytest

from moderator.events import (
    EventKind,
    UnknownEventError,
    batch_invocation,
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

BUCKET = "moderation-demo-bucket"  # the bucket every sample in infra/events names
HOLIDAY_KEY = "incoming/summer holiday/café + friends.jpg"
VERSIONED_KEY = "incoming/portraits/IMG_0042.JPG"
ARCHIVE_KEY = "incoming/archive/old photo(1)+.jpg"


def refs_of_sqs(event: dict) -> list[list[ObjectRef]]:
    return [refs_from_message(record["body"]) for record in event["Records"]]


# ---- the samples in infra/events (SAM CLI, Powertools, AWS docs: see its README) ---------------


def test_sam_s3_put_names_the_decoded_key_with_its_etag_size_and_sequencer() -> None:
    # GIVEN the SAM CLI's S3 Put event, whose key it percent-encoded (%20, %2B, %C3%A9)
    event = load_event("s3-put.json")
    # WHEN it is parsed
    refs = refs_from_payload(event)
    # THEN it names the object under its real key, with the event's ETag, size and sequencer
    assert refs == [
        ObjectRef(BUCKET, HOLIDAY_KEY, None, "0123456789abcdef0123456789abcdef", 1024, "0A1B2C3D4E5F678901")
    ]


def test_aws_docs_versioned_put_keeps_its_version_id_and_sequencer() -> None:
    refs = refs_from_payload(load_event("s3-put-versioned.json"))
    assert [(r.key, r.version_id, r.sequencer) for r in refs] == [
        (VERSIONED_KEY, "096fKKXTRTtl3on89fVO.nfljtsv6qko", "0055AED6DCD90281E5")
    ]


def test_sam_s3_delete_names_no_object() -> None:
    assert refs_from_payload(load_event("s3-delete.json")) == []


def test_sam_sqs_message_carrying_the_sam_s3_put_names_its_object() -> None:
    event = load_event("sqs-s3.json")
    assert event_kind(event) is EventKind.SQS
    assert [[r.key for r in refs] for refs in refs_of_sqs(event)] == [[HOLIDAY_KEY]]


def test_powertools_sqs_sample_of_a_versioned_put_keeps_version_and_sequencer() -> None:
    event = load_event("sqs-s3-versioned.json")
    assert event_kind(event) is EventKind.SQS
    assert refs_of_sqs(event) == [
        [
            ObjectRef(
                BUCKET,
                VERSIONED_KEY,
                "yd3d4HaWOT2zguDLvIQLU6ptDTwKBnQV",
                "2e3ad1e983318bbd8e73b080e2997980",
                104681,
                "00643717F9F8B85354",
            )
        ]
    ]


def test_powertools_sns_in_sqs_sample_is_unwrapped_twice() -> None:
    event = load_event("sqs-sns-s3.json")
    assert refs_of_sqs(event) == [
        [
            ObjectRef(
                BUCKET,
                VERSIONED_KEY,
                "096fKKXTRTtl3on89fVO.nfljtsv6qko",
                "d41d8cd98f00b204e9800998ecf8427e",
                1024,
                "0055AED6DCD90281E5",
            )
        ]
    ]


def test_sam_sns_notification_is_a_notification_naming_the_decoded_key() -> None:
    event = load_event("sns-s3.json")
    assert event_kind(event) is EventKind.NOTIFICATION
    assert [r.key for r in refs_from_payload(event)] == [HOLIDAY_KEY]


def test_aws_docs_test_message_inside_sqs_names_no_object() -> None:
    assert refs_of_sqs(load_event("sqs-s3-test-event.json")) == [[]]


def test_aws_docs_eventbridge_object_created_names_the_raw_key_version_and_sequencer() -> None:
    event = load_event("eventbridge-object-created.json")
    assert event_kind(event) is EventKind.NOTIFICATION
    assert refs_from_payload(event) == [
        ObjectRef(
            BUCKET,
            HOLIDAY_KEY,
            "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
            "b1946ac92492d2347c6235b4d2611184",
            5,
            "617f08299329d189",
        )
    ]


def test_aws_docs_eventbridge_object_deleted_names_no_object() -> None:
    assert refs_from_payload(load_event("eventbridge-object-deleted.json")) == []


def test_powertools_eventbridge_sample_inside_sqs_names_an_unversioned_object() -> None:
    event = load_event("sqs-eventbridge.json")
    assert refs_of_sqs(event) == [
        [ObjectRef(BUCKET, HOLIDAY_KEY, None, "4e68adba0abe2dc8653dc3354e14c01d", 184662, "006408CAD69598B05E")]
    ]


def test_sam_batch_invocation_names_the_bucket_by_arn_and_decodes_the_key() -> None:
    event = load_event("batch-operations-1.0.json")
    assert event_kind(event) is EventKind.BATCH_OPERATIONS
    invocation = batch_invocation(event)
    assert (invocation.schema, invocation.invocation_id) == ("1.0", event["invocationId"])
    assert [(t.task_id, t.ref.bucket, t.ref.key, t.ref.version_id) for t in invocation.tasks] == [
        ("dGFza2lkZ29lc2hlcmUK", BUCKET, ARCHIVE_KEY, "1")
    ]


def test_powertools_batch_schema_2_names_the_bucket_by_name_and_decodes_the_key() -> None:
    # GIVEN Powertools' schema 2.0 sample: the bucket in `s3Bucket`, no version
    event = load_event("batch-operations-2.0.json")
    assert event_kind(event) is EventKind.BATCH_OPERATIONS
    # WHEN its tasks are read
    invocation = batch_invocation(event)
    # THEN the task names the object by bucket name and decoded key
    assert invocation.schema == "2.0"
    assert [(t.task_id, t.ref.bucket, t.ref.key, t.ref.version_id) for t in invocation.tasks] == [
        ("dGFza2lkZ29lc2hlcmUK", BUCKET, ARCHIVE_KEY, None)
    ]


def test_batch_schema_2_task_with_a_bucket_field_aws_never_sends_is_refused() -> None:
    # GIVEN a schema 2.0 task naming its bucket in `s3BucketName` (not an AWS field) instead of `s3Bucket`
    event = load_event("batch-operations-2.0.json")
    event["tasks"][0]["s3BucketName"] = event["tasks"][0].pop("s3Bucket")
    # WHEN / THEN it is an unknown shape, named as such
    with pytest.raises(UnknownEventError, match="s3Bucket"):
        batch_invocation(event)


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


@pytest.mark.parametrize(
    ("key", "other_keys"),
    [
        ("incoming/a+b.jpg", ()),
        ("incoming/summer holiday.jpg", ()),
        # as some S3 emulators send it: percent-encoded, '+' as %2B; decoded with unquote, never unquote_plus
        ("incoming/holiday%20photos/caf%C3%A9%20%2B%20x.jpg", ("incoming/holiday photos/café + x.jpg",)),
        ("incoming/a+b%20c.jpg", ("incoming/a+b c.jpg",)),
        ("incoming/100%25.jpg", ("incoming/100%.jpg",)),
    ],
)
def test_eventbridge_keys_are_used_as_given_with_the_percent_decoded_key_as_other_reading(
    key: str, other_keys: tuple[str, ...]
) -> None:
    # GIVEN an EventBridge event: AWS sends its keys as written, so a '+' is a real '+'
    event = eventbridge_event(BUCKET, key)
    # WHEN it is parsed
    [ref] = refs_from_payload(event)
    # THEN the key is the one given, and its percent-decoded form (if different) is the other reading
    assert (ref.key, ref.other_keys) == (key, other_keys)


def test_s3_notification_keys_have_no_other_reading() -> None:
    # GIVEN an S3 notification: S3 always URL-encodes its keys, so there is one reading only
    event = s3_notification(s3_record(BUCKET, "incoming/100%.jpg"), s3_record(BUCKET, "incoming/a%2520b.jpg"))
    # WHEN / THEN
    assert [(r.key, r.other_keys) for r in refs_from_payload(event)] == [
        ("incoming/100%.jpg", ()),
        ("incoming/a%2520b.jpg", ()),
    ]


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
    invocation = batch_invocation(event)
    assert invocation.schema == schema
    assert [(t.task_id, t.ref.bucket, t.ref.key, t.ref.version_id) for t in invocation.tasks] == [
        ("task-1", BUCKET, "incoming/a b.jpg", "v9"),
        ("task-2", BUCKET, "incoming/c+d.png", "v9"),
    ]


@pytest.mark.parametrize(
    ("s3_key", "key", "other_keys"),
    [
        # written by `backfill --batch-operations` (quote): decoded, and the key as written is the other reading
        ("incoming/a%20b%2Bc.jpg", "incoming/a b+c.jpg", ("incoming/a%20b%2Bc.jpg",)),
        # a '+' left unencoded by another tool: a space by AWS's rule, a plus sign by the other reading
        ("incoming/a+b.jpg", "incoming/a b.jpg", ("incoming/a+b.jpg",)),
        # a literal '%41' in a key left unencoded
        ("incoming/%41.jpg", "incoming/A.jpg", ("incoming/%41.jpg",)),
        # nothing to decode: one reading only
        ("incoming/plain.jpg", "incoming/plain.jpg", ()),
    ],
)
def test_batch_operations_keys_are_url_decoded_and_carry_their_other_readings(
    s3_key: str, key: str, other_keys: tuple[str, ...]
) -> None:
    # GIVEN a task whose manifest key is written one way or another
    event = load_event("batch-operations-2.0.json")
    event["tasks"][0]["s3Key"] = s3_key
    # WHEN it is read
    [task] = batch_invocation(event).tasks
    # THEN the key is URL-decoded as AWS documents, and the other readings follow in order
    assert (task.ref.key, task.ref.other_keys) == (key, other_keys)


def test_batch_operations_with_an_unknown_schema_raise_unknown_event_error() -> None:
    event = batch_operations_event(BUCKET, "incoming/a.jpg")
    event["invocationSchemaVersion"] = "3.0"
    with pytest.raises(UnknownEventError, match="schema"):
        batch_invocation(event)


def test_batch_operations_task_without_a_key_raises_unknown_event_error() -> None:
    event = batch_operations_event(BUCKET, "incoming/a.jpg", schema="1.0")
    del event["tasks"][0]["s3Key"]
    with pytest.raises(UnknownEventError):
        batch_invocation(event)
