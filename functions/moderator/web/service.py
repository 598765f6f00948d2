"""What the review page does, without Flask: overview, list, show, check, approve, reject, dismiss.

Approving or rejecting a quarantined object calls `review.release` / `review.purge`, the code
behind the CLI's `quarantine release` / `purge`. An object the function left in place with
`REVIEW` (the default: only `UNSAFE` is quarantined) has no quarantine copy to release, so it
is approved where it is: the same approval record and ledger entry, the tag set to `APPROVED`.

Every listed object carries what the moderator is shown of it - its version, its ETag and,
from the decisions ledger, the SHA-256 of the bytes the function judged - and Approve or Reject
act on exactly that (`review.pin`), refusing when the object at the key is another one. A bulk
decision is the same decision once per object, each pinned on its own, each with its own result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .. import tags
from ..approvals import Approvals, DynamoDBApprovals
from ..assessment import Assessment, Categorizer, assess
from ..cli.fetch import UrlFetcher
from ..errors import ModeratorError, PermanentError
from ..imaging import PreparedImage, UnsupportedImageError, prepare
from ..ledger import DISMISSED, DynamoDBLedger
from ..model import ObjectRef, Status
from ..review import (
    REJECTED,
    NotQuarantinedError,
    Released,
    approve_in_place,
    original_key,
    purge,
    reject_in_place,
    release,
)
from ..settings import Settings
from ..storage import S3Storage
from .listing import Lists, NotConfiguredError, presence
from .overview import VERDICTS, Overview, Queues, day_figures, last_days
from .rows import GONE, PRESENT, Decision, Item, ListQuery, Page, Target
from .scores import score_views, scores_from_tags
from .thumbnails import Thumbnails, preview_of

PREVIEW_SHORT_SIDE = 360
#: AWS calls a page makes at once (tag reads, HEADs, the overview's days): 50 rows checked in one round trip.
WORKERS = 50
#: Bulk decisions at once: each is several calls of its own, and S3 and DynamoDB share the pool.
BULK_WORKERS = 8
#: Most objects one bulk decision takes (a page is at most 200 rows).
MAX_BULK = 200
#: The failures a decision on one object can meet: shown on its line, the others go on.
EXPECTED_FAILURES = (ModeratorError, BotoCoreError, ClientError, NotQuarantinedError)

__all__ = ["Decision", "Item", "NotConfiguredError", "Page", "RejectedImages", "ReviewService", "Target"]


class RejectedImage(Protocol):
    """A rejected image content memory keeps: its SHA-256, where it was, who rejected it and when."""

    @property
    def sha256(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def rejected_at(self) -> str: ...
    @property
    def rejected_by(self) -> str: ...
    #: A small JPEG of it, if one was kept.
    @property
    def preview(self) -> bytes | None: ...


class RejectedImages(Protocol):
    """Content memory's read side: a rejected image by the SHA-256 of its bytes."""

    def rejected(self, sha256: str) -> RejectedImage | None: ...


class StillThereError(PermanentError):
    """A dismissal of an object that is still there: it needs a decision, not a dismissal."""

    kind = "still-there"


@dataclass(frozen=True)
class Outcome:
    """One object's line after a bulk decision: what was done, or why not."""

    target: Target
    decision: Decision | None = None
    error: BaseException | None = None


