"""The pipeline with a content memory: scores reused for the same bytes, human rejections followed by
the bytes and by near-copies, approvals bound to their bytes and key - with in-memory fakes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from infra.bench.corpus import SAMPLES, crop, encoded, source_images

from moderator.approvals import Approval
from moderator.content_memory import rejection_of
from moderator.model import Action, ObjectRef, Outcome, SkipReason, Status
from moderator.pipeline import Moderator
from moderator.policy import Thresholds
from moderator.settings import Settings
from tests.unit.conftest import MetricTotals
from tests.unit.fakes import FakeApprovals, FakeCategorizer, FakeMemory, FakePublisher, FakeStorage, RememberingOnce

BUCKET = "moderation-demo-bucket"
OTHER_BUCKET = "another-moderated-bucket"
SAFE = {"safe": 85.0, "nsfw": 15.0, "underwear": 0.0}
UNSAFE = {"safe": 10.0, "nsfw": 85.0, "underwear": 5.0}
SETTINGS = Settings(imagga_api_key="test-key", imagga_api_secret="test-secret")
FIRST_SCAN = "2026-11-01T08:00:00.000Z"
REVIEWER = "arn:aws:iam::123456789012:user/reviewer"
COFFEE = (SAMPLES / "coffee.jpg").read_bytes()


@dataclass
class World:
    storage: FakeStorage = field(default_factory=FakeStorage)
    categorizer: FakeCategorizer = field(default_factory=lambda: FakeCategorizer(SAFE))
    publisher: FakePublisher = field(default_factory=FakePublisher)
    approvals: FakeApprovals = field(default_factory=FakeApprovals)
    memory: FakeMemory = field(default_factory=FakeMemory)
    settings: Settings = SETTINGS
    now: str = FIRST_SCAN

    def moderator(self, **changes: object) -> Moderator:
        built = Moderator(
            storage=self.storage,
            categorizer=self.categorizer,
            publisher=self.publisher,
            settings=self.settings,
            approvals=self.approvals,
            memory=self.memory,
            clock=lambda: self.now,
        )
        return replace(built, **changes)

    def upload(self, key: str, data: bytes, bucket: str = BUCKET, **changes: object) -> Outcome:
        self.storage.put(bucket, key, data)
        return self.moderator(**changes).moderate(ObjectRef(bucket, key))

    def reject(self, data: bytes, location: str = f"s3://{BUCKET}/incoming/first.jpg", at: str = FIRST_SCAN) -> str:
        """What a human's rejection leaves in the memory (review.py makes it the same way)."""
        sha256 = hashlib.sha256(data).hexdigest()
        rejection = rejection_of(
            sha256, data, location=location, rejected_by=REVIEWER, rejected_at=at, settings=self.settings
        )
        self.memory.remember_rejected(rejection.image, rejection.index)
        return sha256


def test_the_same_bytes_anywhere_are_decided_from_the_remembered_scores_without_a_call() -> None:
    # GIVEN a photo categorized once (SAFE: nsfw 15 under the default threshold of 20)
    world = World()
    first = world.upload("incoming/a/coffee.jpg", COFFEE)
    assert (first.status, first.imagga_attempts, first.reused_from) == (Status.SAFE, 1, None)

    # WHEN the same bytes are uploaded later in another bucket, under another key, after the threshold
    # was lowered to 10 %
    world.settings = replace(SETTINGS, thresholds=Thresholds(unsafe=10, review=50))
    world.now = "2026-11-05T12:00:00.000Z"
    again = world.upload("incoming/elsewhere/copy.jpg", COFFEE, bucket=OTHER_BUCKET)

    # THEN Imagga is not asked; the remembered scores are decided with today's threshold: UNSAFE,
    # quarantined with its own tags, and the outcome says from when the scores are
    assert len(world.categorizer.images) == 1
    assert (again.status, again.action, again.imagga_attempts) == (Status.UNSAFE, Action.QUARANTINED, 0)
    assert again.reused_from == FIRST_SCAN and again.scores == SAFE
    tags = world.storage.objects[(OTHER_BUCKET, "quarantine/incoming/elsewhere/copy.jpg")].tags
    assert tags["moderation:status"] == "UNSAFE" and tags["moderation:nsfw"] == "15.00"
    assert tags["moderation:scanned-at"] == "2026-11-05T12:00:00.000Z"
    assert world.publisher.published[-1].reused_from == FIRST_SCAN


