"""Pinning an object named by a key whose encoding is uncertain: the key as given, then its other readings."""

from __future__ import annotations

from moderator.model import Action, ObjectRef, SkipReason, Status
from moderator.pipeline import Moderator
from moderator.settings import Settings
from tests.builders import jpeg_bytes
from tests.unit.conftest import MetricTotals
from tests.unit.fakes import FakeCategorizer, FakePublisher, FakeStorage

BUCKET = "moderation-demo-bucket"
SETTINGS = Settings(imagga_api_key="test-key", imagga_api_secret="test-secret")
SAFE = {"safe": 99.0, "nsfw": 1.0}
#: An EventBridge key as some S3 emulators send it, and the key the object was uploaded under.
ENCODED = "incoming/holiday%20photos/caf%C3%A9%20%2B%20friends.jpg"
DECODED = "incoming/holiday photos/café + friends.jpg"


def moderator_over(storage: FakeStorage, publisher: FakePublisher | None = None) -> Moderator:
    return Moderator(
        storage=storage,
        categorizer=FakeCategorizer(SAFE),
        publisher=publisher or FakePublisher(),
        settings=SETTINGS,
        clock=lambda: "2024-05-14T09:21:40Z",
    )


def test_object_stored_under_the_key_as_given_is_pinned_there_and_no_other_reading_is_tried() -> None:
    # GIVEN an object whose real key contains '%20' literally, and an event naming it with a decoded reading
    storage = FakeStorage()
    storage.put(BUCKET, ENCODED, jpeg_bytes())
    # WHEN it is moderated
    outcome = moderator_over(storage).moderate(ObjectRef(BUCKET, ENCODED, other_keys=(DECODED,)))
    # THEN the key as given is used: one HEAD pins it (the last one confirms, after tagging on this
    # unversioned bucket, that the object tagged is the one judged), that object tagged
    assert (outcome.ref.key, outcome.status) == (ENCODED, Status.SAFE)
    assert storage.calls == ["head", "read", "get_tags", "put_tags", "head"]
    assert storage.objects[(BUCKET, ENCODED)].tags["moderation:status"] == "SAFE"


def test_object_absent_as_given_is_found_and_tagged_under_its_decoded_key() -> None:
    # GIVEN the object uploaded as "holiday photos/café + friends.jpg", named percent-encoded by the event
    storage = FakeStorage()
    storage.put(BUCKET, DECODED, jpeg_bytes())
    # WHEN it is moderated
    outcome = moderator_over(storage).moderate(ObjectRef(BUCKET, ENCODED, "v1", other_keys=(DECODED,)))
    # THEN the decoded key was looked up after the given one, and that object carries the verdict
    assert storage.calls[:2] == ["head", "head"]
    assert (outcome.action, outcome.ref.key, outcome.status) == (Action.TAGGED, DECODED, Status.SAFE)
    assert outcome.ref.version_id == "v1"
    assert storage.objects[(BUCKET, DECODED)].tags["moderation:status"] == "SAFE"


def test_object_under_no_reading_is_skipped_as_gone_and_counted(metric_totals: MetricTotals) -> None:
    # GIVEN an event naming an object that exists under no reading of its key
    storage, publisher = FakeStorage(), FakePublisher()
    # WHEN it is moderated
    outcome = moderator_over(storage, publisher).moderate(ObjectRef(BUCKET, ENCODED, other_keys=(DECODED,)))
    # THEN both readings were looked up once, the skip is "gone", counted and announced
    assert storage.calls == ["head", "head"]
    assert (outcome.action, outcome.skip_reason) == (Action.SKIPPED, SkipReason.GONE)
    assert metric_totals()["SkippedGone"] == 1
    assert publisher.published == [outcome]


def test_skips_other_than_gone_are_not_counted_as_gone(metric_totals: MetricTotals) -> None:
    outcome = moderator_over(FakeStorage()).moderate(ObjectRef(BUCKET, "quarantine/incoming/x.jpg"))
    assert outcome.skip_reason is SkipReason.QUARANTINE_PREFIX
    assert metric_totals() == {"Skipped": 1.0}


def test_a_decoded_reading_under_the_quarantine_prefix_is_never_looked_up() -> None:
    # GIVEN a quarantined copy, and an event whose key decodes to that copy's key
    storage = FakeStorage()
    storage.put(BUCKET, "quarantine/incoming/evil.jpg", jpeg_bytes(), tags={"moderation:status": "UNSAFE"})
    ref = ObjectRef(BUCKET, "quarantine%2Fincoming%2Fevil.jpg", other_keys=("quarantine/incoming/evil.jpg",))
    # WHEN it is moderated
    outcome = moderator_over(storage).moderate(ref)
    # THEN only the key as given was looked up: the loop guard holds for every reading, the copy is untouched
    assert storage.calls == ["head"]
    assert outcome.skip_reason is SkipReason.GONE
    assert storage.objects[(BUCKET, "quarantine/incoming/evil.jpg")].tags == {"moderation:status": "UNSAFE"}
