"""The moderation of one object: guard, pin, judge once, tag, then move to quarantine.

Two steps with different guarantees. The verdict (read, categorize, decide, tag) runs once per
upload: a redelivery reuses it and never calls Imagga again. Before Imagga, the content memory is
asked (content_memory.py): a human's rejection of these bytes or of a picture like them, or
Imagga's scores for these bytes, decide without a call. The quarantine move runs on every
delivery until it is done: a copy and a delete that failed are retried, the verdict is not, and
the status already written stays.

Domain logic only: S3, Imagga and publishing are reached through the small protocols below,
so this module has no boto3 and no requests in it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from . import tags
from .approvals import Approvals, NoApprovals
from .assessment import Assessment, Categorizer, Deadline, assess_size, categorize, prepare_image, unsupported
from .budget import OneImage
from .content_memory import (
    ContentMemory,
    NoMemory,
    Recalled,
    RememberedScores,
    matches_rejected,
    rejected_before,
    rejected_since,
    remembered_from,
    replay,
    scores_key,
)
from .errors import (
    BackfillDeferredError,
    ModeratorError,
    ObjectChangedError,
    ObjectGoneError,
    QuarantineIncompleteError,
)
from .fingerprint import closest
from .imaging import UnsupportedImageError
from .model import Action, ObjectRef, Outcome, SkipReason, Status, StoredObject, Verdict
from .observability import logger, record_error, record_outcome, record_verdict_on_newer_upload
from .settings import MEMORY_ON, Settings


class Storage(Protocol):
    def head(self, ref: ObjectRef) -> StoredObject: ...
    def read(self, obj: StoredObject) -> bytes: ...
    def get_tags(self, obj: StoredObject) -> dict[str, str]: ...
    def put_tags(self, obj: StoredObject, tags: dict[str, str]) -> None: ...
    def copy(self, obj: StoredObject, bucket: str, key: str, *, kms_key_id: str | None = None) -> str | None: ...
    def delete(self, obj: StoredObject) -> bool: ...


class Publisher(Protocol):
    def publish(self, outcome: Outcome) -> None: ...


class Once(Protocol):
    """Runs the verdict of one upload at most once (idempotency); the identity runs it every time."""

    def __call__(self, obj: StoredObject, upload: str, judge: Callable[[StoredObject], Outcome]) -> Outcome: ...


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


def upload_of(ref: ObjectRef, obj: StoredObject) -> str:
    """What tells this upload from another of the same bytes at the same key: S3's sequencer from
    the event (none in backfills and Batch Operations) and the object's LastModified. Both, because
    not every S3 sends a sequencer, and some send the same one for every event (LocalStack)."""
    return f"{ref.sequencer or ''}/{obj.last_modified or ''}"


def every_time(obj: StoredObject, upload: str, judge: Callable[[StoredObject], Outcome]) -> Outcome:
    return judge(obj)


def utc_now() -> str:
    """`moderation:scanned-at`, to the millisecond: with the key it names one scan in the ledger, so two
    scans of one key within a second must not share it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Moderator:
    storage: Storage
    categorizer: Categorizer
    publisher: Publisher
    settings: Settings
    once: Once = every_time
    approvals: Approvals = field(default_factory=NoApprovals)
    clock: Callable[[], str] = utc_now
    #: What is remembered about content: Imagga's scores by bytes, the images humans rejected.
    memory: ContentMemory = field(default_factory=NoMemory)
    #: False to ask Imagga even for bytes whose scores are remembered (`backfill --rescan`); fresh
    #: scores are still remembered, and human rejections still apply.
    reuse_scores: bool = True

    def moderate(self, ref: ObjectRef, deadline: Deadline | None = None, *, last_attempt: bool = False) -> Outcome:
        """Moderate one object. Raises ModeratorError subclasses for the caller to retry."""
        skip = self._guard(ref)
        if skip is not None:
            return self._skipped(ref, skip)
        found = self._pin(ref)
        if found is None:
            if self._in_quarantine(ref):
                return self._skipped(ref, SkipReason.ALREADY_QUARANTINED)
            return self._gone(ref, self._keys_to_try(ref))
        ref, obj = found
        try:
            outcome = self.once(obj, upload_of(ref, obj), lambda pinned: self._judge(pinned, ref, deadline))
        except ObjectGoneError:
            return self._gone(ref, [ref.key])
        except BackfillDeferredError:
            # Backfill work waiting for the Imagga budget: nothing is wrong with the object, so
            # nothing is tagged; its message waits in the queue (delivery.py).
            raise
        except ObjectChangedError as exc:
            # Overwritten while judged: what is at the key now is a newer upload, judged on a retry
            # or by its own event. Never tagged ERROR: the ERROR would land on that newer upload.
            record_error(exc.kind)
            raise
        except ModeratorError as exc:
            record_error(exc.kind)
            if last_attempt:
                self._mark_error(obj, ref, exc)
            raise
        if outcome.action is Action.SKIPPED:
            return outcome
        if outcome.duplicate:
            logger.info("duplicate delivery: the earlier result stands, nothing called again", extra=outcome.to_dict())
        self._finish(obj, outcome, last_attempt=last_attempt)
        return outcome

    def _guard(self, ref: ObjectRef) -> SkipReason | None:
        return not_an_upload(ref.key, self.settings.quarantine_prefix)

    def _keys_to_try(self, ref: ObjectRef) -> list[str]:
        """The key as given, then its other readings; never one the guard would skip (our quarantine)."""
        others = [key for key in ref.other_keys if not_an_upload(key, self.settings.quarantine_prefix) is None]
        return [ref.key, *others]

    def _pin(self, ref: ObjectRef) -> tuple[ObjectRef, StoredObject] | None:
        """HEAD the object under its key, then under the other readings of a key whose encoding is uncertain."""
        for key in self._keys_to_try(ref):
            candidate = replace(ref, key=key, other_keys=())
            try:
                obj = self.storage.head(candidate)
            except ObjectGoneError:
                continue
            if ref.other_keys:
                logger.info(
                    "key of uncertain encoding resolved",
                    extra={"bucket": ref.bucket, "key_given": ref.key, "key_found": key},
                )
            return candidate, obj
        return None

    def _gone(self, ref: ObjectRef, keys_tried: list[str]) -> Outcome:
        logger.warning(
            "object gone before its scan: skipped",
            extra={"bucket": ref.bucket, "keys_tried": keys_tried, "version_id": ref.version_id},
        )
        return self._skipped(ref, SkipReason.GONE)

    # --- the verdict: once per upload ------------------------------------------------------------

    def _judge(self, obj: StoredObject, ref: ObjectRef, deadline: Deadline | None) -> Outcome:
        assessment = assess_size(obj.size, self.settings)  # judged from the HEAD: never downloaded
        sha256 = None
        fresh: RememberedScores | None = None
        if assessment is None:
            data = self.storage.read(obj)
            sha256 = hashlib.sha256(data).hexdigest()
            recalled = self.memory.recall(sha256, self._scores_key(sha256))
            approval = self.approvals.find(obj.bucket, obj.key, sha256)
            if approval is not None and not rejected_since(recalled.rejected, approval.approved_at):
                # A human released exactly these bytes: neither Imagga nor quarantine overrules that.
                logger.info("approved by a human: not scanned", extra={"key": obj.key, "by": approval.approved_by})
                return self._skipped(ref, SkipReason.APPROVED)
            if approval is not None:
                logger.info(
                    "approval overruled: a human rejected these bytes after approving them here",
                    extra={"key": obj.key, "approved_at": approval.approved_at},
                )
            assessment, fresh = self._assess(data, sha256, recalled, deadline)
        verdict, categorization = assessment.verdict, assessment.categorization
        if assessment.detail:
            logger.info(
                "not categorized", extra={"key": obj.key, "reason": verdict.reason, "detail": assessment.detail}
            )
        scanned_at = self.clock()
        if fresh is not None:
            # Kept before tagging: if the tagging fails, a retry of these bytes needs no second call.
            # Obtained "at the scan": a later upload's ledger entry then names this scan by its time.
            self.memory.remember_scores(replace(fresh, obtained_at=scanned_at))
        outcome = self._tag(obj, ref, verdict, scanned_at=scanned_at)
        outcome.sha256 = sha256
        if categorization is not None and assessment.reused_from is None:
            outcome.imagga_response = categorization.raw
        # Each frame sent is one Imagga call: the totals cover them all; the frame fields say which decided.
        outcome.imagga_attempts = assessment.imagga_attempts
        outcome.imagga_retries = assessment.imagga_retries
        outcome.imagga_latency_ms = assessment.imagga_latency_ms
        outcome.monthly_limit_remaining = assessment.monthly_limit_remaining
        outcome.frames_sent = assessment.frames_sent
        outcome.frame_count = assessment.frame_count
        outcome.deciding_frame = assessment.deciding_frame
        outcome.reused_from = assessment.reused_from
        outcome.matched = assessment.matched
        return outcome

    # --- content memory: the bytes' own history before Imagga ---------------------------------

    @property
    def _reusing_scores(self) -> bool:
        return self.reuse_scores and self.settings.content_memory == MEMORY_ON

    def _scores_key(self, sha256: str) -> str | None:
        return scores_key(sha256, self.categorizer.categorizer, self.settings) if self._reusing_scores else None

    def _assess(
        self, data: bytes, sha256: str, recalled: Recalled, deadline: Deadline | None
    ) -> tuple[Assessment, RememberedScores | None]:
        """The verdict of bytes already read: a human's rejection of them, else a near-copy of a rejected
        image, else Imagga's remembered scores under today's thresholds, else Imagga. With it, Imagga's
        answer to remember (its time is set by the caller), when Imagga was asked."""
        if recalled.rejected is not None:
            return rejected_before(recalled.rejected), None
        replayed = replay(recalled.scores, self.settings) if recalled.scores is not None else None
        prepared = None
        if replayed is not None and recalled.scores is not None:
            fingerprints = recalled.scores.fingerprints
        else:
            try:
                prepared = prepare_image(data, self.settings)
            except UnsupportedImageError as exc:
                return unsupported(exc.reason, str(exc)), None
            fingerprints = tuple(f.fingerprint for f in prepared.frames if f.fingerprint is not None)
        if replayed is None or replayed.verdict.status is not Status.UNSAFE:
            # UNSAFE by its own scores already: which rejected image it resembles would change nothing.
            match = self._near_copy(fingerprints)
            if match is not None:
                return match, None
        if replayed is not None:
            logger.info("scores reused: no Imagga call", extra={"sha256": sha256, "reused_from": replayed.reused_from})
            return replayed, None
        assert prepared is not None
        # One image's frames: a backfill image, once started, is finished (budget.py OneImage).
        assessment = categorize(prepared, OneImage(self.categorizer), self.settings, deadline)
        fresh = None
        if self.settings.content_memory == MEMORY_ON:
            fresh = remembered_from(assessment, prepared, sha256, self.settings, obtained_at="")
        return assessment, fresh

    def _near_copy(self, fingerprints: tuple[int, ...]) -> Assessment | None:
        """The nearest rejected image within MATCH_DISTANCE bits whose rejection still stands."""
        if not fingerprints:
            return None
        for sha256, bits in closest(fingerprints, ((c.sha256, c.fingerprint) for c in self.memory.near(fingerprints))):
            try:
                rejected = self.memory.rejected(sha256, with_preview=False)
            except ModeratorError as exc:
                logger.warning("rejected image unreadable: not matched", extra={"sha256": sha256, "error": str(exc)})
                record_error("memory-unavailable")
                continue
            if rejected is not None:
                logger.info(
                    "near-copy of a rejected image",
                    extra={"matched_sha256": sha256, "distance": bits, "matched_location": rejected.location},
                )
                return matches_rejected(rejected, bits)
        return None

    def _tag(
        self,
        obj: StoredObject,
        ref: ObjectRef,
        verdict: Verdict,
        *,
        confirm: bool = True,
        scanned_at: str | None = None,
    ) -> Outcome:
        """Tag first, then quarantine: the quarantined copy carries the verdict that put it there."""
        scanned_at = scanned_at or self.clock()
        merged = tags.merge(self.storage.get_tags(obj), tags.verdict_tags(verdict, scanned_at))
        self.storage.put_tags(obj, merged.tags)
        if confirm and obj.version_id is None:
            self._confirm_tagged(obj, merged.tags)
        return Outcome(
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

    def _confirm_tagged(self, obj: StoredObject, written: dict[str, str]) -> None:
        """Unversioned buckets: PutObjectTagging has no precondition, so an overwrite that landed
        during the scan would carry this verdict. Make sure the object tagged is the one judged."""
        now = self.storage.head(ObjectRef(obj.bucket, obj.key))
        if (now.etag, now.last_modified) == (obj.etag, obj.last_modified):
            return
        current = self.storage.get_tags(now)
        if tags.ours_only(current) != tags.ours_only(written):
            # Our tags went onto the object judged before it was replaced; the newcomer carries
            # its own tags (or its own verdict) and has its own event.
            logger.info("overwritten after tagging: the newer upload has its own event", extra={"key": obj.key})
            return
        self.storage.put_tags(now, tags.uploaders_only(current))
        record_verdict_on_newer_upload()
        logger.warning(
            "verdict landed on a newer upload: taken off it, the newer upload is judged on a retry",
            extra={"key": obj.key, "judged_etag": obj.etag, "found_etag": now.etag},
        )
        raise ObjectChangedError(f"s3://{obj.bucket}/{obj.key} was overwritten while it was judged")

    # --- the action: until done ---------------------------------------------------------------

    def _finish(self, obj: StoredObject, outcome: Outcome, *, last_attempt: bool) -> None:
        """Quarantine when the verdict says so, then report. A redelivery only retries the move."""
        first = not outcome.duplicate
        if outcome.status not in self.settings.quarantine_statuses or not self.settings.enforce:
            if outcome.status in self.settings.quarantine_statuses:
                logger.info("monitor mode: would quarantine", extra={"key": obj.key, "status": str(outcome.status)})
            if first:
                self._report(outcome)
            return
        try:
            moved_now = self._quarantine(obj, outcome, resumed=not first)
        except ModeratorError as exc:
            outcome.action_error = f"{exc.kind}: {exc}"[:500]
            record_error(QuarantineIncompleteError.kind)
            if first:
                self._report(outcome)  # the verdict, with the move that failed: log, ledger, event
            log = logger.error if last_attempt else logger.warning
            log(
                "quarantine incomplete: the verdict stands, the move is retried on the next delivery"
                if not last_attempt
                else "quarantine incomplete after the last delivery: the object keeps its status tag",
                extra={**outcome.to_dict(), "error": str(exc)},
            )
            raise QuarantineIncompleteError(f"moving s3://{obj.bucket}/{obj.key} to quarantine failed: {exc}") from exc
        if first:
            self._report(outcome)
        elif moved_now:
            logger.info("quarantine completed on a redelivery", extra=outcome.to_dict())
            self._report(outcome, count_verdict=False)

    def _quarantine(self, obj: StoredObject, outcome: Outcome, *, resumed: bool) -> bool:
        """Copy the judged version, then delete exactly that version: in both places, never in neither.

        `resumed` (a redelivery): the copy may already exist and the original may already be gone.
        Returns whether anything was moved now.
        """
        bucket = self.settings.quarantine_bucket or obj.bucket
        key = self.settings.quarantine_prefix + obj.key
        version: str | None = None
        copied = False
        if resumed:
            if not self._still_there(obj):
                return False  # moved by an earlier delivery, or deleted by someone: nothing to move
            copied, version = self._copy_of(bucket, key, outcome)
        if not copied:
            try:
                version = self.storage.copy(obj, bucket, key, kms_key_id=self.settings.quarantine_kms_key_arn)
            except ObjectChangedError:
                # Unversioned bucket: replaced since it was judged (CopySourceIfMatch). The newer
                # upload has its own event; nothing of the judged bytes is left to move.
                logger.warning(
                    "not quarantined: replaced by a newer upload since it was judged", extra={"key": obj.key}
                )
                return False
        outcome.quarantine_bucket = bucket
        outcome.quarantine_key = key
        outcome.quarantine_version_id = version
        if not self.storage.delete(obj):
            logger.warning(
                "original not deleted: a newer object took its key (it has its own event)",
                extra={"key": obj.key, "etag": obj.etag},
            )
        outcome.action = Action.QUARANTINED  # only once the original is gone from its key
        return True

    def _still_there(self, obj: StoredObject) -> bool:
        """Is the judged object (that version, or on unversioned buckets those bytes) still in place?"""
        try:
            now = self.storage.head(ObjectRef(obj.bucket, obj.key, obj.version_id))
        except ObjectGoneError:
            return False
        return obj.version_id is not None or (now.etag, now.last_modified) == (obj.etag, obj.last_modified)

    def _copy_of(self, bucket: str, key: str, outcome: Outcome) -> tuple[bool, str | None]:
        """A quarantined copy made for this verdict by an earlier delivery: it carries its scanned-at."""
        try:
            found = self.storage.head(ObjectRef(bucket, key))
        except ObjectGoneError:
            return False, None
        carried = self.storage.get_tags(found)
        same = carried.get(tags.SCANNED_AT) == outcome.scanned_at and carried.get(tags.STATUS) == str(outcome.status)
        return same, found.version_id

    def _in_quarantine(self, ref: ObjectRef) -> bool:
        """An event for an object no longer at its key: is it the upload we already quarantined?

        Its quarantined copy has the event's ETag (a copy keeps the ETag of a single-part object
        not under SSE-KMS; for the others this finds nothing, and the skip is reported as gone).
        """
        if not ref.etag:
            return False
        bucket = self.settings.quarantine_bucket or ref.bucket
        try:
            copy = self.storage.head(ObjectRef(bucket, self.settings.quarantine_prefix + ref.key))
        except ObjectGoneError:
            return False
        return copy.etag == ref.etag

    # --- reporting ----------------------------------------------------------------------------

    def _report(self, outcome: Outcome, *, count_verdict: bool = True) -> None:
        record_outcome(outcome, count_verdict=count_verdict)
        self.publisher.publish(outcome)

    def _mark_error(self, obj: StoredObject, ref: ObjectRef, exc: ModeratorError) -> None:
        """Last attempt: leave no object without a status. Best effort; the original error still fails the record."""
        asked_imagga = exc.kind.startswith("imagga")
        verdict = Verdict(
            Status.ERROR, categorizer=self.categorizer.categorizer if asked_imagga else None, reason=exc.kind
        )
        try:
            outcome = self._tag(obj, ref, verdict, confirm=False)
            self._finish(obj, outcome, last_attempt=True)
        except ModeratorError as tag_exc:
            logger.error(
                "could not leave an ERROR status on the last attempt", extra={"key": obj.key, "error": str(tag_exc)}
            )

    def _skipped(self, ref: ObjectRef, reason: SkipReason) -> Outcome:
        outcome = Outcome(ref=ref, action=Action.SKIPPED, skip_reason=reason)
        record_outcome(outcome)
        if reason in ANNOUNCED_SKIPS:
            self.publisher.publish(outcome)
        return outcome