def test_a_reused_verdict_is_counted_as_reused_and_as_no_imagga_call(metric_totals: MetricTotals) -> None:
    # GIVEN bytes categorized once
    world = World()
    world.upload("incoming/one.jpg", COFFEE)

    # WHEN they come again
    world.upload("incoming/two.jpg", COFFEE)

    # THEN the second counts as reused and adds no Imagga call
    assert metric_totals()["ScoresReused"] == 1
    assert metric_totals()["ImaggaCalls"] == 1


def test_a_rescan_asks_imagga_again_and_remembers_the_fresh_scores() -> None:
    # GIVEN bytes categorized once
    world = World()
    world.upload("incoming/one.jpg", COFFEE)

    # WHEN they are moderated again without reusing scores (backfill --rescan), and Imagga now answers UNSAFE
    world.categorizer.scores = UNSAFE
    world.now = "2026-11-05T12:00:00.000Z"
    rescanned = world.upload("incoming/one.jpg", COFFEE, reuse_scores=False)
    # AND then uploaded again normally
    later = world.upload("incoming/three.jpg", COFFEE)

    # THEN the rescan called Imagga; the next upload reuses the fresh scores
    assert len(world.categorizer.images) == 2
    assert (rescanned.status, rescanned.reused_from) == (Status.UNSAFE, None)
    assert (later.status, later.reused_from) == (Status.UNSAFE, "2026-11-05T12:00:00.000Z")


def test_with_rejections_only_scores_are_neither_reused_nor_kept() -> None:
    # GIVEN CONTENT_MEMORY=rejections
    world = World(settings=replace(SETTINGS, content_memory="rejections"))

    # WHEN the same bytes come twice
    world.upload("incoming/one.jpg", COFFEE)
    world.upload("incoming/two.jpg", COFFEE)

    # THEN Imagga is asked each time and nothing is written to the memory
    assert len(world.categorizer.images) == 2
    assert world.memory.scores == {}


def test_bytes_a_human_rejected_come_back_under_another_name_quarantined_without_a_call() -> None:
    # GIVEN a photo a human rejected
    world = World()
    sha256 = world.reject(COFFEE, location=f"s3://{BUCKET}/incoming/first.jpg")

    # WHEN the very same bytes are uploaded under a new name
    outcome = world.upload("incoming/renamed.jpg", COFFEE)

    # THEN they are UNSAFE, reason rejected-before, quarantined, with no Imagga call; the match is recorded
    assert world.categorizer.images == []
    assert (outcome.status, outcome.reason, outcome.action) == (
        Status.UNSAFE,
        "rejected-before",
        Action.QUARANTINED,
    )
    assert (outcome.matched.sha256, outcome.matched.distance, outcome.matched.location) == (  # type: ignore[union-attr]
        sha256,
        0,
        f"s3://{BUCKET}/incoming/first.jpg",
    )
    tags = world.storage.objects[(BUCKET, "quarantine/incoming/renamed.jpg")].tags
    assert (tags["moderation:status"], tags["moderation:reason"]) == ("UNSAFE", "rejected-before")
    assert "moderation:categorizer" not in tags


def test_a_near_copy_of_a_rejected_photo_is_quarantined_as_matching_it_without_a_call() -> None:
    # GIVEN a photo a human rejected
    world = World()
    sha256 = world.reject(COFFEE)

    # WHEN a copy of it, trimmed by 5 % and saved as PNG, is uploaded
    trimmed = encoded(crop(source_images()["coffee.jpg"], 0.05, 0.3, 0.7), "PNG")
    outcome = world.upload("incoming/cropped.png", trimmed)

    # THEN it is UNSAFE, matches-rejected, with the distance and the rejected image; Imagga is not asked
    assert world.categorizer.images == []
    assert (outcome.status, outcome.reason, outcome.action) == (
        Status.UNSAFE,
        "matches-rejected",
        Action.QUARANTINED,
    )
    assert outcome.matched is not None and outcome.matched.sha256 == sha256
    assert 0 < outcome.matched.distance <= 3


def test_another_photo_is_not_taken_for_a_rejected_one() -> None:
    # GIVEN a rejected photo
    world = World()
    world.reject(COFFEE)

    # WHEN another photo is uploaded
    outcome = world.upload("incoming/cat.jpg", (SAMPLES / "chelsea.jpg").read_bytes())

    # THEN Imagga judges it, and nothing is matched
    assert len(world.categorizer.images) == 1
    assert (outcome.status, outcome.matched) == (Status.SAFE, None)


