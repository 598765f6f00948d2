"""A human's decision on what sits in quarantine: release it to its original key, or purge it.

Release takes the same care as the quarantine move: the approval is recorded first (so the
event the copy raises finds it), the exact quarantined version is copied back only if nothing
took its original key meanwhile, and the quarantined copy is deleted only after that succeeded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from . import tags
from .approvals import Approval, Approvals
from .errors import ObjectChangedError, ObjectGoneError, PermanentError
from .model import ObjectRef, Status, StoredObject


class ReviewStorage(Protocol):
    def head(self, ref: ObjectRef) -> StoredObject: ...
    def read(self, obj: StoredObject) -> bytes: ...
    def get_tags(self, obj: StoredObject) -> dict[str, str]: ...
    def put_tags(self, obj: StoredObject, tags: dict[str, str]) -> None: ...
    def copy(self, obj: StoredObject, bucket: str, key: str, *, only_if_absent: bool = False) -> str | None: ...
    def delete(self, obj: StoredObject) -> bool: ...
    def version_ids(self, bucket: str, key: str) -> list[str]: ...
    def delete_version(self, bucket: str, key: str, version_id: str) -> bool: ...


class ReviewLedger(Protocol):
    def record_review(
        self, *, bucket: str, key: str, scanned_at: str, decision: str, reviewer: str, when: str, location: str | None
    ) -> None: ...


class OriginalKeyTakenError(PermanentError):
    """Something was uploaded at the original key since: releasing would overwrite it."""

    kind = "original-key-taken"


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


def original_key(quarantine_key: str, quarantine_prefix: str) -> str:
    if not quarantine_key.startswith(quarantine_prefix) or quarantine_key == quarantine_prefix:
        raise NotQuarantinedError(f"{quarantine_key!r} is not under the quarantine prefix {quarantine_prefix!r}")
    return quarantine_key[len(quarantine_prefix) :]


def release(
    storage: ReviewStorage,
    approvals: Approvals,
    quarantined: ObjectRef,
    *,
    quarantine_prefix: str,
    to_bucket: str | None,
    reviewer: str,
    now: str,
    ledger: ReviewLedger | None = None,
) -> Released:
    target_key = original_key(quarantined.key, quarantine_prefix)
    target_bucket = to_bucket or quarantined.bucket
    obj = storage.head(quarantined)
    _refuse_if_taken(storage, target_bucket, target_key)
    scanned_at = storage.get_tags(obj).get(tags.SCANNED_AT)
    digest = _approve_bytes(storage, approvals, obj, target_bucket, target_key, reviewer, now)
    try:
        version = storage.copy(obj, target_bucket, target_key, only_if_absent=True)
    except ObjectChangedError as exc:
        # The copy's IfNoneMatch lost a race with a new upload at the original key.
        raise OriginalKeyTakenError(f"s3://{target_bucket}/{target_key} was uploaded meanwhile: nothing moved") from exc
    released = storage.head(ObjectRef(target_bucket, target_key, version))
    _tag_approved(storage, released, now)
    storage.delete(obj)
    _record(ledger, target_bucket, target_key, scanned_at, str(Status.APPROVED), reviewer, now, target_key)
    return Released(target_bucket, target_key, version, digest)


def approve_in_place(
    storage: ReviewStorage,
    approvals: Approvals,
    ref: ObjectRef,
    *,
    reviewer: str,
    now: str,
    ledger: ReviewLedger | None = None,
) -> Released:
    """A `REVIEW` object left where it was: record the approval of these bytes, then say so in its tags."""
    obj = storage.head(ref)
    scanned_at = storage.get_tags(obj).get(tags.SCANNED_AT)
    digest = _approve_bytes(storage, approvals, obj, obj.bucket, obj.key, reviewer, now)
    _tag_approved(storage, obj, now)
    _record(ledger, obj.bucket, obj.key, scanned_at, str(Status.APPROVED), reviewer, now, obj.key)
    return Released(obj.bucket, obj.key, obj.version_id, digest)


def purge(
    storage: ReviewStorage,
    bucket: str,
    key: str,
    *,
    quarantine_prefix: str,
    source_bucket: str | None = None,
    reviewer: str = "unknown",
    now: str = "",
    ledger: ReviewLedger | None = None,
) -> int:
    """Delete every version of a quarantined key, so no byte of it stays readable. Returns the count.

    Recorded in the ledger as REJECTED against the scan that quarantined it (in `source_bucket`
    when the quarantine is a bucket of its own).
    """
    source_key = original_key(key, quarantine_prefix)  # refuses keys outside the quarantine
    return _delete_for_good(storage, bucket, key, source_bucket or bucket, source_key, reviewer, now, ledger)


def reject_in_place(
    storage: ReviewStorage, ref: ObjectRef, *, reviewer: str, now: str, ledger: ReviewLedger | None = None
) -> int:
    """A `REVIEW` object left where it was, rejected: every version deleted, recorded as REJECTED."""
    return _delete_for_good(storage, ref.bucket, ref.key, ref.bucket, ref.key, reviewer, now, ledger)


def _refuse_if_taken(storage: ReviewStorage, bucket: str, key: str) -> None:
    """Never overwrite what sits at the original key now: it is a newer upload with its own verdict."""
    try:
        storage.head(ObjectRef(bucket, key))
    except ObjectGoneError:
        return
    raise OriginalKeyTakenError(
        f"s3://{bucket}/{key} holds a newer object: release refused, the image stays in quarantine"
    )


def _approve_bytes(
    storage: ReviewStorage, approvals: Approvals, obj: StoredObject, bucket: str, key: str, reviewer: str, now: str
) -> str:
    """Record the approval before anything moves, so the event a copy raises already finds it."""
    digest = hashlib.sha256(storage.read(obj)).hexdigest()
    approvals.record(Approval(bucket, key, digest, reviewer, now))
    return digest


def _tag_approved(storage: ReviewStorage, obj: StoredObject, now: str) -> None:
    """APPROVED and reviewed-at, keeping the scores that made it doubtful next to the human's decision."""
    previous = storage.get_tags(obj)
    kept = [(k, v) for k, v in tags.ours_only(previous).items() if k not in (tags.STATUS, tags.REASON)]
    ours = [(tags.STATUS, str(Status.APPROVED)), (tags.REVIEWED_AT, now), *kept]
    storage.put_tags(obj, tags.merge(previous, ours).tags)


def _delete_for_good(
    storage: ReviewStorage,
    bucket: str,
    key: str,
    scanned_bucket: str,
    scanned_key: str,
    reviewer: str,
    now: str,
    ledger: ReviewLedger | None,
) -> int:
    try:
        scanned_at = storage.get_tags(storage.head(ObjectRef(bucket, key))).get(tags.SCANNED_AT)
    except ObjectGoneError:
        # A delete marker on top (a plain delete) hides older versions whose bytes are still readable.
        scanned_at = None
    versions = storage.version_ids(bucket, key)
    if not versions:
        raise ObjectGoneError(f"s3://{bucket}/{key} has no version left: nothing to purge")
    # A version another purge (or a person) deleted meanwhile is not an error: it is gone, as wanted.
    deleted = sum(storage.delete_version(bucket, key, version_id) for version_id in versions)
    _record(ledger, scanned_bucket, scanned_key, scanned_at, REJECTED, reviewer, now, None)
    return deleted


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
