"""Plain data the pipeline passes around. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Status(StrEnum):
    SAFE = "SAFE"
    REVIEW = "REVIEW"
    UNSAFE = "UNSAFE"
    UNSUPPORTED = "UNSUPPORTED"
    ERROR = "ERROR"
    APPROVED = "APPROVED"


class Reason(StrEnum):
    """Values of `moderation:reason` (only with UNSUPPORTED or ERROR)."""

    EMPTY = "empty"
    TOO_LARGE = "too-large"
    NOT_AN_IMAGE = "not-an-image"
    TOO_MANY_PIXELS = "too-many-pixels"
    TOO_MANY_FRAMES = "too-many-frames"
    UNDECODABLE = "undecodable"
    IMAGGA_REJECTED = "imagga-rejected"


class Action(StrEnum):
    TAGGED = "tagged"
    QUARANTINED = "quarantined"
    SKIPPED = "skipped"


class SkipReason(StrEnum):
    QUARANTINE_PREFIX = "quarantine-prefix"
    FOLDER_MARKER = "folder-marker"
    GONE = "gone"
    NOT_OBJECT_CREATED = "not-object-created"
    TEST_EVENT = "test-event"
    APPROVED = "approved"
    #: A redelivery for an upload whose move to quarantine finished: the copy is there, the original not.
    ALREADY_QUARANTINED = "already-quarantined"


@dataclass(frozen=True)
class ObjectRef:
    """An object named by an event. `version_id` None means unversioned (or unknown)."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    #: S3's `sequencer` from the event (S3 and EventBridge events carry it): orders the uploads of
    #: one key, and tells two uploads of the same bytes apart where there is no version id.
    sequencer: str | None = None
    #: Other readings of `key`, for shapes whose key encoding is uncertain (EventBridge, Batch
    #: Operations): looked up in order only when nothing is stored under `key`.
    other_keys: tuple[str, ...] = ()

    def describe(self) -> dict[str, str | None]:
        return {"bucket": self.bucket, "key": self.key, "version_id": self.version_id}


@dataclass(frozen=True)
class StoredObject:
    """What a HEAD told us about the exact object we are about to scan."""

    bucket: str
    key: str
    version_id: str | None
    etag: str
    size: int
    content_type: str | None = None
    sse_kms_key_id: str | None = None
    #: The HEAD's LastModified (ISO 8601): with the ETag, what tells one upload from the next.
    last_modified: str | None = None


@dataclass(frozen=True)
class KeyVersion:
    """One entry of a key's version listing: an object version, or a delete marker."""

    version_id: str
    delete_marker: bool


@dataclass(frozen=True)
class Categorization:
    """Imagga's answer for one image."""

    categorizer: str
    scores: dict[str, float]
    raw: dict[str, object] = field(default_factory=dict)
    attempts: int = 1
    retries: int = 0
    latency_ms: float = 0.0
    monthly_limit_remaining: int | None = None


@dataclass(frozen=True)
class Verdict:
    status: Status
    scores: dict[str, float] = field(default_factory=dict)
    categorizer: str | None = None
    reason: str | None = None
    deciding_label: str | None = None


