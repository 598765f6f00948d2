"""Content memory, the domain side: what is remembered about an image's bytes, and how it is used. No I/O.

A verdict belongs to the bytes, and a human decision follows the image:

- **Imagga's scores** for some bytes are kept once, under their SHA-256, the categorizer and the way
  the image was prepared for Imagga (`RESIZE_SHORT_SIDE` and the version of the preparation code:
  downscaling, JPEG quality, colour handling). Those decide what Imagga is shown, so they decide the
  scores; the thresholds do not, and each later upload of the same bytes is decided with the
  thresholds of the day. An animation's scores are kept per frame, with its frame count: an upload
  is decided from them when the frames today's `ANIMATION_FRAMES` would send were all answered,
  and otherwise Imagga is asked again.
- **The images humans rejected** (rejected in review, purged from quarantine) are kept with their
  SHA-256, where they were, who rejected them and when, the perceptual hashes of their frames
  (fingerprint.py) and a small preview. The same bytes uploaded again are `UNSAFE`,
  `rejected-before`; a near-copy is `UNSAFE`, `matches-rejected`. Neither costs an Imagga call.

The storage is an adapter (memory.py); this module says what is kept and decides with it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .assessment import Assessment, FrameResult, severity
from .fingerprint import index_hashes, preview_jpeg
from .imaging import PreparedFrames, UnsupportedImageError, frame_indices, prepare_frames
from .model import Categorization, Match, Reason, Status, Verdict
from .policy import decide
from .settings import Settings
from .times import epoch_seconds

#: Raise when a change to imaging.py changes what Imagga is shown for the same bytes and settings:
#: scores remembered for the old preparation are then never reused.
PREPARATION_VERSION = 1

#: Frames are shrunk to at most this long side before their cropped copies are hashed (the hash
#: looks at 40 cells: pixels beyond this change nothing but the time taken).
INDEX_LONG_SIDE = 1024

#: How the rejected-before and matches-rejected verdicts name the categorizer: none was asked.
NO_CATEGORIZER = None


def scores_key(sha256: str, categorizer: str, settings: Settings) -> str:
    """What identifies a categorization: the bytes, the categorizer and how the image is prepared."""
    return f"{sha256}#{categorizer}#{preparation(settings)}"


def preparation(settings: Settings) -> str:
    return f"p{PREPARATION_VERSION}-s{settings.resize_short_side}"


@dataclass(frozen=True)
class FrameScores:
    """Imagga's scores for one frame sent (frame 0 for a still image)."""

    frame: int
    scores: dict[str, float]


@dataclass(frozen=True)
class RememberedScores:
    """Imagga's answer for some bytes, as kept: per frame sent, with when it was obtained."""

    sha256: str
    categorizer: str
    preparation: str
    #: When Imagga gave these scores (ISO 8601, UTC).
    obtained_at: str
    frames: tuple[FrameScores, ...]
    #: Frames the image has; None when they were not counted (ANIMATION_FRAMES was 1).
    frame_count: int | None
    #: Perceptual hashes of the frames prepared, for the near-copy check of a later upload.
    fingerprints: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.sha256}#{self.categorizer}#{self.preparation}"


@dataclass(frozen=True)
class RejectedImage:
    """An image a human rejected, as remembered (what the review page shows of it)."""

    sha256: str
    #: `s3://bucket/key` where it was uploaded.
    location: str
    rejected_at: str
    rejected_by: str
    #: A small JPEG (fingerprint.preview_jpeg); None when the bytes could not be decoded or were not read.
    preview: bytes | None = None
    #: Perceptual hashes of its frames as the function prepares them (empty when not an image).
    fingerprints: tuple[int, ...] = ()


@dataclass(frozen=True)
class Recalled:
    """What the memory holds for some bytes: their scores, and whether a human rejected them."""

    scores: RememberedScores | None = None
    rejected: RejectedImage | None = None


@dataclass(frozen=True)
class Candidate:
    """An entry of the near-copy index: a rejected image and one hash it is indexed by."""

    sha256: str
    fingerprint: int


class ContentMemory(Protocol):
    """What the pipeline asks of the memory. Reads that fail answer "nothing remembered": the image
    is then moderated as if it were new. Writes that fail are logged and counted."""

    def recall(self, sha256: str, scores_key: str | None) -> Recalled: ...
    def rejected(self, sha256: str, *, with_preview: bool = True) -> RejectedImage | None: ...
    def near(self, fingerprints: Sequence[int]) -> list[Candidate]: ...
    def remember_scores(self, scores: RememberedScores) -> None: ...


class RejectionMemory(Protocol):
    """What the review actions ask of the memory: keep a rejected image and index its hashes."""

    def remember_rejected(self, image: RejectedImage, index: Iterable[int]) -> None: ...


class NoMemory:
    """No memory (no decisions table, or CONTENT_MEMORY=off): every upload is judged afresh."""

    def recall(self, sha256: str, scores_key: str | None) -> Recalled:
        return Recalled()

    def rejected(self, sha256: str, *, with_preview: bool = True) -> RejectedImage | None:
        return None

    def near(self, fingerprints: Sequence[int]) -> list[Candidate]:
        return []

    def remember_scores(self, scores: RememberedScores) -> None:
        return None


# --- Imagga's scores -------------------------------------------------------------------------


