"""No path from unjudged or unsafe bytes to a readable SAFE: each attack, failing.

Uploads identified as uploads (not as bytes), verdicts that must not land on a newer upload,
uploader tags that imitate ours in another case, and a quarantine move that keeps failing.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from moderator import tags
from moderator.errors import ObjectChangedError, QuarantineIncompleteError, StorageAccessError
from moderator.model import Action, ObjectRef, SkipReason, Status
from moderator.pipeline import utc_now
from tests.builders import jpeg_bytes, png_bytes
from tests.unit.conftest import MetricTotals
from tests.unit.fakes import RememberingOnce
from tests.unit.test_pipeline import BUCKET, KEY, SAFE, UNSAFE, World, world_with

QUARANTINED = f"quarantine/{KEY}"


def remembering(world: World) -> RememberingOnce:
    """Give the world's moderator a memory of finished verdicts, as the idempotency table does."""
    world.once = RememberingOnce()
    return world.once


# ---- 1. every upload is judged, even with the bytes of an earlier one --------------------------


def test_identical_bytes_uploaded_again_to_an_unversioned_key_are_judged_again() -> None:
    # GIVEN an unsafe image that was judged and quarantined (unversioned bucket)
    data = jpeg_bytes(40, 30)
    world = world_with(UNSAFE, data=data)
    remembering(world)
    world.moderator.moderate(ObjectRef(BUCKET, KEY, sequencer="0001"))
    assert world.storage.item(BUCKET, KEY) is None
    # WHEN the same bytes are uploaded to the same key (same ETag, no version id) and announced
    world.storage.put(BUCKET, KEY, data)
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY, sequencer="0002"))
    # THEN the new upload is judged and quarantined too, not skipped as a duplicate
    assert not outcome.duplicate
    assert len(world.categorizer.images) == 2
    assert outcome.action is Action.QUARANTINED
    assert world.storage.item(BUCKET, KEY) is None


def test_without_a_sequencer_the_last_modified_time_tells_two_uploads_apart() -> None:
    # GIVEN an upload judged by a backfill (no event, no sequencer)
    data = jpeg_bytes(40, 30)
    world = world_with(SAFE, data=data)
    remembering(world)
    world.moderator.moderate(ObjectRef(BUCKET, KEY))
    # WHEN the same bytes are uploaded again later and a backfill meets them
    world.storage.put(BUCKET, KEY, data)
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    # THEN it is a new upload: judged again
    assert not outcome.duplicate
    assert len(world.categorizer.images) == 2


def test_a_sequencer_repeated_by_a_lax_s3_does_not_merge_two_uploads() -> None:
    # GIVEN an S3 that sends the same sequencer in every event (LocalStack does), and a judged upload
    data = jpeg_bytes(40, 30)
    world = world_with(SAFE, data=data)
    remembering(world)
    world.moderator.moderate(ObjectRef(BUCKET, KEY, sequencer="0055AED6DCD90281E5"))
    # WHEN the same bytes are uploaded again later and announced with that same sequencer
    world.storage.put(BUCKET, KEY, data)
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY, sequencer="0055AED6DCD90281E5"))
    # THEN LastModified still tells them apart: judged again
    assert not outcome.duplicate
    assert len(world.categorizer.images) == 2


def test_a_redelivered_event_is_still_a_duplicate() -> None:
    # GIVEN an upload judged once
    world = world_with(SAFE)
    remembering(world)
    world.moderator.moderate(ObjectRef(BUCKET, KEY, sequencer="0001"))
    # WHEN the same event is delivered again
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY, sequencer="0001"))
    # THEN the earlier verdict stands and Imagga is not asked again
    assert outcome.duplicate
    assert outcome.status is Status.SAFE
    assert len(world.categorizer.images) == 1


# ---- 2. a verdict never lands on a newer upload -----------------------------------------------


def test_a_verdict_that_landed_on_an_overwrite_is_taken_off_and_the_delivery_retried(
    metric_totals: MetricTotals,
) -> None:
    # GIVEN a safe-looking image being judged on an unversioned bucket, and another upload that
    # lands at the same key after the judgement, just before the tags are written
    world = world_with(SAFE)
    newer = png_bytes(20, 20)
    world.storage.before["put_tags"] = lambda: world.storage.put(BUCKET, KEY, newer, tags={"owner": "bo"})
    # WHEN the verdict is written
    with pytest.raises(ObjectChangedError):
        world.moderator.moderate(ObjectRef(BUCKET, KEY), last_attempt=True)
    # THEN the newer upload carries no moderation tag at all (never the judged image's SAFE), not
    # even an ERROR, and nothing was announced
    assert tags.STATUS not in world.tags()
    assert not any(tags.is_moderation_key(k) for k in world.tags())
    assert world.storage.item(BUCKET, KEY) is not None
    assert world.storage.item(BUCKET, KEY).data == newer  # type: ignore[union-attr]
    assert world.publisher.published == []
    assert metric_totals()["VerdictOnNewerUpload"] == 1


