"""A human's decision on a quarantined image: release it to its original key, never over a newer upload."""

from __future__ import annotations

import hashlib

import pytest

from moderator.errors import ObjectChangedError, StorageAccessError
from moderator.model import ObjectRef
from moderator.review import NotQuarantinedError, OriginalKeyTakenError, StaleReviewError, release
from tests.builders import jpeg_bytes

from .fakes import FakeApprovals, FakeStorage

BUCKET = "moderation-test-bucket"
KEY = "incoming/beach.jpg"
QUARANTINED = "quarantine/incoming/beach.jpg"
VERDICT = {"moderation:status": "UNSAFE", "moderation:nsfw": "85.00", "moderation:scanned-at": "2026-11-24T21:49:21Z"}


def quarantined_image() -> tuple[FakeStorage, FakeApprovals, bytes]:
    storage, approvals, data = FakeStorage(), FakeApprovals(), jpeg_bytes()
    storage.put(BUCKET, QUARANTINED, data, {"owner": "ana", **VERDICT})
    return storage, approvals, data


def release_it(storage: FakeStorage, approvals: FakeApprovals, sha256: str | None = None) -> None:
    release(
        storage,
        approvals,
        ObjectRef(BUCKET, QUARANTINED),
        quarantine_prefix="quarantine/",
        to_bucket=None,
        reviewer="arn:aws:iam::123456789012:user/reviewer",
        now="2026-11-25T10:00:00Z",
        sha256=sha256,
    )


def test_released_image_is_back_at_its_key_approved_with_its_scores_and_gone_from_quarantine() -> None:
    # GIVEN a quarantined image
    storage, approvals, data = quarantined_image()
    # WHEN a human releases it
    release_it(storage, approvals)
    # THEN it is at its original key, APPROVED, its uploader's tag and scores kept; quarantine is empty
    item = storage.item(BUCKET, KEY)
    assert item is not None and item.data == data
    assert item.tags["moderation:status"] == "APPROVED"
    assert item.tags["moderation:reviewed-at"] == "2026-11-25T10:00:00Z"
    assert (item.tags["owner"], item.tags["moderation:nsfw"]) == ("ana", "85.00")
    assert storage.item(BUCKET, QUARANTINED) is None
    # AND the approval names exactly these bytes at that key
    assert approvals.find(BUCKET, KEY, hashlib.sha256(data).hexdigest()) is not None


def test_release_refuses_when_a_newer_upload_took_the_original_key() -> None:
    # GIVEN a quarantined image, and a new upload at its original key since
    storage, approvals, _ = quarantined_image()
    storage.put(BUCKET, KEY, b"newer upload")
    # WHEN a human releases it / THEN it is refused, nothing moves and nothing is approved
    with pytest.raises(OriginalKeyTakenError, match="newer object"):
        release_it(storage, approvals)
    assert storage.item(BUCKET, KEY).data == b"newer upload"  # type: ignore[union-attr]
    assert storage.item(BUCKET, QUARANTINED) is not None
    assert approvals.approvals == {}
    assert "copy" not in storage.calls


def test_release_losing_the_race_with_an_upload_leaves_the_image_in_quarantine() -> None:
    # GIVEN a quarantined image, and an upload at its key landing between the check and the copy
    storage, approvals, _ = quarantined_image()
    storage.failures["copy"] = ObjectChangedError("PreconditionFailed: IfNoneMatch")
    # WHEN a human releases it / THEN it says the key was taken, and the image stays in quarantine
    with pytest.raises(OriginalKeyTakenError, match="uploaded meanwhile"):
        release_it(storage, approvals)
    assert storage.item(BUCKET, QUARANTINED) is not None
    assert "delete" not in storage.calls
    # AND the approval recorded before the copy is revoked: a release that does not complete approves nothing
    assert approvals.approvals == {}


def test_release_refuses_bytes_other_than_the_ones_the_moderator_saw() -> None:
    # GIVEN a quarantined image, and a moderator who saw other bytes (the SHA-256 their page carried)
    storage, approvals, data = quarantined_image()
    seen = hashlib.sha256(b"what the page showed").hexdigest()

    # WHEN they release it / THEN it is refused, nothing moves and nothing is approved
    with pytest.raises(StaleReviewError, match="not the object you reviewed"):
        release_it(storage, approvals, sha256=seen)
    assert storage.item(BUCKET, KEY) is None
    assert storage.item(BUCKET, QUARANTINED).data == data  # type: ignore[union-attr]
    assert approvals.approvals == {}
    assert "copy" not in storage.calls


def test_release_failing_after_the_copy_removes_the_copy_and_the_approval() -> None:
    # GIVEN a quarantined image, and a storage that fails to tag the copy back at its key
    storage, approvals, _ = quarantined_image()
    storage.failures["put_tags"] = StorageAccessError("PutObjectTagging: access denied")

    # WHEN a human releases it / THEN the failure is reported, after the copy was made
    with pytest.raises(StorageAccessError):
        release_it(storage, approvals)
    assert storage.calls.index("copy") < storage.calls.index("put_tags")

    # AND the release is undone: nothing at the original key, no approval, the image still in quarantine
    assert storage.item(BUCKET, KEY) is None
    assert approvals.approvals == {}
    assert storage.item(BUCKET, QUARANTINED) is not None


def test_only_keys_under_the_quarantine_prefix_can_be_released() -> None:
    storage, approvals, _ = quarantined_image()
    storage.put(BUCKET, KEY, jpeg_bytes())
    with pytest.raises(NotQuarantinedError):
        release(
            storage,
            approvals,
            ObjectRef(BUCKET, KEY),
            quarantine_prefix="quarantine/",
            to_bucket=None,
            reviewer="r",
            now="2026-11-25T10:00:00Z",
        )
