"""What the review page lists: rows, a page of them, the filters that chose them. Plain data, no I/O."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from urllib.parse import urlencode

from ..model import ObjectRef
from .scores import Score

#: Where a listed object stands now (checked when the page was made).
PRESENT, GONE, REPLACED = "present", "gone", "replaced"
#: Longest prefix filter taken (S3 keys are at most 1,024 bytes).
MAX_PREFIX = 1024
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


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
class Match:
    """A rejected image this upload matched (content memory): its SHA-256, how close, where it was."""

    reason: str
    sha256: str | None
    distance: int | None
    location: str | None


@dataclass(frozen=True)
class Item:
    """One object on a list page: where it is now, where it came from, what was decided."""

    bucket: str
    key: str
    original_key: str
    status: str | None
    scores: tuple[Score, ...]
    scanned_at: str | None
    quarantined: bool
    version_id: str | None = None
    etag: str | None = None
    #: SHA-256 of the bytes the function judged (from the ledger), when known.
    sha256: str | None = None
    size: int | None = None
    #: When the object got where it is (the quarantined copy's LastModified).
    last_modified: str | None = None
    categorizer: str | None = None
    reason: str | None = None
    #: The bucket under which the ledger keeps this scan (the upload's), for a dismissal.
    scan_bucket: str | None = None
    state: str = PRESENT
    #: When the reused scores were obtained (content memory), if they were.
    reused_from: str | None = None
    match: Match | None = None

    def seen(self) -> dict[str, str]:
        """The query arguments that name this object as the moderator sees it (for links and forms)."""
        named = {"bucket": self.bucket, "key": self.key, "version_id": self.version_id}
        named.update(etag=self.etag, sha256=self.sha256)
        return {name: value for name, value in named.items() if value}

    def shown(self) -> dict[str, str]:
        """The arguments of its thumbnail: that version's bytes (and their ETag, which makes it cacheable)."""
        return {name: value for name, value in self.seen().items() if name in ("bucket", "key", "version_id", "etag")}

    def selection(self) -> str:
        """The value of its checkbox in a bulk decision: what `seen` names, as one query string."""
        return urlencode(self.seen())

    @property
    def gone(self) -> bool:
        return self.state != PRESENT


@dataclass(frozen=True)
class ListQuery:
    """A list's filters and page number, read leniently from a URL: what is not understood is left out."""

    page: int = 1
    status: str | None = None
    prefix: str = ""
    since: date | None = None
    until: date | None = None
    #: What was given but not understood (shown to the moderator, never an error page).
    ignored: tuple[str, ...] = ()

    @classmethod
    def from_args(cls, args: Mapping[str, str], statuses: tuple[str, ...] = ()) -> ListQuery:
        ignored: list[str] = []
        status = args.get("status", "").strip().upper() or None
        if status is not None and status not in statuses:
            ignored.append(f"status {status[:40]!r}")
            status = None
        prefix = args.get("prefix", "")
        if len(prefix) > MAX_PREFIX:
            ignored.append("a prefix longer than an S3 key")
            prefix = ""
        since, until = _day(args.get("from", ""), "from", ignored), _day(args.get("to", ""), "to", ignored)
        if since and until and since > until:
            since, until = until, since
        return cls(_page(args.get("page")), status, prefix, since, until, tuple(ignored))

    @property
    def filtered(self) -> bool:
        return bool(self.status or self.prefix or self.since or self.until)

    def args(self, **changes: object) -> dict[str, str]:
        """URL arguments of this query (with changes): what a link to another page of it carries."""
        query = replace(self, **changes)  # type: ignore[arg-type]
        named = {
            "status": query.status or "",
            "prefix": query.prefix,
            "from": query.since.isoformat() if query.since else "",
            "to": query.until.isoformat() if query.until else "",
            "page": str(query.page) if query.page > 1 else "",
        }
        return {name: value for name, value in named.items() if value}

    def in_days(self, when: str | None) -> bool:
        """Whether an ISO 8601 time falls on a day within the filter (inclusive, UTC)."""
        if not (self.since or self.until):
            return True
        if not when or not _DAY.match(when[:10]):
            return False
        day = date.fromisoformat(when[:10])
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)


@dataclass(frozen=True)
class Page:
    items: list[Item]
    number: int
    pages: int
    count: int
    query: ListQuery = field(default_factory=ListQuery)

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def page_bounds(requested: int, count: int, size: int) -> tuple[int, int, int]:
    """(page number, pages, first index): a page past the last shows the last."""
    pages = max(1, math.ceil(count / size))
    number = min(max(1, requested), pages)
    return number, pages, (number - 1) * size


@dataclass(frozen=True)
class Decision:
    """What a human's Approve, Reject or Dismiss did, for the line shown afterwards."""

    decision: str
    bucket: str
    key: str
    #: Where the object is now, when it moved (a release from quarantine); None when it stayed.
    moved_to: str | None = None


def _page(value: str | None) -> int:
    """A page number; anything else (`garbage`, `-3`, `1e9`) is the first page."""
    if value and value.isdigit() and len(value) <= 6:
        return max(1, int(value))
    return 1


def _day(value: str, name: str, ignored: list[str]) -> date | None:
    value = value.strip()
    if not value:
        return None
    if _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:  # 2026-02-30
            pass
    ignored.append(f"{name} date {value[:40]!r} (use YYYY-MM-DD)")
    return None