def test_a_retry_after_an_overwrite_judges_the_newer_upload() -> None:
    # GIVEN the verdict of an old image was taken off a newer unsafe upload
    world = world_with(SAFE)
    world.storage.before["put_tags"] = lambda: world.storage.put(BUCKET, KEY, png_bytes(20, 20))
    with pytest.raises(ObjectChangedError):
        world.moderator.moderate(ObjectRef(BUCKET, KEY))
    # WHEN the message comes back and the newer upload is judged unsafe
    world.categorizer.scores = dict(UNSAFE)
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    # THEN the newer upload gets its own verdict and is quarantined
    assert outcome.status is Status.UNSAFE
    assert world.tags(QUARANTINED)[tags.STATUS] == "UNSAFE"


def test_an_overwrite_after_tagging_keeps_its_own_tags_and_is_not_quarantined_in_its_place() -> None:
    # GIVEN an unsafe image tagged UNSAFE, then replaced at its key before it could be moved
    world = world_with(UNSAFE)

    def overwrite_before_the_confirmation() -> None:
        world.storage.before["head"] = lambda: world.storage.put(BUCKET, KEY, png_bytes(20, 20), tags={"owner": "bo"})

    world.storage.before["put_tags"] = overwrite_before_the_confirmation
    # WHEN it is moderated
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY))
    # THEN the newer upload keeps its own tags and stays (it has its own event); nothing of it is
    # copied into quarantine in place of the judged image
    assert world.tags() == {"owner": "bo"}
    assert world.storage.item(BUCKET, QUARANTINED) is None
    assert outcome.action is Action.TAGGED


def test_versioned_objects_need_no_confirmation_after_tagging() -> None:
    world = world_with(SAFE)
    world.storage.put(BUCKET, KEY, jpeg_bytes(), version_id="v1")
    world.moderator.moderate(ObjectRef(BUCKET, KEY, "v1"))
    assert world.storage.calls == ["head", "read", "get_tags", "put_tags"]


# ---- 3. an uploader's tag in another case is never ours -----------------------------------------


def test_an_uploaders_moderation_tag_in_another_case_is_removed_and_not_counted() -> None:
    # GIVEN an upload carrying look-alikes of our tags in other cases, plus eight tags of its own
    own = {f"team-{n}": str(n) for n in range(8)}
    forged = {"Moderation:Status": "SAFE", "MODERATION:nsfw": "0.00"}
    world = world_with(UNSAFE)
    world.storage.put(BUCKET, KEY, jpeg_bytes(), tags={**own, **forged})
    # WHEN it is moderated
    world.moderator.moderate(ObjectRef(BUCKET, KEY))
    # THEN no look-alike is left, and the room they took went to our status and deciding score
    quarantined = world.tags(QUARANTINED)
    assert not set(forged) & set(quarantined)
    assert quarantined == {**own, "moderation:status": "UNSAFE", "moderation:nsfw": "85.00"}


@pytest.mark.parametrize("key", ["Moderation:Status", "MODERATION:STATUS", "moderation:Status", "mOdErAtIoN:x"])
def test_every_case_variant_of_the_prefix_is_a_moderation_key(key: str) -> None:
    assert tags.is_moderation_key(key)
    assert tags.uploaders_only({key: "SAFE", "owner": "ana"}) == {"owner": "ana"}
    assert tags.scores_from({key: "1.0"}) == {}


# ---- 6. a move that keeps failing never undoes the verdict --------------------------------------


def test_a_delete_that_keeps_failing_keeps_the_verdict_and_one_quarantined_copy(metric_totals: MetricTotals) -> None:
    # GIVEN an unsafe image whose original cannot be deleted (Object Lock retention, say)
    world = world_with(UNSAFE)
    remembering(world)
    world.storage.failures["delete"] = StorageAccessError("DeleteObject: access denied (AccessDenied)")
    ref = ObjectRef(BUCKET, KEY, sequencer="0001")
    # WHEN the message is delivered three times, the last being its last attempt
    for attempt in (1, 2, 3):
        with pytest.raises(QuarantineIncompleteError):
            world.moderator.moderate(ref, last_attempt=attempt == 3)
    # THEN Imagga was asked once, one copy was made, and the original still says UNSAFE (never ERROR)
    assert len(world.categorizer.images) == 1
    assert len(world.storage.copies) == 1
    assert world.tags()[tags.STATUS] == "UNSAFE"
    assert world.tags(QUARANTINED)[tags.STATUS] == "UNSAFE"
    # AND the failed move was reported once with the verdict, and counted on every attempt
    [reported] = world.publisher.published
    assert reported.status is Status.UNSAFE
    assert reported.action_error is not None
    assert "access denied" in reported.action_error
    assert metric_totals()["ErrorQuarantineIncomplete"] == 3