def test_a_near_copy_is_checked_before_remembered_scores_are_used() -> None:
    # GIVEN a photo scored SAFE (remembered), then rejected by a human
    world = World()
    world.upload("incoming/first.jpg", COFFEE)
    world.reject(COFFEE)

    # WHEN the same bytes come again
    outcome = world.upload("incoming/again.jpg", COFFEE)

    # THEN the human's rejection decides, not the remembered SAFE scores
    assert (outcome.status, outcome.reason, outcome.reused_from) == (Status.UNSAFE, "rejected-before", None)


def test_an_approval_of_these_bytes_at_this_key_stands_before_an_earlier_rejection() -> None:
    # GIVEN bytes rejected once, then released by a human at this key (a later decision)
    world = World()
    world.reject(COFFEE, at="2026-11-01T09:00:00Z")
    sha256 = hashlib.sha256(COFFEE).hexdigest()
    world.approvals.record(Approval(BUCKET, "incoming/released.jpg", sha256, REVIEWER, "2026-11-02T09:00:00Z"))

    # WHEN they arrive at that key
    outcome = world.upload("incoming/released.jpg", COFFEE)

    # THEN the approval stands: skipped as approved, not quarantined
    assert (outcome.action, outcome.skip_reason) == (Action.SKIPPED, SkipReason.APPROVED)
    # AND at any other key the rejection still applies
    elsewhere = world.upload("incoming/elsewhere.jpg", COFFEE)
    assert (elsewhere.status, elsewhere.reason) == (Status.UNSAFE, "rejected-before")


def test_a_rejection_after_an_approval_overrules_it() -> None:
    # GIVEN bytes approved at a key, then rejected by a human later
    world = World()
    sha256 = hashlib.sha256(COFFEE).hexdigest()
    world.approvals.record(Approval(BUCKET, "incoming/approved.jpg", sha256, REVIEWER, "2026-11-01T09:00:00Z"))
    world.reject(COFFEE, at="2026-11-03T09:00:00Z")

    # WHEN they arrive at the approved key again
    outcome = world.upload("incoming/approved.jpg", COFFEE)

    # THEN the later decision, the rejection, decides
    assert (outcome.status, outcome.reason) == (Status.UNSAFE, "rejected-before")


def test_an_unreadable_memory_means_moderating_as_if_the_image_were_new() -> None:
    # GIVEN a rejected photo, and a memory that cannot be read now
    world = World()
    world.reject(COFFEE)
    world.memory.unreadable = True

    # WHEN the photo is uploaded again
    outcome = world.upload("incoming/again.jpg", COFFEE)

    # THEN Imagga judges it as it would any new image
    assert len(world.categorizer.images) == 1
    assert (outcome.status, outcome.matched) == (Status.SAFE, None)


def test_a_redelivery_reports_the_reuse_and_the_match_it_found_the_first_time() -> None:
    # GIVEN idempotency, and bytes whose scores are remembered
    world = World()
    world.upload("incoming/one.jpg", COFFEE)
    once = RememberingOnce()
    world.storage.put(BUCKET, "incoming/two.jpg", COFFEE)
    first = world.moderator(once=once).moderate(ObjectRef(BUCKET, "incoming/two.jpg"))

    # WHEN the same upload is delivered again
    again = world.moderator(once=once).moderate(ObjectRef(BUCKET, "incoming/two.jpg"))

    # THEN the stored outcome keeps when the scores were obtained (and a match would be kept alike)
    assert again.duplicate and again.reused_from == first.reused_from == FIRST_SCAN
    stored = Outcome.from_dict(ObjectRef(BUCKET, "k"), {**first.to_dict(), "matched_sha256": "f" * 64})
    assert stored.matched is None  # a match needs its distance: never half a record
    round_trip = {**first.to_dict(), "matched_sha256": "f" * 64, "matched_distance": 2, "matched_location": "s3://b/k"}
    restored = Outcome.from_dict(ObjectRef(BUCKET, "k"), round_trip).matched
    assert restored is not None and (restored.sha256, restored.distance, restored.location) == ("f" * 64, 2, "s3://b/k")
