"""The moderation of one object, with in-memory storage, categorizer and publisher."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import pytest

from moderator.approvals import Approval
from moderator.errors import (
    ImaggaCredentialsError,
    ImaggaRejectedError,
    ImaggaUnavailableError,
    StorageError,
)
from moderator.model import Action, ObjectRef, SkipReason, Status
from moderator.pipeline import Moderator, Once, every_time
from moderator.settings import Settings
from tests.builders import jpeg_bytes, png_bytes
from tests.unit.conftest import MetricTotals
from tests.unit.fakes import FakeApprovals, FakeCategorizer, FakePublisher, FakeStorage

BUCKET = "moderation-demo-bucket"
KEY = "incoming/summer holiday/café + friends.jpg"
NOW = "2024-05-14T09:21:40Z"
SAFE = {"safe": 99.0, "nsfw": 0.5, "underwear": 0.5}
UNSAFE = {"safe": 10.0, "nsfw": 85.0, "underwear": 5.0}
REVIEW = {"safe": 30.0, "nsfw": 5.0, "underwear": 65.0}
BASE_SETTINGS = Settings(imagga_api_key="test-key", imagga_api_secret="test-secret")


@dataclass
class World:
    storage: FakeStorage = field(default_factory=FakeStorage)
    categorizer: FakeCategorizer = field(default_factory=FakeCategorizer)
    publisher: FakePublisher = field(default_factory=FakePublisher)
    settings: Settings = BASE_SETTINGS
    approvals: FakeApprovals = field(default_factory=FakeApprovals)
    once: Once = every_time

    @property
    def moderator(self) -> Moderator:
        return Moderator(
            storage=self.storage,
            categorizer=self.categorizer,
            publisher=self.publisher,
            settings=self.settings,
            once=self.once,
            approvals=self.approvals,
            clock=lambda: NOW,
        )

    def tags(self, key: str = KEY, bucket: str = BUCKET) -> dict[str, str]:
        item = self.storage.item(bucket, key)
        assert item is not None, f"s3://{bucket}/{key} does not exist"
        return item.tags


def world_with(scores: dict[str, float] | None = None, data: bytes | None = None, **settings: object) -> World:
    world = World(categorizer=FakeCategorizer(scores if scores is not None else SAFE))
    world.settings = replace(BASE_SETTINGS, **settings)  # type: ignore[arg-type]
    world.storage.put(BUCKET, KEY, jpeg_bytes(64, 48) if data is None else data, tags={"owner": "ana"})
    return world


# ---- verdicts -----------------------------------------------------------------------------------


def test_safe_image_is_tagged_with_its_scores_and_stays(metric_totals: MetricTotals) -> None:
    # GIVEN a safe image
    world = world_with(SAFE)
    # WHEN it is moderated
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    # THEN it is tagged SAFE next to the uploader's tag, and stays where it is
    assert world.tags() == {
        "owner": "ana",
        "moderation:status": "SAFE",
        "moderation:nsfw": "0.50",
        "moderation:underwear": "0.50",
        "moderation:safe": "99.00",
        "moderation:scanned-at": NOW,
        "moderation:categorizer": "nsfw_beta",
    }
    assert (outcome.action, outcome.status) == (Action.TAGGED, Status.SAFE)
    assert "copy" not in world.storage.calls
    assert metric_totals()["StatusSafe"] == 1


def test_image_sent_to_imagga_is_the_prepared_jpeg() -> None:
    world = world_with(SAFE, data=png_bytes(1600, 900))
    world.moderator.moderate(ObjectRef(BUCKET, KEY))
    [(image, content_type)] = world.categorizer.images
    assert content_type == "image/jpeg"
    assert image[:3] == b"\xff\xd8\xff"


def test_unsafe_image_is_moved_to_quarantine_with_its_tags(metric_totals: MetricTotals) -> None:
    # GIVEN an unsafe image
    world = world_with(UNSAFE)
    # WHEN it is moderated
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    # THEN it is tagged first (and, the bucket being unversioned, the object tagged is confirmed to
    # be the one judged), copied to the quarantine prefix, then deleted
    assert world.storage.calls == ["head", "read", "get_tags", "put_tags", "head", "copy", "delete"]
    assert world.storage.item(BUCKET, KEY) is None
    quarantined = world.tags(f"quarantine/{KEY}")
    assert quarantined["moderation:status"] == "UNSAFE"
    assert quarantined["moderation:nsfw"] == "85.00"
    assert quarantined["owner"] == "ana"
    assert (outcome.action, outcome.quarantine_bucket, outcome.quarantine_key) == (
        Action.QUARANTINED,
        BUCKET,
        f"quarantine/{KEY}",
    )
    assert metric_totals()["Quarantined"] == 1


def test_quarantine_bucket_receives_the_copy_when_configured() -> None:
    world = world_with(UNSAFE, quarantine_bucket="moderation-demo-quarantine", quarantine_prefix="held/")
    world.moderator.moderate(ObjectRef(BUCKET, KEY))
    assert world.tags(f"held/{KEY}", bucket="moderation-demo-quarantine")["moderation:status"] == "UNSAFE"
    assert world.storage.item(BUCKET, KEY) is None


def test_review_image_is_tagged_but_not_moved_by_default() -> None:
    world = world_with(REVIEW)
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    assert world.tags()["moderation:status"] == "REVIEW"
    assert outcome.action is Action.TAGGED


def test_review_image_is_moved_when_review_is_a_quarantine_status() -> None:
    world = world_with(REVIEW, quarantine_statuses=frozenset({Status.UNSAFE, Status.REVIEW}))
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    assert outcome.action is Action.QUARANTINED
    assert world.tags(f"quarantine/{KEY}")["moderation:status"] == "REVIEW"


def test_monitor_mode_tags_but_does_not_move() -> None:
    # GIVEN monitor mode and an unsafe image
    world = world_with(UNSAFE, mode="monitor")
    # WHEN it is moderated
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    # THEN it is tagged UNSAFE where it is, and nothing is copied or deleted
    assert world.tags()["moderation:status"] == "UNSAFE"
    assert outcome.action is Action.TAGGED
    assert not {"copy", "delete"} & set(world.storage.calls)


def test_uploaders_approved_tag_does_not_skip_the_scan() -> None:
    # GIVEN an upload that arrives already tagged APPROVED by its uploader
    world = world_with(UNSAFE)
    world.storage.put(BUCKET, KEY, jpeg_bytes(), tags={"moderation:status": "APPROVED", "moderation:nsfw": "0.00"})
    # WHEN it is moderated
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    # THEN Imagga is asked all the same and the forged tags are replaced
    assert len(world.categorizer.images) == 1
    assert outcome.status is Status.UNSAFE
    assert world.tags(f"quarantine/{KEY}")["moderation:nsfw"] == "85.00"


def test_human_approval_of_exactly_these_bytes_skips_the_scan() -> None:
    # GIVEN a human approved these exact bytes in the approvals table
    data = jpeg_bytes(32, 32)
    world = world_with(UNSAFE, data=data)
    digest = hashlib.sha256(data).hexdigest()
    world.approvals.record(Approval(BUCKET, KEY, digest, "moderator@example.com", NOW))
    # WHEN it is moderated
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    # THEN Imagga is not asked and the object stays, untouched
    assert (outcome.action, outcome.skip_reason) == (Action.SKIPPED, SkipReason.APPROVED)
    assert world.categorizer.images == []
    assert world.tags() == {"owner": "ana"}


def test_publisher_is_called_once_per_moderated_object() -> None:
    world = world_with(UNSAFE)
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    assert world.publisher.published == [outcome]


# ---- skipped without any call --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bucket", "key", "reason"),
    [
        (BUCKET, "quarantine/incoming/a.jpg", SkipReason.QUARANTINE_PREFIX),
        ("another-bucket", "quarantine/a.jpg", SkipReason.QUARANTINE_PREFIX),
        (BUCKET, "incoming/folder/", SkipReason.FOLDER_MARKER),
    ],
)
def test_loop_guard_and_folder_keys_are_skipped_without_any_call(
    bucket: str, key: str, reason: SkipReason, metric_totals: MetricTotals
) -> None:
    # GIVEN an event naming our own quarantined copy, or a folder marker
    world = world_with(UNSAFE)
    world.storage.put(bucket, key, jpeg_bytes())
    # WHEN it is moderated
    outcome = world.moderator.moderate(ObjectRef(bucket, key))
    # THEN nothing is called at all
    assert (outcome.action, outcome.skip_reason) == (Action.SKIPPED, reason)
    assert world.storage.calls == []
    assert world.categorizer.images == []
    assert world.publisher.published == []
    assert metric_totals()["Skipped"] == 1


def test_custom_quarantine_prefix_is_the_loop_guard() -> None:
    world = world_with(UNSAFE, quarantine_prefix="held/")
    outcome = world.moderator.moderate(ObjectRef(BUCKET, "held/incoming/a.jpg"))
    assert outcome.skip_reason is SkipReason.QUARANTINE_PREFIX
    assert world.storage.calls == []


def test_key_outside_the_incoming_prefix_is_still_moderated() -> None:
    world = world_with(SAFE)
    world.storage.put(BUCKET, "elsewhere/a.jpg", jpeg_bytes())
    outcome = world.moderator.moderate(ObjectRef(BUCKET, "elsewhere/a.jpg"))
    assert outcome.status is Status.SAFE


def test_gone_object_is_skipped_and_announced() -> None:
    # GIVEN an event for an object deleted since
    world = world_with(UNSAFE)
    # WHEN it is moderated
    outcome = world.moderator.moderate(ObjectRef(BUCKET, "incoming/deleted-meanwhile.jpg"))
    # THEN it is skipped as gone, after a HEAD only, and subscribers hear of it
    assert (outcome.action, outcome.skip_reason) == (Action.SKIPPED, SkipReason.GONE)
    assert world.storage.calls == ["head"]
    assert world.publisher.published == [outcome]


# ---- UNSUPPORTED ---------------------------------------------------------------------------------


def test_too_large_object_is_judged_from_its_size_without_reading_it() -> None:
    # GIVEN an object a HEAD reports as over the size limit
    world = world_with(UNSAFE, max_image_bytes=1_000)
    world.storage.reported_sizes[(BUCKET, KEY)] = 1_001
    # WHEN it is moderated
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    # THEN it is UNSUPPORTED / too-large, never downloaded, Imagga never asked
    assert outcome.status is Status.UNSUPPORTED
    assert "read" not in world.storage.calls
    assert world.categorizer.images == []
    tags = world.tags()
    assert (tags["moderation:status"], tags["moderation:reason"]) == ("UNSUPPORTED", "too-large")
    assert tags["moderation:scanned-at"] == NOW
    assert "moderation:categorizer" not in tags


def test_empty_object_is_unsupported_without_reading_it() -> None:
    world = world_with(SAFE, data=b"")
    world.moderator.moderate(ObjectRef(BUCKET, KEY))
    assert world.tags()["moderation:reason"] == "empty"
    assert "read" not in world.storage.calls


def test_object_that_is_not_an_image_is_unsupported_and_not_sent() -> None:
    world = world_with(SAFE, data=b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n")
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    assert (outcome.status, outcome.reason) == (Status.UNSUPPORTED, "not-an-image")
    assert world.categorizer.images == []
    assert world.publisher.published == [outcome]


def test_unsupported_is_quarantined_when_configured() -> None:
    world = world_with(SAFE, data=b"not an image", quarantine_statuses=frozenset({Status.UNSUPPORTED}))
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    assert outcome.action is Action.QUARANTINED
    assert world.tags(f"quarantine/{KEY}")["moderation:reason"] == "not-an-image"


# ---- errors --------------------------------------------------------------------------------------


def test_imagga_rejection_is_tagged_error_and_not_raised() -> None:
    # GIVEN Imagga answers 400 for the image
    world = world_with(SAFE)
    world.categorizer.error = ImaggaRejectedError("Imagga rejected the image (HTTP 400: bad image)")
    # WHEN it is moderated
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    # THEN the object is tagged ERROR / imagga-rejected and the record succeeds
    assert (outcome.status, outcome.reason) == (Status.ERROR, "imagga-rejected")
    tags = world.tags()
    assert (tags["moderation:status"], tags["moderation:reason"]) == ("ERROR", "imagga-rejected")
    assert tags["moderation:categorizer"] == "nsfw_beta"
    assert world.publisher.published == [outcome]


def test_failure_before_the_last_attempt_raises_without_tagging(metric_totals: MetricTotals) -> None:
    # GIVEN Imagga is unavailable and more deliveries will follow
    world = world_with(SAFE)
    world.categorizer.error = ImaggaUnavailableError("Imagga POST failed after 4 attempts")
    # WHEN / THEN the error is raised for a retry, the object keeps only its own tags
    with pytest.raises(ImaggaUnavailableError):
        world.moderator.moderate(ObjectRef(BUCKET, KEY))
    assert world.tags() == {"owner": "ana"}
    assert world.publisher.published == []
    assert metric_totals()["ErrorImaggaUnavailable"] == 1


def test_last_attempt_tags_error_with_a_reason_and_re_raises() -> None:
    # GIVEN Imagga is unavailable on the message's last delivery
    world = world_with(SAFE)
    world.categorizer.error = ImaggaUnavailableError("Imagga POST failed after 4 attempts")
    # WHEN it is moderated
    with pytest.raises(ImaggaUnavailableError):
        world.moderator.moderate(ObjectRef(BUCKET, KEY), last_attempt=True)
    # THEN the object is left with an ERROR status saying why, and the result is published
    tags = world.tags()
    assert tags["moderation:status"] == "ERROR"
    assert tags["moderation:reason"] == "imagga-unavailable"
    assert tags["moderation:categorizer"] == "nsfw_beta"
    assert tags["owner"] == "ana"
    assert [o.status for o in world.publisher.published] == [Status.ERROR]


def test_last_attempt_after_a_storage_failure_names_no_categorizer() -> None:
    world = world_with(SAFE)
    world.storage.failures["read"] = StorageError("SlowDown")
    with pytest.raises(StorageError):
        world.moderator.moderate(ObjectRef(BUCKET, KEY), last_attempt=True)
    tags = world.tags()
    assert (tags["moderation:status"], tags["moderation:reason"]) == ("ERROR", "s3-error")
    assert "moderation:categorizer" not in tags


def test_last_attempt_re_raises_the_original_error_when_tagging_also_fails() -> None:
    world = world_with(SAFE)
    world.categorizer.error = ImaggaCredentialsError("Imagga refused the API credentials (HTTP 401)")
    world.storage.failures["put_tags"] = StorageError("tagging failed too")
    with pytest.raises(ImaggaCredentialsError):
        world.moderator.moderate(ObjectRef(BUCKET, KEY), last_attempt=True)
    assert world.tags() == {"owner": "ana"}
    assert world.publisher.published == []


def test_deadline_is_handed_to_the_categorizer() -> None:
    world = world_with(SAFE)

    def deadline() -> float:
        return 42.0

    world.moderator.moderate(ObjectRef(BUCKET, KEY), deadline)
    assert world.categorizer.deadlines == [deadline]