def test_a_redelivery_completes_a_move_that_failed_without_asking_imagga_again() -> None:
    # GIVEN an unsafe image whose delete failed once
    world = world_with(UNSAFE)
    remembering(world)
    world.storage.failures["delete"] = StorageAccessError("DeleteObject: SlowDown for too long")
    ref = ObjectRef(BUCKET, KEY, sequencer="0001")
    with pytest.raises(QuarantineIncompleteError):
        world.moderator.moderate(ref)
    # WHEN the delete works again and the message comes back
    del world.storage.failures["delete"]
    outcome = world.moderator.moderate(ref)
    # THEN the move is finished with the copy already made, and announced with where it went
    assert world.storage.item(BUCKET, KEY) is None
    assert world.tags(QUARANTINED)[tags.STATUS] == "UNSAFE"
    assert len(world.storage.copies) == 1
    assert len(world.categorizer.images) == 1
    assert outcome.action is Action.QUARANTINED
    assert [o.action for o in world.publisher.published] == [Action.TAGGED, Action.QUARANTINED]
    # AND a later duplicate finds the move done and says nothing more
    again = world.moderator.moderate(replace(ref, etag=outcome.etag))
    assert again.skip_reason is SkipReason.ALREADY_QUARANTINED
    assert len(world.publisher.published) == 2


def test_a_copy_that_failed_is_made_on_the_redelivery() -> None:
    world = world_with(UNSAFE)
    remembering(world)
    world.storage.failures["copy"] = StorageAccessError("CopyObject: access denied (AccessDenied)")
    ref = ObjectRef(BUCKET, KEY, sequencer="0001")
    with pytest.raises(QuarantineIncompleteError):
        world.moderator.moderate(ref)
    assert world.tags()[tags.STATUS] == "UNSAFE"
    del world.storage.failures["copy"]
    world.moderator.moderate(ref)
    assert world.storage.item(BUCKET, KEY) is None
    assert world.tags(QUARANTINED)[tags.STATUS] == "UNSAFE"
    assert len(world.categorizer.images) == 1


def test_a_redelivery_after_a_finished_move_is_a_quiet_skip_not_a_gone_object(metric_totals: MetricTotals) -> None:
    # GIVEN an unsafe upload moved to quarantine, and its event (which names its ETag)
    world = world_with(UNSAFE)
    remembering(world)
    first = world.moderator.moderate(ObjectRef(BUCKET, KEY, sequencer="0001"))
    world.storage.calls.clear()
    # WHEN the same event is delivered again
    outcome = world.moderator.moderate(ObjectRef(BUCKET, KEY, etag=first.etag, sequencer="0001"))
    # THEN two HEADs find the copy in quarantine: skipped quietly, not announced as a vanished upload
    assert outcome.skip_reason is SkipReason.ALREADY_QUARANTINED
    assert world.storage.calls == ["head", "head"]
    assert len(world.publisher.published) == 1
    assert metric_totals().get("SkippedGone", 0) == 0


def test_an_upload_deleted_before_its_scan_is_still_gone() -> None:
    world = world_with(UNSAFE)
    outcome = world.moderator.moderate(ObjectRef(BUCKET, "incoming/deleted.jpg", etag="0123abcd"))
    assert outcome.skip_reason is SkipReason.GONE


# ---- 9. a quarantine with a key of its own ------------------------------------------------------


def test_quarantined_copies_are_encrypted_under_the_quarantine_key_when_one_is_set() -> None:
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/quarantine-key"
    world = world_with(UNSAFE, quarantine_bucket="held-images", quarantine_kms_key_arn=key_arn)
    world.moderator.moderate(ObjectRef(BUCKET, KEY))
    assert world.storage.copies == [("held-images", QUARANTINED, key_arn)]


def test_without_a_quarantine_key_the_copy_keeps_the_sources_encryption() -> None:
    world = world_with(UNSAFE)
    world.moderator.moderate(ObjectRef(BUCKET, KEY))
    assert world.storage.copies == [(BUCKET, QUARANTINED, None)]


def test_scanned_at_names_a_scan_to_the_millisecond() -> None:
    # Two scans of one key within a second get two ledger entries: the time is their identity.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", utc_now())
