"""The moderation of one object: guard, pin, judge, categorize, decide, tag, quarantine.

Domain logic only: S3, Imagga and publishing are reached through the small protocols below,
so this module has no boto3 and no requests in it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from . import tags
from .approvals import Approvals, NoApprovals
from .assessment import Categorizer, Deadline, assess, assess_size
from .errors import ModeratorError, ObjectGoneError
from .model import Action, ObjectRef, Outcome, SkipReason, Status, StoredObject, Verdict
from .observability import logger, record_error, record_outcome
from .settings import Settings


class Storage(Protocol):
    def head(self, ref: ObjectRef) -> StoredObject: ...
    def read(self, obj: StoredObject) -> bytes: ...
    def get_tags(self, obj: StoredObject) -> dict[str, str]: ...
    def put_tags(self, obj: StoredObject, tags: dict[str, str]) -> None: ...
    def copy(self, obj: StoredObject, bucket: str, key: str) -> str | None: ...
    def delete(self, obj: StoredObject) -> bool: ...


class Publisher(Protocol):
    def publish(self, outcome: Outcome) -> None: ...


class Once(Protocol):
    """Runs the scan of one pinned object at most once (idempotency); the identity runs it every time."""

    def __call__(self, obj: StoredObject, scan: Callable[[StoredObject], Outcome]) -> Outcome: ...


#: Skips that subscribers hear about: an upload that vanished before its scan, or one a human
#: approved. Our own quarantine copies and folder markers are not uploads and stay silent.
ANNOUNCED_SKIPS = frozenset({SkipReason.GONE, SkipReason.APPROVED})


def not_an_upload(key: str, quarantine_prefix: str) -> SkipReason | None:
    """Keys never moderated: our own quarantined copies (the loop guard) and folder markers."""
    if key.startswith(quarantine_prefix):
        return SkipReason.QUARANTINE_PREFIX
    if key.endswith("/"):
        return SkipReason.FOLDER_MARKER
    return None


def every_time(obj: StoredObject, scan: Callable[[StoredObject], Outcome]) -> Outcome:
    return scan(obj)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Moderator:
    storage: Storage
    categorizer: Categorizer
    publisher: Publisher
    settings: Settings
    once: Once = every_time
    approvals: Approvals = field(default_factory=NoApprovals)
    clock: Callable[[], str] = utc_now

    def moderate(self, ref: ObjectRef, deadline: Deadline | None = None, *, last_attempt: bool = False) -> Outcome:
        """Moderate one object. Raises ModeratorError subclasses for the caller to retry."""
        skip = self._guard(ref)
        if skip is not None:
            return self._skipped(ref, skip)
        try:
            obj = self.storage.head(ref)
        except ObjectGoneError:
            return self._skipped(ref, SkipReason.GONE)
        try:
            outcome = self.once(obj, lambda pinned: self._scan(pinned, ref, deadline))
        except ObjectGoneError:
            return self._skipped(ref, SkipReason.GONE)
        except ModeratorError as exc:
            record_error(exc.kind)
            if last_attempt:
                self._mark_error(obj, ref, exc)
            raise
        if outcome.duplicate:
            logger.info("duplicate delivery: the earlier result stands, nothing called again", extra=outcome.to_dict())
        return outcome

    def _guard(self, ref: ObjectRef) -> SkipReason | None:
        return not_an_upload(ref.key, self.settings.quarantine_prefix)

    def _scan(self, obj: StoredObject, ref: ObjectRef, deadline: Deadline | None) -> Outcome:
        assessment = assess_size(obj.size, self.settings)  # judged from the HEAD: never downloaded
        sha256 = None
        if assessment is None:
            data = self.storage.read(obj)
            sha256 = hashlib.sha256(data).hexdigest()
            approval = self.approvals.find(obj.bucket, obj.key, sha256)
            if approval is not None:
                # A human released exactly these bytes: neither Imagga nor quarantine overrules that.
                logger.info("approved by a human: not scanned", extra={"key": obj.key, "by": approval.approved_by})
                return self._skipped(ref, SkipReason.APPROVED)
            assessment = assess(data, self.categorizer, self.settings, deadline)
        verdict, categorization = assessment.verdict, assessment.categorization
        if assessment.detail:
            logger.info(
                "not categorized", extra={"key": obj.key, "reason": verdict.reason, "detail": assessment.detail}
            )
        outcome = self._apply(obj, ref, verdict)
        outcome.sha256 = sha256
        if categorization is not None:
            outcome.imagga_response = categorization.raw
        # Each frame sent is one Imagga call: the totals cover them all; the frame fields say which decided.
        outcome.imagga_attempts = assessment.imagga_attempts
        outcome.imagga_retries = assessment.imagga_retries
        outcome.imagga_latency_ms = assessment.imagga_latency_ms
        outcome.monthly_limit_remaining = assessment.monthly_limit_remaining
        outcome.frames_sent = assessment.frames_sent
        outcome.frame_count = assessment.frame_count
        outcome.deciding_frame = assessment.deciding_frame
        record_outcome(outcome)
        self.publisher.publish(outcome)
        return outcome

    def _apply(self, obj: StoredObject, ref: ObjectRef, verdict: Verdict) -> Outcome:
        """Tag first, then quarantine: the quarantined copy carries the verdict that put it there."""
        scanned_at = self.clock()
        merged = tags.merge(self.storage.get_tags(obj), tags.verdict_tags(verdict, scanned_at))
        self.storage.put_tags(obj, merged.tags)
        outcome = Outcome(
            ref=ref,
            action=Action.TAGGED,
            status=verdict.status,
            scores=verdict.scores,
            categorizer=verdict.categorizer,
            reason=verdict.reason,
            etag=obj.etag,
            version_id=obj.version_id,
            scanned_at=scanned_at,
            tags_dropped=len(merged.dropped),
        )
        if verdict.status in self.settings.quarantine_statuses:
            if self.settings.enforce:
                self._quarantine(obj, outcome)
            else:
                logger.info("monitor mode: would quarantine", extra={"key": obj.key, "status": str(verdict.status)})
        return outcome

    def _quarantine(self, obj: StoredObject, outcome: Outcome) -> None:
        """Copy the scanned version, then delete exactly that version: in both places, never in neither."""
        bucket = self.settings.quarantine_bucket or obj.bucket
        key = self.settings.quarantine_prefix + obj.key
        outcome.quarantine_version_id = self.storage.copy(obj, bucket, key)
        outcome.action = Action.QUARANTINED
        outcome.quarantine_bucket = bucket
        outcome.quarantine_key = key
        if not self.storage.delete(obj):
            logger.warning(
                "original not deleted: a newer object took its key (it has its own event)",
                extra={"key": obj.key, "etag": obj.etag},
            )

    def _mark_error(self, obj: StoredObject, ref: ObjectRef, exc: ModeratorError) -> None:
        """Last attempt: leave no object without a status. Best effort; the original error still fails the record."""
        asked_imagga = exc.kind.startswith("imagga")
        verdict = Verdict(
            Status.ERROR, categorizer=self.categorizer.categorizer if asked_imagga else None, reason=exc.kind
        )
        try:
            outcome = self._apply(obj, ref, verdict)
        except ModeratorError as tag_exc:
            logger.error("could not tag ERROR on the last attempt", extra={"key": obj.key, "error": str(tag_exc)})
            return
        record_outcome(outcome)
        self.publisher.publish(outcome)

    def _skipped(self, ref: ObjectRef, reason: SkipReason) -> Outcome:
        outcome = Outcome(ref=ref, action=Action.SKIPPED, skip_reason=reason)
        record_outcome(outcome)
        if reason in ANNOUNCED_SKIPS:
            self.publisher.publish(outcome)
        return outcome
