"""What the review page does, without Flask: list, show, check, approve, reject.

Approving or rejecting a quarantined object calls `review.release` / `review.purge`, the code
behind the CLI's `quarantine release` / `purge`. An object the function left in place with
`REVIEW` (the default: only `UNSAFE` is quarantined) has no quarantine copy to release, so it
is approved where it is: the same approval record and ledger entry, the tag set to `APPROVED`.

Every listed object carries what the moderator is shown of it - its version, its ETag and,
from the decisions ledger, the SHA-256 of the bytes the function judged - and Approve or Reject
act on exactly that (`review.pin`), refusing when the object at the key is another one.
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
from ..cli.fetch import UrlFetcher
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
class Target:
    """The object a form names, as the moderator saw it: its version and ETag, and the SHA-256 of its bytes."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    sha256: str | None = None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.bucket, self.key, self.version_id, self.etag)


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
    version_id: str | None = None
    etag: str | None = None
    #: SHA-256 of the bytes the function judged (from the ledger), when known.
    sha256: str | None = None

    def seen(self) -> dict[str, str]:
        """The query arguments that name this object as the moderator sees it (for links)."""
        named = {"bucket": self.bucket, "key": self.key, "version_id": self.version_id}
        named.update(etag=self.etag, sha256=self.sha256)
        return {name: value for name, value in named.items() if value}

    def shown(self) -> dict[str, str]:
        """The arguments of its thumbnail: that version's bytes."""
        return {name: value for name, value in self.seen().items() if name in ("bucket", "key", "version_id")}


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
    #: Fetches "Check an image" URLs: a total deadline, public addresses only (unless the operator allows others).
    url_fetcher: UrlFetcher = field(default_factory=UrlFetcher)
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
        return DynamoDBApprovals(self.dynamodb(), table, self.settings().approval_ttl_days)

    def optional_approvals(self) -> Approvals | None:
        return self.approvals() if self.settings().approvals_table else None

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
            quarantined = key.startswith(prefix)
            # The version a decision acts on: the quarantined copy's, or the upload's own when left in
            # place (items written before the ledger kept `location_version_id` have only the latter).
            version = record.get("location_version_id") or (None if quarantined else record.get("version_id"))
            items.append(
                Item(
                    bucket=bucket,
                    key=key,
                    original_key=str(record.get("object_key", key)),
                    status=str(record.get("status")),
                    scores=dict(record.get("scores") or {}),
                    scanned_at=record.get("scanned_at"),
                    quarantined=quarantined,
                    version_id=version,
                    etag=None if quarantined else record.get("etag"),
                    sha256=record.get("sha256"),
                )
            )
        return Page(items, _encode_key(last))

    def quarantine(self, token: str | None) -> Page:
        """Every object version under the quarantine prefix, with the tags that put it there.

        Versions, not keys: two uploads quarantined at the same key are two images to decide on.
        """
        bucket, prefix = self.quarantine_bucket, self.quarantine_prefix
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": self.page_size}
        params.update(_decode_markers(token))
        with _storage_errors(bucket):
            response = self.s3.list_object_versions(**params)
        ledger = self.optional_ledger()
        items = []
        for entry in response.get("Versions", []):
            key = str(entry["Key"])
            if key == prefix:
                continue
            version = str(entry.get("VersionId") or "null")
            etag = str(entry.get("ETag", "")).strip('"')
            size = int(entry.get("Size", 0))
            current = self.storage.get_tags(StoredObject(bucket, key, _version(version), etag, size))
            scanned_at = current.get(tags.SCANNED_AT)
            original = key[len(prefix) :]
            source = self._original_bucket(bucket) or bucket
            judged = ledger.decision(source, original, scanned_at) if ledger and scanned_at else None
            items.append(
                Item(
                    bucket=bucket,
                    key=key,
                    original_key=original,
                    status=current.get(tags.STATUS),
                    scores=tags.scores_from(current),
                    scanned_at=scanned_at,
                    quarantined=True,
                    version_id=version,
                    etag=etag,
                    sha256=str(judged["sha256"]) if judged and judged.get("sha256") else None,
                )
            )
        return Page(items, _encode_markers(response) if response.get("IsTruncated") else None)

    def describe(self, target: Target) -> Item:
        """One object as the moderator saw it (for the confirmation page)."""
        obj = self.storage.head(ObjectRef(target.bucket, target.key, _version(target.version_id)))
        current = self.storage.get_tags(obj)
        prefix = self.quarantine_prefix
        quarantined = target.key.startswith(prefix) and target.key != prefix
        return Item(
            bucket=target.bucket,
            key=target.key,
            original_key=target.key[len(prefix) :] if quarantined else target.key,
            status=current.get(tags.STATUS),
            scores=tags.scores_from(current),
            scanned_at=current.get(tags.SCANNED_AT),
            quarantined=quarantined,
            version_id=target.version_id,
            etag=target.etag,
            sha256=target.sha256,
        )

    def thumbnail(self, bucket: str, key: str, version_id: str | None = None) -> PreparedImage:
        """A small JPEG of the object (that version), made here so the page never holds an S3 URL or a signature."""
        settings = self.settings()
        obj = self.storage.head(ObjectRef(bucket, key, _version(version_id)))
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
            return Decision(str(Status.APPROVED), released.bucket, released.key)
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
        )
        return Decision(REJECTED, target.bucket, target.key)

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


def _encode_markers(response: dict[str, Any]) -> str:
    """The version listing's next-page markers as an opaque URL-safe token."""
    markers = {
        "KeyMarker": response.get("NextKeyMarker", ""),
        "VersionIdMarker": response.get("NextVersionIdMarker", ""),
    }
    return base64.urlsafe_b64encode(json.dumps(markers, sort_keys=True).encode()).decode()


def _decode_markers(token: str | None) -> dict[str, str]:
    """Only the two markers, as strings: a tampered token starts from the first page."""
    if not token:
        return {}
    try:
        markers = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        return {}
    if not isinstance(markers, dict) or set(markers) != {"KeyMarker", "VersionIdMarker"}:
        return {}
    if not all(isinstance(value, str) for value in markers.values()):
        return {}
    return {name: value for name, value in markers.items() if value}


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
