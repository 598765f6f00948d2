"""A human's decision on a moderated image: release it from quarantine, approve it where it is, or delete it.

Every decision acts on the object the human looked at, never on whatever sits at the key now:
the caller names the version (and ETag) it saw and the SHA-256 of the bytes, and each decision
refuses, changing nothing, when the object differs - also when its bytes are not those the
function judged, where the decisions ledger knows them. A decision deletes only that version.

Release takes the same care as the quarantine move: the approval is recorded first (so the
event the copy raises finds it), the exact quarantined version is copied back only if nothing
took its original key meanwhile, and the quarantined copy is deleted only after that succeeded.
A release that does not complete is undone: the copy removed, the approval revoked.

A rejection (reject in place, purge) is remembered before the bytes are deleted: their SHA-256,
where they were uploaded, who rejected them and when, their perceptual hashes and a small preview
go to the content memory in the decisions ledger's table, so the same image uploaded again under
any key, or a near-copy of it, is quarantined without asking Imagga (content_memory.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from . import tags
from .approvals import Approval, Approvals
from .content_memory import RejectedImage, rejection_of
from .errors import ObjectChangedError, ObjectGoneError, PermanentError
from .model import KeyVersion, ObjectRef, Status, StoredObject
from .observability import logger
from .settings import Settings


class ReviewStorage(Protocol):
    def head(self, ref: ObjectRef) -> StoredObject: ...
    def read(self, obj: StoredObject) -> bytes: ...
    def digest(self, obj: StoredObject) -> str: ...
    def get_tags(self, obj: StoredObject) -> dict[str, str]: ...
    def put_tags(self, obj: StoredObject, tags: dict[str, str]) -> None: ...
    def copy(self, obj: StoredObject, bucket: str, key: str, *, only_if_absent: bool = False) -> str | None: ...
    def delete(self, obj: StoredObject) -> bool: ...
    def versions(self, bucket: str, key: str) -> list[KeyVersion]: ...
    def delete_version(self, bucket: str, key: str, version_id: str) -> bool: ...


class ReviewLedger(Protocol):
    def record_review(
        self, *, bucket: str, key: str, scanned_at: str, decision: str, reviewer: str, when: str, location: str | None
    ) -> None: ...
    def decision(self, bucket: str, key: str, scanned_at: str) -> Mapping[str, Any] | None: ...
    def remember_rejected(self, image: RejectedImage, index: Iterable[int]) -> None: ...


class OriginalKeyTakenError(PermanentError):
    """Something was uploaded at the original key since: releasing would overwrite it."""

    kind = "original-key-taken"


class StaleReviewError(PermanentError):
    """The object is not the one the human reviewed (another version, other bytes): nothing was changed."""

    kind = "stale-review"


class NotQuarantinedError(ValueError):
    """The key is not under the quarantine prefix."""


#: A human's decision to delete a quarantined image (not an object status: nothing is left to tag).
REJECTED = "REJECTED"


@dataclass(frozen=True)
class Released:
    bucket: str
    key: str
    version_id: str | None
    sha256: str


@dataclass(frozen=True)
class Pinned:
    """The exact object a decision acts on, checked against what the human saw and what was judged."""

    obj: StoredObject
    sha256: str
    scanned_at: str | None


def original_key(quarantine_key: str, quarantine_prefix: str) -> str:
    if not quarantine_key.startswith(quarantine_prefix) or quarantine_key == quarantine_prefix:
        raise NotQuarantinedError(f"{quarantine_key!r} is not under the quarantine prefix {quarantine_prefix!r}")
    return quarantine_key[len(quarantine_prefix) :]


def pin(
    storage: ReviewStorage,
    seen: ObjectRef,
    *,
    sha256: str | None,
    ledger: ReviewLedger | None,
    scanned_bucket: str,
    scanned_key: str,
) -> Pinned:
    """The object the human saw, or StaleReviewError: another version or ETag, other bytes, or not what was judged.

    `seen.version_id` pins a version (None, or "null" on an unversioned bucket, means the current
    object); `seen.etag` and `sha256` are compared when given. The ledger item of the scan named by
    the object's `moderation:scanned-at` (kept under `scanned_bucket` / `scanned_key`, the upload's
    own location) says which version that scan left at this key and the SHA-256 of the bytes it
    judged: when the item is about this key, they must be these. An item about another place (the
    tags name a scan that left its object elsewhere) says nothing about this object.
    """
    obj = storage.head(_unversioned_as_none(seen))
    where = _describe(obj)
    if seen.etag and obj.etag != seen.etag.strip('"'):
        raise StaleReviewError(f"{where} is not the object you reviewed (its ETag changed): nothing was changed")
    scanned_at = storage.get_tags(obj).get(tags.SCANNED_AT)
    digest = storage.digest(obj)
    if sha256 and digest != sha256:
        raise StaleReviewError(f"{where} is not the object you reviewed (its content changed): nothing was changed")
    judged = ledger.decision(scanned_bucket, scanned_key, scanned_at) if ledger is not None and scanned_at else None
    if judged and (judged.get("location_bucket"), judged.get("location_key")) == (obj.bucket, obj.key):
        # The ledger's scan is about this key: it names the version it left there and the bytes it judged.
        judged_version = judged.get("location_version_id")
        if judged_version and obj.version_id and judged_version != obj.version_id:
            raise StaleReviewError(
                f"{where} is not the version the scan of {scanned_at} left there ({judged_version}): "
                "nothing was changed"
            )
        if judged.get("sha256") and judged["sha256"] != digest:
            raise StaleReviewError(
                f"{where} does not hold the bytes that were moderated at {scanned_at}: nothing was changed"
            )
    return Pinned(obj, digest, scanned_at)


def release(
    storage: ReviewStorage,
    approvals: Approvals,
    quarantined: ObjectRef,
    *,
    quarantine_prefix: str,
    to_bucket: str | None,
    reviewer: str,
    now: str,
    sha256: str | None = None,
    ledger: ReviewLedger | None = None,
) -> Released:
    """Put one quarantined version back at its original key as APPROVED, and delete that version only."""
    target_key = original_key(quarantined.key, quarantine_prefix)
    target_bucket = to_bucket or quarantined.bucket
    pinned = pin(
        storage, quarantined, sha256=sha256, ledger=ledger, scanned_bucket=target_bucket, scanned_key=target_key
    )
    _refuse_if_taken(storage, target_bucket, target_key)
    # Recorded before anything moves, so the event the copy raises already finds it.
    approval = Approval(target_bucket, target_key, pinned.sha256, reviewer, now)
    approvals.record(approval)
    copied: StoredObject | None = None
    version: str | None = None
    copy_made = False
    try:
        try:
            version = storage.copy(pinned.obj, target_bucket, target_key, only_if_absent=True)
        except ObjectChangedError as exc:
            # The copy's IfNoneMatch lost a race with a new upload at the original key.
            raise OriginalKeyTakenError(
                f"s3://{target_bucket}/{target_key} was uploaded meanwhile: nothing moved"
            ) from exc
        copy_made = True
        copied = storage.head(ObjectRef(target_bucket, target_key, version))
        if version is None and storage.digest(copied) != pinned.sha256:
            # Unversioned: the key is not pinned by a version, so make sure it is our copy we approve.
            copied = None
            raise StaleReviewError(f"s3://{target_bucket}/{target_key} was overwritten during the release")
        _tag_approved(storage, copied, now)
        storage.delete(pinned.obj)
    except BaseException:
        _undo_release(storage, approvals, approval, copy_made, version, copied)
        raise
    _record(ledger, target_bucket, target_key, pinned.scanned_at, str(Status.APPROVED), reviewer, now, target_key)
    return Released(target_bucket, target_key, version, pinned.sha256)


def approve_in_place(
    storage: ReviewStorage,
    approvals: Approvals,
    ref: ObjectRef,
    *,
    reviewer: str,
    now: str,
    sha256: str | None = None,
    ledger: ReviewLedger | None = None,
) -> Released:
    """A `REVIEW` object left where it was: record the approval of these bytes, then say so in its tags."""
    pinned = pin(storage, ref, sha256=sha256, ledger=ledger, scanned_bucket=ref.bucket, scanned_key=ref.key)
    obj = pinned.obj
    approval = Approval(obj.bucket, obj.key, pinned.sha256, reviewer, now)
    approvals.record(approval)
    try:
        _tag_approved(storage, obj, now)
        if obj.version_id is None:
            _confirm_still_there(storage, obj, now)
    except BaseException:
        approvals.revoke(approval.bucket, approval.key, approval.sha256)
        raise
    _record(ledger, obj.bucket, obj.key, pinned.scanned_at, str(Status.APPROVED), reviewer, now, obj.key)
    return Released(obj.bucket, obj.key, obj.version_id, pinned.sha256)


def purge(
    storage: ReviewStorage,
    quarantined: ObjectRef,
    *,
    quarantine_prefix: str,
    source_bucket: str | None = None,
    sha256: str | None = None,
    approvals: Approvals | None = None,
    reviewer: str = "unknown",
    now: str = "",
    ledger: ReviewLedger | None = None,
    settings: Settings | None = None,
) -> int:
    """Delete the one quarantined version the human reviewed. Returns the number of versions deleted (1).

    Recorded in the ledger as REJECTED against the scan that quarantined it (in `source_bucket`
    when the quarantine is a bucket of its own); an approval of these bytes is revoked; the image is
    remembered as rejected (`settings`: how the function prepares images, for its perceptual hashes).
    """
    source_key = original_key(quarantined.key, quarantine_prefix)  # refuses keys outside the quarantine
    scanned_bucket = source_bucket or quarantined.bucket
    pinned = pin(
        storage, quarantined, sha256=sha256, ledger=ledger, scanned_bucket=scanned_bucket, scanned_key=source_key
    )
    return _delete_pinned(storage, pinned, scanned_bucket, source_key, approvals, reviewer, now, ledger, settings)


def purge_every_version(
    storage: ReviewStorage,
    bucket: str,
    key: str,
    *,
    quarantine_prefix: str,
    source_bucket: str | None = None,
    approvals: Approvals | None = None,
    reviewer: str = "unknown",
    now: str = "",
    ledger: ReviewLedger | None = None,
    settings: Settings | None = None,
) -> int:
    """Every version and delete marker of a quarantined key, whoever's upload each was. Returns the count.

    The operator's explicit choice (the CLI's purge by key without a version): nothing stays
    readable behind a delete marker. Each version's approval is revoked, each scan recorded REJECTED.
    A version another purge (or a person) deleted meanwhile is not an error: it is gone, as wanted,
    and not counted.
    """
    source_key = original_key(key, quarantine_prefix)
    scanned_bucket = source_bucket or bucket
    versions = storage.versions(bucket, key)
    if not versions:
        raise ObjectGoneError(f"s3://{bucket}/{key} has no version left: nothing to purge")
    deleted = 0
    for version in versions:
        scanned_at = None
        if not version.delete_marker:
            try:
                obj = storage.head(_unversioned_as_none(ObjectRef(bucket, key, version.version_id)))
            except ObjectGoneError:
                continue
            scanned_at = storage.get_tags(obj).get(tags.SCANNED_AT)
            digest = storage.digest(obj)
            if approvals is not None:
                approvals.revoke(scanned_bucket, source_key, digest)
            _remember_rejection(storage, ledger, obj, digest, scanned_bucket, source_key, reviewer, now, settings)
        if storage.delete_version(bucket, key, version.version_id):
            deleted += 1
            _record(ledger, scanned_bucket, source_key, scanned_at, REJECTED, reviewer, now, None)
    return deleted


def reject_in_place(
    storage: ReviewStorage,
    ref: ObjectRef,
    *,
    reviewer: str,
    now: str,
    sha256: str | None = None,
    approvals: Approvals | None = None,
    ledger: ReviewLedger | None = None,
    settings: Settings | None = None,
) -> int:
    """A `REVIEW` object left where it was, rejected: that version deleted, recorded as REJECTED, remembered."""
    pinned = pin(storage, ref, sha256=sha256, ledger=ledger, scanned_bucket=ref.bucket, scanned_key=ref.key)
    return _delete_pinned(storage, pinned, ref.bucket, ref.key, approvals, reviewer, now, ledger, settings)


def _delete_pinned(
    storage: ReviewStorage,
    pinned: Pinned,
    scanned_bucket: str,
    scanned_key: str,
    approvals: Approvals | None,
    reviewer: str,
    now: str,
    ledger: ReviewLedger | None,
    settings: Settings | None,
) -> int:
    # Revoked first: if the delete then fails, the bytes stay but nothing lets them skip moderation.
    if approvals is not None:
        approvals.revoke(scanned_bucket, scanned_key, pinned.sha256)
    # Remembered before the delete: once the bytes are gone, nothing could be learnt from them.
    _remember_rejection(
        storage, ledger, pinned.obj, pinned.sha256, scanned_bucket, scanned_key, reviewer, now, settings
    )
    # The exact version; on an unversioned bucket, only if the ETag still matches (else it is someone else's).
    if not storage.delete(pinned.obj):
        raise StaleReviewError(f"{_describe(pinned.obj)} was overwritten meanwhile: nothing was deleted")
    _record(ledger, scanned_bucket, scanned_key, pinned.scanned_at, REJECTED, reviewer, now, None)
    return 1


def _remember_rejection(
    storage: ReviewStorage,
    ledger: ReviewLedger | None,
    obj: StoredObject,
    sha256: str,
    uploaded_bucket: str,
    uploaded_key: str,
    reviewer: str,
    now: str,
    settings: Settings | None,
) -> None:
    """Keep the rejected image in the content memory (the ledger's table): by its SHA-256 always, by its
    perceptual hashes and with a preview when its bytes can be read and decoded."""
    if ledger is None:
        return
    limits = settings or Settings()
    data = storage.read(obj) if 0 < obj.size <= limits.max_image_bytes else None
    if data is not None and hashlib.sha256(data).hexdigest() != sha256:
        data = None  # not the bytes pinned (an overwrite on an unversioned bucket): their digest only
    rejection = rejection_of(
        sha256,
        data,
        location=f"s3://{uploaded_bucket}/{uploaded_key}",
        rejected_by=reviewer,
        rejected_at=now or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        settings=limits,
    )
    ledger.remember_rejected(rejection.image, rejection.index)
    logger.info(
        "rejected image remembered",
        extra={"sha256": sha256, "location": rejection.image.location, "hashes_indexed": len(rejection.index)},
    )


def _refuse_if_taken(storage: ReviewStorage, bucket: str, key: str) -> None:
    """Never overwrite what sits at the original key now: it is a newer upload with its own verdict."""
    try:
        storage.head(ObjectRef(bucket, key))
    except ObjectGoneError:
        return
    raise OriginalKeyTakenError(
        f"s3://{bucket}/{key} holds a newer object: release refused, the image stays in quarantine"
    )


def _undo_release(
    storage: ReviewStorage,
    approvals: Approvals,
    approval: Approval,
    copy_made: bool,
    version: str | None,
    copied: StoredObject | None,
) -> None:
    """A release that did not complete leaves the image in quarantine and no approval behind."""
    try:
        if copy_made and version is not None:
            storage.delete_version(approval.bucket, approval.key, version)
        elif copied is not None:
            storage.delete(copied)  # unversioned: only if it is still our copy (ETag condition)
        elif copy_made:
            logger.warning(
                "release undone without its copy: the function judges what is at the key again",
                extra={"bucket": approval.bucket, "key": approval.key},
            )
    finally:
        approvals.revoke(approval.bucket, approval.key, approval.sha256)


def _confirm_still_there(storage: ReviewStorage, obj: StoredObject, now: str) -> None:
    """Unversioned: tagging has no precondition. If a newer upload took the key, take our APPROVED off it."""
    current = storage.head(ObjectRef(obj.bucket, obj.key))
    if (current.etag, current.last_modified) == (obj.etag, obj.last_modified):
        return
    landed = storage.get_tags(current)
    if landed.get(tags.STATUS) == str(Status.APPROVED) and landed.get(tags.REVIEWED_AT) == now:
        storage.put_tags(current, tags.uploaders_only(landed))
    logger.warning("a newer upload took the key while it was approved: approval withdrawn", extra={"key": obj.key})
    raise StaleReviewError(f"s3://{obj.bucket}/{obj.key} was overwritten while it was approved: approval withdrawn")


def _tag_approved(storage: ReviewStorage, obj: StoredObject, now: str) -> None:
    """APPROVED and reviewed-at, keeping the scores that made it doubtful next to the human's decision."""
    previous = storage.get_tags(obj)
    kept = [(k, v) for k, v in tags.ours_only(previous).items() if k not in (tags.STATUS, tags.REASON)]
    ours = [(tags.STATUS, str(Status.APPROVED)), (tags.REVIEWED_AT, now), *kept]
    storage.put_tags(obj, tags.merge(previous, ours).tags)


def _unversioned_as_none(ref: ObjectRef) -> ObjectRef:
    """S3 lists an unversioned object's version as "null"; the adapter wants None for it."""
    if ref.version_id == "null":
        return ObjectRef(ref.bucket, ref.key, None, ref.etag)
    return ref


def _describe(obj: StoredObject) -> str:
    return f"s3://{obj.bucket}/{obj.key}" + (f" (version {obj.version_id})" if obj.version_id else "")


def _record(
    ledger: ReviewLedger | None,
    bucket: str,
    key: str,
    scanned_at: str | None,
    decision: str,
    reviewer: str,
    now: str,
    location: str | None,
) -> None:
    if ledger is not None and scanned_at:
        ledger.record_review(
            bucket=bucket,
            key=key,
            scanned_at=scanned_at,
            decision=decision,
            reviewer=reviewer,
            when=now,
            location=location,
        )
