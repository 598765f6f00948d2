"""The two lists, each page from a few AWS calls whatever its length.

Quarantine: the version listing of the quarantine prefix (one call per 1,000 versions: it gives
the count and the newest-first order S3 itself cannot), then, for the rows shown, the ledger's
`by-status` index over the time those rows were quarantined (one query per quarantined status).
Only a row the ledger does not know costs its tags, read concurrently, and then one batch read
of the ledger for the scans those tags name.

Needs review: the ledger's `REVIEW` scans (one query per 1 MB), then one HEAD per row shown,
concurrently: REVIEW objects stay where they were uploaded, all over the bucket, so no listing
covers them; the HEAD says whether each is still there to decide on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import tags
from ..errors import ObjectGoneError, PermanentError, StorageAccessError, StorageError
from ..ledger import DynamoDBLedger
from ..model import ObjectRef, Status
from ..policy import Thresholds
from ..storage import S3Storage
from .rows import GONE, PRESENT, REPLACED, Item, ListQuery, Match, Page, page_bounds
from .scores import score_views, scores_from_tags


class NotConfiguredError(PermanentError):
    """Something the page needs was not given (a bucket, a table)."""

    kind = "not-configured"


#: A scan is moved to quarantine right after it is tagged; a move retried on a later delivery can
#: come hours after. The ledger is read this far before the oldest row's quarantine time.
LATE_MOVE = timedelta(hours=6)
#: The function's clock and S3's may disagree by this much.
CLOCK_SKEW = timedelta(minutes=15)


@dataclass(frozen=True)
class Listed:
    """One quarantined version as the listing gave it."""

    key: str
    version_id: str
    etag: str
    size: int
    last_modified: str


@dataclass
class Lists:
    s3: Any
    storage: S3Storage
    ledger: DynamoDBLedger | None
    quarantine_bucket: str
    quarantine_prefix: str
    quarantine_statuses: tuple[str, ...]
    #: The bucket the quarantined objects were uploaded to (the ledger keeps their scans under it).
    scan_bucket: str
    categorizer: str
    thresholds: Thresholds
    pool: Executor
    page_size: int

    # --- quarantine -------------------------------------------------------------------------

    def quarantine(self, query: ListQuery) -> Page:
        """Every version under the quarantine prefix (and the filter's), newest first, a page of them resolved."""
        listed = [entry for entry in self.listing(query.prefix) if query.in_days(entry.last_modified)]
        listed.sort(key=lambda entry: (entry.last_modified, entry.key, entry.version_id), reverse=True)
        if query.status:
            # Which rows have the status is known only once every row is resolved.
            rows = [row for row in self.resolve(listed) if row.status == query.status]
            number, pages, first = page_bounds(query.page, len(rows), self.page_size)
            return Page(rows[first : first + self.page_size], number, pages, len(rows), query)
        number, pages, first = page_bounds(query.page, len(listed), self.page_size)
        shown = self.resolve(listed[first : first + self.page_size])
        return Page(shown, number, pages, len(listed), query)

    def listing(self, prefix: str = "") -> list[Listed]:
        """The quarantine's object versions (delete markers aside), under `prefix` within it."""
        bucket, quarantine = self.quarantine_bucket, self.quarantine_prefix
        found = []
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": quarantine + prefix}
        while True:
            with storage_errors(bucket):
                page = self.s3.list_object_versions(**params)
            for entry in page.get("Versions", []):
                key = str(entry["Key"])
                if key == quarantine:
                    continue
                found.append(
                    Listed(
                        key=key,
                        version_id=str(entry.get("VersionId") or "null"),
                        etag=str(entry.get("ETag", "")).strip('"'),
                        size=int(entry.get("Size", 0)),
                        last_modified=iso(entry.get("LastModified")),
                    )
                )
            if not page.get("IsTruncated"):
                return found
            params.update(KeyMarker=page.get("NextKeyMarker", ""), VersionIdMarker=page.get("NextVersionIdMarker", ""))

    def resolve(self, listed: list[Listed]) -> list[Item]:
        """Rows for listed versions: from the ledger where it knows them, else from their tags."""
        known = self._from_ledger(listed)
        unknown = [entry for entry in listed if (entry.key, entry.version_id) not in known]
        tagged = dict(zip(unknown, self._concurrently(self._tags_of, unknown), strict=True))
        scans = self._scans_named_by(tagged.items())
        rows = []
        for entry in listed:
            record = known.get((entry.key, entry.version_id))
            if record is None:
                current = tagged[entry]
                if current is None:
                    rows.append(replace_state(self._row(entry, {}, status=None, scores={}), GONE, None))
                    continue
                scanned_at = current.get(tags.SCANNED_AT)
                record = scans.get((self._original(entry.key), scanned_at or ""))
                rows.append(self._row_from_tags(entry, current, record))
            else:
                rows.append(self._row_from_ledger(entry, record))
        return rows

    def _from_ledger(self, listed: list[Listed]) -> dict[tuple[str, str], dict[str, Any]]:
        """Ledger items of the listed versions, found by the quarantine time window: (key, version) -> item."""
        if self.ledger is None or not listed:
            return {}
        times = [datetime.fromisoformat(entry.last_modified.replace("Z", "+00:00")) for entry in listed]
        since, until = _iso(min(times) - LATE_MOVE), _iso(max(times) + CLOCK_SKEW)
        by_version: dict[tuple[str, str], dict[str, Any]] = {}
        by_key: dict[str, list[dict[str, Any]]] = {}
        for status in self.quarantine_statuses:
            for item in self.ledger.status_items(status, since=since, until=until):
                if item.get("location_bucket") != self.quarantine_bucket or not item.get("location_key"):
                    continue
                version = item.get("location_version_id")
                if version:
                    by_version[(str(item["location_key"]), str(version))] = item
                else:
                    by_key.setdefault(str(item["location_key"]), []).append(item)
        known = {}
        for entry in listed:
            if entry.version_id != "null":
                found = by_version.get((entry.key, entry.version_id))
            else:
                # Unversioned: the key alone is ambiguous; the ETag (a copy keeps the source's) decides.
                same = [item for item in by_key.get(entry.key, []) if item.get("etag") == entry.etag]
                found = max(same, key=lambda item: str(item.get("scanned_at", "")), default=None)
            if found is not None:
                known[(entry.key, entry.version_id)] = found
        return known

    def _tags_of(self, entry: Listed) -> dict[str, str] | None:
        """The version's tags; None when it went away since the listing (someone decided meanwhile)."""
        version = None if entry.version_id == "null" else entry.version_id
        try:
            with storage_errors(self.quarantine_bucket):
                response = self.s3.get_object_tagging(
                    Bucket=self.quarantine_bucket, Key=entry.key, **({"VersionId": version} if version else {})
                )
        except ObjectGoneError:
            return None
        return {tag["Key"]: tag["Value"] for tag in response.get("TagSet", [])}

    def _scans_named_by(self, tagged: Iterable[tuple[Listed, dict[str, str] | None]]) -> dict[tuple[str, str], Any]:
        """The ledger items of the scans the tags name (one batch read): (original key, scanned-at) -> item."""
        wanted = {
            (self._original(entry.key), current[tags.SCANNED_AT])
            for entry, current in tagged
            if current and current.get(tags.SCANNED_AT)
        }
        if self.ledger is None or not wanted:
            return {}
        found = self.ledger.decisions([(self.scan_bucket, key, at) for key, at in wanted])
        return {(str(item.get("object_key")), str(item.get("scanned_at"))): item for item in found.values()}

    def _row_from_ledger(self, entry: Listed, record: dict[str, Any]) -> Item:
        return self._row(entry, record, status=record.get("status"), scores=record.get("scores") or {})

    def _row_from_tags(self, entry: Listed, current: dict[str, str], record: dict[str, Any] | None) -> Item:
        """The tags say what the object carries; a ledger item of that scan adds the bytes' SHA-256."""
        extra = dict(record or {})
        extra.update(
            scanned_at=current.get(tags.SCANNED_AT),
            categorizer=current.get(tags.CATEGORIZER) or extra.get("categorizer"),
            reason=current.get(tags.REASON) or extra.get("reason"),
        )
        return self._row(entry, extra, status=current.get(tags.STATUS), scores=scores_from_tags(current))

    def _row(self, entry: Listed, record: dict[str, Any], *, status: Any, scores: dict[str, Any]) -> Item:
        categorizer = str(record.get("categorizer") or self.categorizer)
        reason = _text(record.get("reason"))
        return Item(
            bucket=self.quarantine_bucket,
            key=entry.key,
            original_key=self._original(entry.key),
            status=_text(status),
            scores=score_views(
                scores,
                categorizer=categorizer,
                status=_text(record.get("verdict") or status),
                reason=reason,
                thresholds=self.thresholds,
            ),
            scanned_at=_text(record.get("scanned_at")),
            quarantined=True,
            version_id=entry.version_id,
            etag=entry.etag,
            sha256=_text(record.get("sha256")),
            size=entry.size,
            last_modified=entry.last_modified,
            categorizer=categorizer,
            reason=reason,
            scan_bucket=self.scan_bucket,
            reused_from=_text(record.get("reused_from")),
            match=match_of(record),
        )

    def _original(self, key: str) -> str:
        return key[len(self.quarantine_prefix) :]

    # --- needs review -----------------------------------------------------------------------

    def needs_review(self, query: ListQuery) -> Page:
        """`REVIEW` scans from the ledger, newest first; the rows shown checked for their object."""
        ledger = self._ledger()
        since = f"{query.since.isoformat()}T00:00:00" if query.since else None
        until = f"{query.until.isoformat()}T23:59:59.999Z" if query.until else None
        records = ledger.status_items(str(Status.REVIEW), since=since, until=until, key_prefix=query.prefix)
        number, pages, first = page_bounds(query.page, len(records), self.page_size)
        rows = [self._review_row(record) for record in records[first : first + self.page_size]]
        return Page(self._concurrently(self._checked, rows), number, pages, len(records), query)

    def waiting_for_review(self) -> int:
        return self._ledger().count_status(str(Status.REVIEW))

    def _review_row(self, record: dict[str, Any]) -> Item:
        bucket = str(record.get("location_bucket") or record.get("bucket", ""))
        key = str(record.get("location_key") or record.get("object_key", ""))
        quarantined = key.startswith(self.quarantine_prefix)
        # The version a decision acts on: the quarantined copy's, or the upload's own when left in
        # place (items written before the ledger kept `location_version_id` have only the latter).
        version = record.get("location_version_id") or (None if quarantined else record.get("version_id"))
        categorizer = str(record.get("categorizer") or self.categorizer)
        status, reason = _text(record.get("status")), _text(record.get("reason"))
        return Item(
            bucket=bucket,
            key=key,
            original_key=str(record.get("object_key", key)),
            status=status,
            scores=score_views(
                record.get("scores") or {},
                categorizer=categorizer,
                status=status,
                reason=reason,
                thresholds=self.thresholds,
            ),
            scanned_at=_text(record.get("scanned_at")),
            quarantined=quarantined,
            version_id=_text(version),
            etag=None if quarantined else _text(record.get("etag")),
            sha256=_text(record.get("sha256")),
            categorizer=categorizer,
            reason=reason,
            scan_bucket=_text(record.get("bucket")),
            reused_from=_text(record.get("reused_from")),
            match=match_of(record),
        )

    def _checked(self, row: Item) -> Item:
        """The row with its object's size, or marked gone (deleted) or replaced (another upload at the key)."""
        return replace_state(row, *presence(self.storage, row))

    def _ledger(self) -> DynamoDBLedger:
        if self.ledger is None:
            raise NotConfiguredError("no decisions ledger: set DECISIONS_TABLE to the stack's decisions table")
        return self.ledger

    def _concurrently(self, work: Callable[[Any], Any], items: list[Any]) -> list[Any]:
        """`work` on every item at once (within the pool): the page waits for the slowest, not the sum."""
        if len(items) <= 1:
            return [work(item) for item in items]
        return list(self.pool.map(work, items))


def presence(storage: S3Storage, row: Item) -> tuple[str, int | None]:
    """(state, size) of the exact object a row names: the version it names, or the ETag it saw."""
    version = None if row.version_id in (None, "", "null") else row.version_id
    try:
        found = storage.head(ObjectRef(row.bucket, row.key, version))
    except ObjectGoneError:
        return GONE, None
    if version is None and row.etag and found.etag != row.etag:
        return REPLACED, found.size
    return PRESENT, found.size


def replace_state(row: Item, state: str, size: int | None) -> Item:
    return replace(row, state=state, size=size if size is not None else row.size)


def match_of(record: dict[str, Any]) -> Match | None:
    """A content-memory match recorded on a scan: `rejected-before` or `matches-rejected`, and with what."""
    reason = _text(record.get("reason"))
    if reason not in ("rejected-before", "matches-rejected"):
        return None
    distance = record.get("matched_distance")
    return Match(
        reason=reason,
        sha256=_text(record.get("matched_sha256")),
        distance=int(distance) if isinstance(distance, int | float) else None,
        location=_text(record.get("matched_location")),
    )


def iso(value: object) -> str:
    """S3's LastModified as the ledger writes times (UTC, milliseconds, Z)."""
    if isinstance(value, datetime):
        return _iso(value)
    return str(value or "")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


@contextmanager
def storage_errors(bucket: str) -> Iterator[None]:
    """Listing and tag reads outside S3Storage: the same translation to the package's error types."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket":
            raise StorageAccessError(f"the bucket {bucket} does not exist") from exc
        if code in ("AccessDenied", "403", "AllAccessDisabled"):
            raise StorageAccessError(f"access to the bucket {bucket} denied ({code})") from exc
        if code in ("NoSuchKey", "NoSuchVersion", "404"):
            raise ObjectGoneError(f"an object in s3://{bucket} is gone ({code})") from exc
        raise StorageError(f"reading s3://{bucket} failed ({code})") from exc
    except BotoCoreError as exc:
        raise StorageError(f"reading s3://{bucket} failed ({type(exc).__name__})") from exc