@dataclass
class Outcome:
    """What happened to one object; logged, counted and published."""

    ref: ObjectRef
    action: Action
    status: Status | None = None
    scores: dict[str, float] = field(default_factory=dict)
    categorizer: str | None = None
    reason: str | None = None
    skip_reason: SkipReason | None = None
    etag: str | None = None
    version_id: str | None = None
    quarantine_bucket: str | None = None
    quarantine_key: str | None = None
    scanned_at: str | None = None
    tags_dropped: int = 0
    imagga_attempts: int = 0
    imagga_retries: int = 0
    imagga_latency_ms: float | None = None
    monthly_limit_remaining: int | None = None
    #: True when an earlier delivery already did the work (idempotency): nothing was called again.
    duplicate: bool = False
    #: Imagga's raw answer, for the decisions ledger; kept out of logs and the idempotency record.
    imagga_response: dict[str, object] | None = None
    #: SHA-256 of the bytes judged (None when they were never read: too large, empty).
    sha256: str | None = None
    #: The quarantined copy's version id (None on an unversioned quarantine).
    quarantine_version_id: str | None = None
    #: Why the move to quarantine failed (the verdict stands; the next delivery retries the move).
    action_error: str | None = None
    #: Frames sent to Imagga (one call each): 1 for a still image, up to ANIMATION_FRAMES otherwise.
    frames_sent: int = 0
    #: Frames the image has (None when not counted: ANIMATION_FRAMES=1, or the image was not read).
    frame_count: int | None = None
    #: The frame (from 0) whose scores decided the verdict and are in the tags.
    deciding_frame: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "bucket": self.ref.bucket,
            "key": self.ref.key,
            "version_id": self.version_id if self.version_id else self.ref.version_id,
            "etag": self.etag if self.etag else self.ref.etag,
            "action": str(self.action),
            "status": str(self.status) if self.status else None,
            "scores": dict(self.scores),
            "categorizer": self.categorizer,
            "reason": self.reason,
            "skip_reason": str(self.skip_reason) if self.skip_reason else None,
            "quarantine_bucket": self.quarantine_bucket,
            "quarantine_key": self.quarantine_key,
            "scanned_at": self.scanned_at,
            "tags_dropped": self.tags_dropped,
            "imagga_attempts": self.imagga_attempts,
            "imagga_retries": self.imagga_retries,
            "imagga_latency_ms": self.imagga_latency_ms,
            "monthly_limit_remaining": self.monthly_limit_remaining,
            "sha256": self.sha256,
            "quarantine_version_id": self.quarantine_version_id,
            "action_error": self.action_error,
            "frames_sent": self.frames_sent,
            "frame_count": self.frame_count,
            "deciding_frame": self.deciding_frame,
        }

    @classmethod
    def from_dict(cls, ref: ObjectRef, data: dict[str, object]) -> Outcome:
        """Rebuild an outcome stored by the idempotency layer."""
        raw_scores = data.get("scores") or {}
        scores = {str(k): float(v) for k, v in raw_scores.items()} if isinstance(raw_scores, dict) else {}
        status = data.get("status")
        skip = data.get("skip_reason")
        return cls(
            ref=ref,
            action=Action(str(data["action"])),
            status=Status(str(status)) if status else None,
            scores=scores,
            categorizer=_opt_str(data.get("categorizer")),
            reason=_opt_str(data.get("reason")),
            skip_reason=SkipReason(str(skip)) if skip else None,
            etag=_opt_str(data.get("etag")),
            version_id=_opt_str(data.get("version_id")),
            quarantine_bucket=_opt_str(data.get("quarantine_bucket")),
            quarantine_key=_opt_str(data.get("quarantine_key")),
            scanned_at=_opt_str(data.get("scanned_at")),
            sha256=_opt_str(data.get("sha256")),
            quarantine_version_id=_opt_str(data.get("quarantine_version_id")),
            frames_sent=_opt_int(data.get("frames_sent")) or 0,
            frame_count=_opt_int(data.get("frame_count")),
            deciding_frame=_opt_int(data.get("deciding_frame")),
            # What the verdict cost at Imagga: the first delivery reports it (metrics, ledger) from here.
            imagga_attempts=_opt_int(data.get("imagga_attempts")) or 0,
            imagga_retries=_opt_int(data.get("imagga_retries")) or 0,
            imagga_latency_ms=_opt_float(data.get("imagga_latency_ms")),
            monthly_limit_remaining=_opt_int(data.get("monthly_limit_remaining")),
        )


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _opt_float(value: object) -> float | None:
    return None if value is None else float(Decimal(str(value)))


def _opt_int(value: object) -> int | None:
    # Stored records may give numbers back as Decimal or float.
    return None if value is None else int(Decimal(str(value)))
