"""The handler's entry paths, through `lambda_handler` with fakes behind the wiring."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from moderator.app import lambda_handler
from moderator.delivery import RecordsFailedError
from moderator.errors import ImaggaUnavailableError, StorageAccessError, StorageError
from moderator.events import UnknownEventError
from moderator.pipeline import Moderator
from moderator.settings import Settings
from moderator.wiring import Services
from tests.builders import (
    FakeLambdaContext,
    batch_operations_event,
    eventbridge_event,
    jpeg_bytes,
    load_event,
    s3_notification,
    s3_record,
    s3_test_event,
    sns_envelope,
    sqs_event,
)
from tests.unit.fakes import FakeCategorizer, FakePublisher, FakeStorage

BUCKET = "moderation-demo-bucket"
SETTINGS = Settings(imagga_api_key="test-key", imagga_api_secret="test-secret", max_receive_count=3)
KEYS = ("incoming/a.jpg", "incoming/b.jpg", "incoming/c.jpg")


class Harness:
    def __init__(self, *keys: str, settings: Settings = SETTINGS) -> None:
        self.storage = FakeStorage()
        self.categorizer = FakeCategorizer({"safe": 99.0, "nsfw": 1.0})
        self.publisher = FakePublisher()
        self.settings = settings
        for key in keys:
            self.storage.put(BUCKET, key, jpeg_bytes(16, 16))

    def invoke(self, event: dict[str, Any], remaining_ms: int = 300_000) -> dict[str, Any]:
        moderator = Moderator(
            storage=self.storage, categorizer=self.categorizer, publisher=self.publisher, settings=self.settings
        )
        services = Services(settings=self.settings, moderator=moderator)
        return lambda_handler(event, FakeLambdaContext(remaining_ms=remaining_ms), services=services)  # type: ignore[arg-type]

    def status(self, key: str) -> str | None:
        item = self.storage.item(BUCKET, key)
        assert item is not None
        return item.tags.get("moderation:status")


def notification_for(key: str) -> dict[str, Any]:
    return s3_notification(s3_record(BUCKET, key))


# ---- SQS ---------------------------------------------------------------------------------------


def test_sqs_batch_reports_only_the_failing_message() -> None:
    # GIVEN three messages, the second naming an object S3 fails on
    harness = Harness(*KEYS)
    harness.storage.failing_keys["incoming/b.jpg"] = StorageError("SlowDown")
    # WHEN the batch is handled
    response = harness.invoke(sqs_event(*(notification_for(k) for k in KEYS)))
    # THEN only that message goes back to the queue; the others are moderated
    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-2"}]}
    assert harness.status("incoming/a.jpg") == "SAFE"
    assert harness.status("incoming/c.jpg") == "SAFE"


def test_sqs_batch_where_all_succeed_reports_no_failure() -> None:
    harness = Harness(*KEYS)
    response = harness.invoke(sqs_event(*(notification_for(k) for k in KEYS)))
    assert response == {"batchItemFailures": []}
    assert [harness.status(k) for k in KEYS] == ["SAFE", "SAFE", "SAFE"]


def test_sqs_batch_where_every_message_fails_returns_every_message() -> None:
    harness = Harness(*KEYS)
    harness.categorizer.error = ImaggaUnavailableError("down")
    response = harness.invoke(sqs_event(notification_for(KEYS[0]), notification_for(KEYS[1])))
    # Two messages are handled at once: the failures are listed in the order they finished.
    failed = sorted(item["itemIdentifier"] for item in response["batchItemFailures"])
    assert failed == ["msg-1", "msg-2"]
    assert set(response) == {"batchItemFailures"}


def test_s3_test_event_message_is_acknowledged() -> None:
    # GIVEN the s3:TestEvent S3 sends when notifications are set up
    harness = Harness()
    # WHEN it arrives through SQS
    response = harness.invoke(sqs_event(s3_test_event()))
    # THEN it succeeds and nothing is touched
    assert response == {"batchItemFailures": []}
    assert harness.storage.calls == []


def test_sample_sqs_test_event_is_acknowledged() -> None:
    harness = Harness()
    assert harness.invoke(load_event("sqs-s3-test-event.json")) == {"batchItemFailures": []}


def test_message_of_unknown_shape_fails_alone() -> None:
    # GIVEN a good message between two that are not S3 events
    harness = Harness(*KEYS)
    event = sqs_event("this is not json", notification_for(KEYS[0]), {"unexpected": "shape"})
    # WHEN handled
    response = harness.invoke(event)
    # THEN both bad messages fail and the good one is moderated
    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-1"}, {"itemIdentifier": "msg-3"}]}
    assert harness.status(KEYS[0]) == "SAFE"


def test_sns_wrapped_message_is_moderated() -> None:
    harness = Harness("incoming/a b.jpg")
    response = harness.invoke(sqs_event(sns_envelope(notification_for("incoming/a b.jpg"))))
    assert response == {"batchItemFailures": []}
    assert harness.status("incoming/a b.jpg") == "SAFE"


def test_eventbridge_message_is_moderated_by_its_raw_key() -> None:
    harness = Harness("incoming/a+b.jpg")
    harness.invoke(sqs_event(eventbridge_event(BUCKET, "incoming/a+b.jpg")))
    assert harness.status("incoming/a+b.jpg") == "SAFE"


@pytest.mark.parametrize(("receive_count", "tagged"), [(2, None), (3, "ERROR"), (7, "ERROR")])
def test_receive_count_reaching_max_receive_count_is_the_last_attempt(receive_count: int, tagged: str | None) -> None:
    # GIVEN Imagga is unavailable and MAX_RECEIVE_COUNT is 3
    harness = Harness(KEYS[0])
    harness.categorizer.error = ImaggaUnavailableError("down")
    # WHEN the message arrives for the n-th time
    response = harness.invoke(sqs_event(notification_for(KEYS[0]), receive_count=receive_count))
    # THEN it fails either way; on the last delivery the object is tagged ERROR first
    assert response == {"batchItemFailures": [{"itemIdentifier": "msg-1"}]}
    assert harness.status(KEYS[0]) == tagged


def test_remaining_time_of_the_invocation_is_the_deadline() -> None:
    harness = Harness(KEYS[0])
    harness.invoke(sqs_event(notification_for(KEYS[0])), remaining_ms=45_500)
    [deadline] = harness.categorizer.deadlines
    assert deadline is not None
    assert deadline() == 45.5


# ---- S3, SNS and EventBridge delivered directly ------------------------------------------------


def test_direct_s3_event_moderates_every_record() -> None:
    harness = Harness(*KEYS)
    response = harness.invoke(s3_notification(*(s3_record(BUCKET, k) for k in KEYS)))
    assert response["objects"] == 3
    assert [o["status"] for o in response["outcomes"]] == ["SAFE", "SAFE", "SAFE"]
    assert [harness.status(k) for k in KEYS] == ["SAFE", "SAFE", "SAFE"]


def test_direct_s3_event_with_one_failing_record_raises_after_the_others_were_moderated() -> None:
    # GIVEN three records, the first failing
    harness = Harness(*KEYS)
    harness.storage.failing_keys[KEYS[0]] = StorageError("SlowDown")
    # WHEN the event is handled
    with pytest.raises(RecordsFailedError, match=r"1 of 3 objects failed: incoming/a.jpg: s3-error"):
        harness.invoke(s3_notification(*(s3_record(BUCKET, k) for k in KEYS)))
    # THEN the other two were moderated before the failure was raised (Lambda retries the event)
    assert harness.status(KEYS[1]) == "SAFE"
    assert harness.status(KEYS[2]) == "SAFE"


def test_direct_failure_is_not_tagged_error() -> None:
    # Direct invocations are retried by Lambda itself: no last-attempt tagging (contract-notes §7).
    harness = Harness(KEYS[0])
    harness.categorizer.error = ImaggaUnavailableError("down")
    with pytest.raises(RecordsFailedError):
        harness.invoke(notification_for(KEYS[0]))
    assert harness.status(KEYS[0]) is None


def test_direct_eventbridge_sample_is_moderated() -> None:
    key = "incoming/summer holiday/café + friends.jpg"
    harness = Harness(key)
    response = harness.invoke(load_event("eventbridge-object-created.json"))
    assert response["objects"] == 1
    assert harness.status(key) == "SAFE"


def test_direct_event_of_unknown_shape_raises() -> None:
    harness = Harness()
    with pytest.raises(UnknownEventError):
        harness.invoke({"hello": "world"})


def test_direct_s3_test_event_names_no_object() -> None:
    harness = Harness()
    assert harness.invoke(s3_test_event()) == {"objects": 0, "outcomes": []}


# ---- S3 Batch Operations -------------------------------------------------------------------------


@pytest.mark.parametrize("schema", ["1.0", "2.0"])
def test_batch_operations_results_per_task(schema: str) -> None:
    # GIVEN four tasks: a safe image, a throttled read, a denied read, and a deleted object
    harness = Harness("incoming/ok.jpg", "incoming/throttled.jpg", "incoming/denied.jpg")
    harness.storage.failing_keys["incoming/throttled.jpg"] = StorageError("SlowDown")
    harness.storage.failing_keys["incoming/denied.jpg"] = StorageAccessError("AccessDenied")
    event = batch_operations_event(
        BUCKET,
        "incoming/ok.jpg",
        "incoming/throttled.jpg",
        "incoming/denied.jpg",
        "incoming/gone.jpg",
        schema=schema,
    )
    # WHEN the job invokes the function
    response = harness.invoke(event)
    # THEN each task has its own result code
    assert response["invocationSchemaVersion"] == schema
    assert response["invocationId"] == event["invocationId"]
    assert response["treatMissingKeysAs"] == "PermanentFailure"
    assert [(r["taskId"], r["resultCode"]) for r in response["results"]] == [
        ("task-1", "Succeeded"),
        ("task-2", "TemporaryFailure"),
        ("task-3", "PermanentFailure"),
        ("task-4", "Succeeded"),
    ]
    strings = [r["resultString"] for r in response["results"]]
    assert strings[0] == "SAFE"
    assert strings[1].startswith("s3-error:")
    assert strings[2].startswith("s3-access:")
    assert strings[3] == "SKIPPED:gone"


def test_batch_operations_unsafe_object_is_quarantined() -> None:
    harness = Harness("incoming/old.jpg")
    harness.categorizer.scores = {"nsfw": 90.0, "safe": 10.0}
    response = harness.invoke(batch_operations_event(BUCKET, "incoming/old.jpg", schema="1.0"))
    assert [r["resultString"] for r in response["results"]] == ["UNSAFE"]
    assert harness.storage.item(BUCKET, "quarantine/incoming/old.jpg") is not None


def test_batch_operations_in_monitor_mode_leave_objects_in_place() -> None:
    harness = Harness("incoming/old.jpg", settings=replace(SETTINGS, mode="monitor"))
    harness.categorizer.scores = {"nsfw": 90.0, "safe": 10.0}
    response = harness.invoke(batch_operations_event(BUCKET, "incoming/old.jpg"))
    assert [r["resultCode"] for r in response["results"]] == ["Succeeded"]
    assert harness.status("incoming/old.jpg") == "UNSAFE"
