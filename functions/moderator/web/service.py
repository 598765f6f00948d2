"""What the review page does, without Flask: list, show, check, approve, reject.

Approving or rejecting a quarantined object calls `review.release` / `review.purge`, the code
behind the CLI's `quarantine release` / `purge`. An object the function left in place with
`REVIEW` (the default: only `UNSAFE` is quarantined) has no quarantine copy to release, so it
is approved where it is: the same approval record and ledger entry, the tag set to `APPROVED`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import tags
from ..approvals import Approvals, DynamoDBApprovals
from ..assessment import Assessment, Categorizer, assess
from ..errors import PermanentError, StorageAccessError, StorageError
from ..imaging import PreparedImage, UnsupportedImageError, prepare
from ..ledger import DynamoDBLedger
from ..model import ObjectRef, Reason, Status, StoredObject
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

THUMBNAIL_SHORT_SIDE = 240
PREVIEW_SHORT_SIDE = 360


class NotConfiguredError(PermanentError):
    """Something the page needs was not given (a bucket, a table)."""

    kind = "not-configured"


@dataclass(frozen=True)
class Item:
    """One object on a list page: where it is now, where it came from, what was decided."""

    bucket: str
    key: str
    original_key: str
    status: str | None
    scores: dict[str, float]
    scanned_at: str | None
    quarantined: bool


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next_token: str | None


@dataclass(frozen=True)
class Decision:
    """What a human's Approve or Reject did, for the message shown afterwards."""

    decision: str
    bucket: str
    key: str


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
    _reviewer: str | None = field(default=None, init=False, repr=False)

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
        return DynamoDBApprovals(self.dynamodb(), table)

    def who(self) -> str:
        """The caller's AWS identity, asked once."""
        if self._reviewer is None:
            self._reviewer = self.reviewer()
        return self._reviewer

    # --- lists ------------------------------------------------------------------------------

    def needs_review(self, token: str | None) -> Page:
        """`REVIEW` decisions from the ledger's status index, newest first."""
        records, last = self.ledger().by_status(str(Status.REVIEW), limit=self.page_size, start=_decode_key(token))
        prefix = self.quarantine_prefix
        items = []
        for record in records:
            bucket = str(record.get("location_bucket") or record.get("bucket", ""))
            key = str(record.get("location_key") or record.get("object_key", ""))
            items.append(
                Item(
                    bucket=bucket,
                    key=key,
                    original_key=str(record.get("object_key", key)),
                    status=str(record.get("status")),
                    scores=dict(record.get("scores") or {}),
                    scanned_at=record.get("scanned_at"),
                    quarantined=key.startswith(prefix),
                )
            )
        return Page(items, _encode_key(last))

    def quarantine(self, token: str | None) -> Page:
        """What sits under the quarantine prefix now, with the tags that put it there."""
        bucket, prefix = self.quarantine_bucket, self.quarantine_prefix
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": self.page_size}
        if token:
            params["ContinuationToken"] = token
        with _storage_errors(bucket):
            response = self.s3.list_objects_v2(**params)
        items = []
        for entry in response.get("Contents", []):
            key = str(entry["Key"])
            if key == prefix:
                continue
            current = self.storage.get_tags(StoredObject(bucket, key, None, "", int(entry.get("Size", 0))))
            items.append(
                Item(
                    bucket=bucket,
                    key=key,
                    original_key=key[len(prefix) :],
                    status=current.get(tags.STATUS),
                    scores=tags.scores_from(current),
                    scanned_at=current.get(tags.SCANNED_AT),
                    quarantined=True,
                )
            )
        return Page(items, response.get("NextContinuationToken") if response.get("IsTruncated") else None)

    def describe(self, bucket: str, key: str) -> Item:
        """One object as it is now (for the confirmation page)."""
        obj = self.storage.head(ObjectRef(bucket, key))
        current = self.storage.get_tags(obj)
        prefix = self.quarantine_prefix
        quarantined = key.startswith(prefix) and key != prefix
        return Item(
            bucket=bucket,
            key=key,
            original_key=key[len(prefix) :] if quarantined else key,
            status=current.get(tags.STATUS),
            scores=tags.scores_from(current),
            scanned_at=current.get(tags.SCANNED_AT),
            quarantined=quarantined,
        )

    def thumbnail(self, bucket: str, key: str) -> PreparedImage:
        """A small JPEG of the object, made here so the page never holds an S3 URL or a signature."""
        settings = self.settings()
        obj = self.storage.head(ObjectRef(bucket, key))
        if obj.size > settings.max_image_bytes:
            raise UnsupportedImageError(Reason.TOO_LARGE, "too large to preview")
        return prepare(self.storage.read(obj), short_side=THUMBNAIL_SHORT_SIDE, max_pixels=settings.max_image_pixels)

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

    def approve(self, bucket: str, key: str) -> Decision:
        if self._is_quarantined(bucket, key):
            released: Released = release(
                self.storage,
                self.approvals(),
                ObjectRef(bucket, key),
                quarantine_prefix=self.quarantine_prefix,
                to_bucket=self._original_bucket(bucket),
                reviewer=self.who(),
                now=self.clock(),
                ledger=self.optional_ledger(),
            )
            return Decision(str(Status.APPROVED), released.bucket, released.key)
        return self._approve_in_place(bucket, key)

    def reject(self, bucket: str, key: str) -> Decision:
        if self._is_quarantined(bucket, key):
            purge(
                self.storage,
                bucket,
                key,
                quarantine_prefix=self.quarantine_prefix,
                reviewer=self.who(),
                now=self.clock(),
                ledger=self.optional_ledger(),
            )
            return Decision(REJECTED, bucket, key)
        return self._reject_in_place(bucket, key)

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

    def _approve_in_place(self, bucket: str, key: str) -> Decision:
        approve_in_place(
            self.storage,
            self.approvals(),
            ObjectRef(bucket, key),
            reviewer=self.who(),
            now=self.clock(),
            ledger=self.optional_ledger(),
        )
        return Decision(str(Status.APPROVED), bucket, key)

    def _reject_in_place(self, bucket: str, key: str) -> Decision:
        reject_in_place(
            self.storage, ObjectRef(bucket, key), reviewer=self.who(), now=self.clock(), ledger=self.optional_ledger()
        )
        return Decision(REJECTED, bucket, key)


def _encode_key(key: dict[str, Any] | None) -> str | None:
    """The ledger's next-page key as an opaque URL-safe token."""
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, sort_keys=True).encode()).decode()


def _decode_key(token: str | None) -> dict[str, Any] | None:
    """Only string attributes, as the status index's keys are: a tampered token is ignored."""
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        return None
    valid = isinstance(key, dict) and all(
        isinstance(name, str) and isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str)
        for name, value in key.items()
    )
    return key if valid else None


@contextmanager
def _storage_errors(bucket: str) -> Iterator[None]:
    """list_objects_v2 outside S3Storage: the same translation to the package's error types."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket":
            raise StorageAccessError(f"the bucket {bucket} does not exist") from exc
        if code in ("AccessDenied", "403", "AllAccessDisabled"):
            raise StorageAccessError(f"access to the bucket {bucket} denied ({code})") from exc
        raise StorageError(f"listing s3://{bucket} failed ({code})") from exc
    except BotoCoreError as exc:
        raise StorageError(f"listing s3://{bucket} failed ({type(exc).__name__})") from exc