def remembered_from(
    assessment: Assessment, prepared: PreparedFrames, sha256: str, settings: Settings, obtained_at: str
) -> RememberedScores | None:
    """What to keep of Imagga's answer: every frame's scores, when every frame sent was answered.

    A frame Imagga refused (a 400) leaves the image `ERROR`: nothing is kept, the next upload asks again.
    """
    if assessment.refused_attempts or not assessment.frames or assessment.categorization is None:
        return None
    return RememberedScores(
        sha256=sha256,
        categorizer=assessment.categorization.categorizer,
        preparation=preparation(settings),
        obtained_at=obtained_at,
        frames=tuple(FrameScores(result.frame, dict(result.categorization.scores)) for result in assessment.frames),
        frame_count=prepared.frame_count,
        fingerprints=_fingerprints(prepared),
    )


def replay(remembered: RememberedScores, settings: Settings) -> Assessment | None:
    """The verdict today's thresholds give the remembered scores, frame by frame as `categorize` would
    send them; None when a frame it would send was never answered (Imagga is asked then)."""
    if remembered.frame_count is not None:
        plan = frame_indices(remembered.frame_count, settings.animation_frames)
    elif settings.animation_frames == 1:
        plan = (0,)
    else:
        return None  # scored with ANIMATION_FRAMES=1: whether there are other frames is not known
    answered = {frame.frame: frame.scores for frame in remembered.frames}
    judged: list[FrameResult] = []
    for index in plan:
        if index not in answered:
            return None
        scores = dict(answered[index])
        categorization = Categorization(remembered.categorizer, scores, attempts=0)
        judged.append(FrameResult(index, decide(remembered.categorizer, scores, settings.thresholds), categorization))
        if judged[-1].verdict.status is Status.UNSAFE:
            break
    worst = max(judged, key=severity)
    return Assessment(
        worst.verdict,
        worst.categorization,
        frames=tuple(judged),
        frames_sent=0,
        frame_count=remembered.frame_count if settings.animation_frames > 1 else None,
        deciding_frame=worst.frame,
        reused_from=remembered.obtained_at,
    )


# --- human rejections ------------------------------------------------------------------------


def rejected_before(image: RejectedImage) -> Assessment:
    """These very bytes were rejected by a human: UNSAFE, without asking Imagga."""
    verdict = Verdict(Status.UNSAFE, categorizer=NO_CATEGORIZER, reason=str(Reason.REJECTED_BEFORE))
    detail = f"the same bytes were rejected by {image.rejected_by} at {image.rejected_at} ({image.location})"
    return Assessment(verdict, detail=detail, matched=Match(image.sha256, 0, image.location))


def matches_rejected(image: RejectedImage, distance: int) -> Assessment:
    """A near-copy of an image a human rejected: UNSAFE, without asking Imagga."""
    verdict = Verdict(Status.UNSAFE, categorizer=NO_CATEGORIZER, reason=str(Reason.MATCHES_REJECTED))
    detail = (
        f"{distance} bit(s) from the image rejected by {image.rejected_by} at {image.rejected_at} ({image.location})"
    )
    return Assessment(verdict, detail=detail, matched=Match(image.sha256, distance, image.location))


def rejected_since(rejected: RejectedImage | None, approved_at: str) -> bool:
    """Was the image rejected at or after the time this approval was given? The later human decision
    stands, and a tie (or a time that cannot be read) goes to the rejection: it fails closed.
    """
    if rejected is None:
        return False
    rejected_at, approved = epoch_seconds(rejected.rejected_at), epoch_seconds(approved_at)
    if rejected_at is None or approved is None:
        return True
    return rejected_at >= approved


@dataclass(frozen=True)
class Rejection:
    """A rejected image ready to be remembered: the record, and the hashes to index it under."""

    image: RejectedImage
    index: frozenset[int] = field(default_factory=frozenset)


def rejection_of(
    sha256: str,
    data: bytes | None,
    *,
    location: str,
    rejected_by: str,
    rejected_at: str,
    settings: Settings,
) -> Rejection:
    """What to remember of a rejected image: its hashes (its own, and its slightly cropped copies')
    and a preview, made from the frames the function would prepare. Bytes that are not an image, or
    that were not read (too large), are remembered by their SHA-256 alone."""
    plain = RejectedImage(sha256, location, rejected_at, rejected_by)
    if not data:
        return Rejection(plain)
    try:
        prepared = prepare_frames(
            data,
            short_side=settings.resize_short_side,
            max_pixels=settings.max_image_pixels,
            max_frames=settings.animation_frames,
        )
    except UnsupportedImageError:
        return Rejection(plain)
    from PIL import Image

    index: set[int] = set(_fingerprints(prepared))
    preview: bytes | None = None
    for frame in prepared.frames:
        with Image.open(io.BytesIO(frame.data)) as opened:
            # Originals are sent as they are with RESIZE_SHORT_SIDE=0: crop copies of a small one.
            opened.thumbnail((INDEX_LONG_SIDE, INDEX_LONG_SIDE))
            if preview is None:
                preview = preview_jpeg(opened)
            index.update(index_hashes(opened))
    image = RejectedImage(sha256, location, rejected_at, rejected_by, preview, _fingerprints(prepared))
    return Rejection(image, frozenset(index))


def _fingerprints(prepared: PreparedFrames) -> tuple[int, ...]:
    return tuple(frame.fingerprint for frame in prepared.frames if frame.fingerprint is not None)