@dataclass
class ReviewService:
    storage: S3Storage
    s3: Any
    settings: Callable[[], Settings]
    categorizer: Callable[[], Categorizer]
    reviewer: Callable[[], str]
    clock: Callable[[], str]
    dynamodb: Callable[[], Any]
    bucket: str | None = None
    page_size: int = 20
    #: Fetches "Check an image" URLs: a total deadline, public addresses only (unless the operator allows others).
    url_fetcher: UrlFetcher = field(default_factory=UrlFetcher)
    #: Content memory's rejected images. None: the decisions table's own (DECISIONS_TABLE), when there
    #: is one; without either, a match shows without the other image.
    memory: RejectedImages | None = None
    #: The stack's queues, for the overview (None: not shown).
    queues: Queues | None = None
    _reviewer: str | None = field(default=None, init=False, repr=False)
    _pool: Executor | None = field(default=None, init=False, repr=False)
    _thumbnails: Thumbnails | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # --- configuration ----------------------------------------------------------------------

    @property
    def quarantine_prefix(self) -> str:
        return self.settings().quarantine_prefix

    @property
    def quarantine_bucket(self) -> str:
        bucket = self.settings().quarantine_bucket or self.bucket
        if not bucket:
            raise NotConfiguredError("no bucket given: start the review page with --bucket BUCKET")
        return bucket

    def ledger(self) -> DynamoDBLedger:
        settings = self.settings()
        if not settings.decisions_table:
            raise NotConfiguredError("no decisions ledger: set DECISIONS_TABLE to the stack's decisions table")
        return DynamoDBLedger(self.dynamodb(), settings.decisions_table, settings.decisions_ttl_days)

    def optional_ledger(self) -> DynamoDBLedger | None:
        return self.ledger() if self.settings().decisions_table else None

    def approvals(self) -> Approvals:
        table = self.settings().approvals_table
        if not table:
            raise NotConfiguredError(
                "approvals cannot be recorded: set DECISIONS_TABLE (or APPROVALS_TABLE) to the stack's table"
            )
        return DynamoDBApprovals(self.dynamodb(), table, self.settings().approval_ttl_days)

    def optional_approvals(self) -> Approvals | None:
        return self.approvals() if self.settings().approvals_table else None

    def who(self) -> str:
        """The caller's AWS identity, asked once."""
        if self._reviewer is None:
            self._reviewer = self.reviewer()
        return self._reviewer

    @property
    def pool(self) -> Executor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="review-aws")
            return self._pool

    def quarantine_statuses(self) -> tuple[str, ...]:
        """The statuses that put an object in quarantine, in the verdicts' order (the status filter's choices)."""
        configured = {str(status) for status in self.settings().quarantine_statuses}
        return tuple(str(verdict) for verdict in VERDICTS if str(verdict) in configured)

    def lists(self) -> Lists:
        settings = self.settings()
        return Lists(
            s3=self.s3,
            storage=self.storage,
            ledger=self.optional_ledger(),
            quarantine_bucket=self.quarantine_bucket,
            quarantine_prefix=settings.quarantine_prefix,
            quarantine_statuses=self.quarantine_statuses(),
            scan_bucket=self._original_bucket(self.quarantine_bucket) or self.quarantine_bucket,
            categorizer=settings.categorizer,
            thresholds=settings.thresholds,
            pool=self.pool,
            page_size=self.page_size,
        )

    # --- pages ------------------------------------------------------------------------------

    def needs_review(self, query: ListQuery | None = None) -> Page:
        """`REVIEW` decisions from the ledger's status index, newest first, each checked for its object."""
        if self.optional_ledger() is None:
            raise NotConfiguredError("no decisions ledger: set DECISIONS_TABLE to the stack's decisions table")
        return self.lists().needs_review(query or ListQuery())

    def quarantine(self, query: ListQuery | None = None) -> Page:
        """Every object version under the quarantine prefix, newest first.

        Versions, not keys: two uploads quarantined at the same key are two images to decide on.
        """
        return self.lists().quarantine(query or ListQuery())

    def overview(self) -> Overview:
        """The last 30 days from the ledger's day index, what waits for a decision, and the queues."""
        today = date.fromisoformat(self.clock()[:10])
        days = last_days(today)
        notes: list[str] = []
        ledger = self.optional_ledger()
        queues = self.queues
        depth = self.pool.submit(queues.depths) if queues is not None else None
        if ledger is None:
            notes.append("No decisions ledger: set DECISIONS_TABLE to see verdicts per day and what waits for review.")
            figures = [day_figures(day, []) for day in days]
            waiting = None
        else:
            found = list(self.pool.map(lambda day: ledger.day(day.isoformat()), days))
            figures = [day_figures(day, items) for day, items in zip(days, found, strict=True)]
            waiting = ledger.count_status(str(Status.REVIEW))
        quarantined = len(self.lists().listing()) if self.bucket or self.settings().quarantine_bucket else None
        if quarantined is None:
            notes.append("No bucket given: start the page with --bucket to count the quarantine.")
        listed, problem = depth.result() if depth is not None else ([], None)
        return Overview(
            days=figures,
            waiting=waiting,
            quarantined=quarantined,
            queues=listed,
            queue_problem=problem,
            queues_configured=queues is not None and queues.configured,
            notes=notes,
        )

    def describe(self, target: Target) -> Item:
        """One object as the moderator saw it (for the confirmation page)."""
        obj = self.storage.head(ObjectRef(target.bucket, target.key, _version(target.version_id)))
        current = self.storage.get_tags(obj)
        prefix = self.quarantine_prefix
        quarantined = target.key.startswith(prefix) and target.key != prefix
        settings = self.settings()
        categorizer = current.get(tags.CATEGORIZER) or settings.categorizer
        status, reason = current.get(tags.STATUS), current.get(tags.REASON)
        return Item(
            bucket=target.bucket,
            key=target.key,
            original_key=target.key[len(prefix) :] if quarantined else target.key,
            status=status,
            scores=score_views(
                scores_from_tags(current),
                categorizer=categorizer,
                status=status,
                reason=reason,
                thresholds=settings.thresholds,
            ),
            scanned_at=current.get(tags.SCANNED_AT),
            quarantined=quarantined,
            version_id=target.version_id,
            etag=target.etag,
            sha256=target.sha256,
            size=obj.size,
            categorizer=categorizer,
            reason=reason,
        )

    def describe_all(self, targets: list[Target]) -> list[Item]:
        """The objects of a bulk decision, for its confirmation (gone ones marked, never an error)."""
        return list(self.pool.map(self._described_or_gone, targets)) if targets else []

    def _described_or_gone(self, target: Target) -> Item:
        try:
            return self.describe(target)
        except ModeratorError:
            prefix = self.quarantine_prefix
            original = target.key[len(prefix) :] if target.key.startswith(prefix) else target.key
            return Item(target.bucket, target.key, original, None, (), None, False, state=GONE)

    # --- images -----------------------------------------------------------------------------

    def thumbnail(self, bucket: str, key: str, version_id: str | None = None, etag: str | None = None) -> PreparedImage:
        """A small JPEG of the object (that version), made here so the page never holds an S3 URL or a signature."""
        with self._lock:
            if self._thumbnails is None:
                self._thumbnails = Thumbnails(self.s3, self._preview_limits)
            thumbnails = self._thumbnails
        return thumbnails.get(bucket, key, version_id, etag)

    def rejected_images(self) -> RejectedImages | None:
        """The content memory's rejected images: the one given, else the decisions table's, else none."""
        if self.memory is not None:
            return self.memory
        ledger = self.optional_ledger()
        return ledger.memory() if ledger is not None else None

    def rejected_preview(self, sha256: str) -> PreparedImage | None:
        """The stored preview of a rejected image (content memory), re-encoded here; None when there is none."""
        memory = self.rejected_images()
        if memory is None:
            return None
        rejected = memory.rejected(sha256)
        if rejected is None or not rejected.preview:
            return None
        return preview_of(rejected.preview, self.settings().max_image_pixels)

    def _preview_limits(self) -> tuple[int, int]:
        settings = self.settings()
        return settings.max_image_bytes, settings.max_image_pixels

    # --- check an image ---------------------------------------------------------------------

    def check(self, data: bytes) -> tuple[Assessment, PreparedImage | None]:
        """The verdict under the current thresholds, and a small preview when the bytes are an image."""
        settings = self.settings()
        assessment = assess(data, self.categorizer(), settings)
        try:
            preview: PreparedImage | None = prepare(
                data, short_side=PREVIEW_SHORT_SIDE, max_pixels=settings.max_image_pixels
            )
        except UnsupportedImageError:
            preview = None
        return assessment, preview

    # --- a human's decision -----------------------------------------------------------------

    def approve(self, target: Target) -> Decision:
        if self._is_quarantined(target.bucket, target.key):
            released: Released = release(
                self.storage,
                self.approvals(),
                target.ref,
                quarantine_prefix=self.quarantine_prefix,
                to_bucket=self._original_bucket(target.bucket),
                reviewer=self.who(),
                now=self.clock(),
                sha256=target.sha256,
                ledger=self.optional_ledger(),
            )
            return Decision(str(Status.APPROVED), target.bucket, target.key, f"s3://{released.bucket}/{released.key}")
        approve_in_place(
            self.storage,
            self.approvals(),
            target.ref,
            reviewer=self.who(),
            now=self.clock(),
            sha256=target.sha256,
            ledger=self.optional_ledger(),
        )
        return Decision(str(Status.APPROVED), target.bucket, target.key)

    def reject(self, target: Target) -> Decision:
        if self._is_quarantined(target.bucket, target.key):
            purge(
                self.storage,
                target.ref,
                quarantine_prefix=self.quarantine_prefix,
                source_bucket=self._original_bucket(target.bucket),
                sha256=target.sha256,
                approvals=self.optional_approvals(),
                reviewer=self.who(),
                now=self.clock(),
                ledger=self.optional_ledger(),
                settings=self.settings(),
            )
            return Decision(REJECTED, target.bucket, target.key)
        reject_in_place(
            self.storage,
            target.ref,
            reviewer=self.who(),
            now=self.clock(),
            sha256=target.sha256,
            approvals=self.optional_approvals(),
            ledger=self.optional_ledger(),
            settings=self.settings(),
        )
        return Decision(REJECTED, target.bucket, target.key)

    def decide_many(self, decision: str, targets: list[Target]) -> list[Outcome]:
        """The same decision on each object, each pinned on its own; one outcome per object, in order.

        Objects bound for the same key (two quarantined versions of one upload key) are decided one
        after the other, the rest at once: the second release then sees the first and refuses.
        """
        act = self.approve if decision == str(Status.APPROVED) else self.reject
        groups: dict[tuple[str, str], list[int]] = {}
        for index, target in enumerate(targets):
            groups.setdefault(self._destination(target), []).append(index)
        outcomes: list[Outcome | None] = [None] * len(targets)

        def run(indexes: list[int]) -> None:
            for index in indexes:
                target = targets[index]
                try:
                    outcomes[index] = Outcome(target, decision=act(target))
                except EXPECTED_FAILURES as exc:
                    outcomes[index] = Outcome(target, error=exc)

        with ThreadPoolExecutor(max_workers=BULK_WORKERS, thread_name_prefix="review-bulk") as bulk:
            for done in [bulk.submit(run, indexes) for indexes in groups.values()]:
                done.result()
        return [outcome for outcome in outcomes if outcome is not None]

    def dismiss(self, target: Target, *, scan_bucket: str, scan_key: str, scanned_at: str) -> Decision:
        """A scan waiting for review whose object is gone: recorded DISMISSED in the ledger, nothing deleted.

        Refused (StillThereError) while the object the moderator saw is still there: that needs a decision.
        """
        state, _ = presence(
            self.storage,
            Item(
                target.bucket,
                target.key,
                target.key,
                None,
                (),
                None,
                False,
                version_id=target.version_id,
                etag=target.etag,
            ),
        )
        if state == PRESENT:
            raise StillThereError(
                f"s3://{target.bucket}/{target.key} is still there: approve or reject it instead of dismissing it"
            )
        why = "object-gone" if state == GONE else "object-replaced"
        if not self.ledger().record_dismissal(
            bucket=scan_bucket, key=scan_key, scanned_at=scanned_at, reviewer=self.who(), when=self.clock(), why=why
        ):
            raise StillThereError("that scan no longer waits for review: someone decided meanwhile")
        return Decision(DISMISSED, target.bucket, target.key)

    def _destination(self, target: Target) -> tuple[str, str]:
        if self._is_quarantined(target.bucket, target.key):
            return self._original_bucket(target.bucket) or target.bucket, original_key(
                target.key, self.quarantine_prefix
            )
        return target.bucket, target.key

    def _is_quarantined(self, bucket: str, key: str) -> bool:
        try:
            original_key(key, self.quarantine_prefix)
        except NotQuarantinedError:
            return False
        settings = self.settings()
        return settings.quarantine_bucket is None or settings.quarantine_bucket == bucket

    def _original_bucket(self, quarantine_bucket: str) -> str | None:
        """With a separate quarantine bucket, release goes back to the page's bucket."""
        if self.settings().quarantine_bucket and self.bucket and self.bucket != quarantine_bucket:
            return self.bucket
        return None


def _version(version_id: str | None) -> str | None:
    """S3 lists an unversioned object's version as "null": for a HEAD that is no version at all."""
    return None if version_id in (None, "", "null") else version_id
