"""One image's verdict from its bytes: size and content checks, downscale, Imagga, thresholds.

Shared by the function's pipeline and the operator commands (`check`, `scan`), so a verdict
is reached the same way everywhere. No I/O of its own: Imagga is reached through `Categorizer`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .errors import ImaggaRejectedError
from .imaging import PreparedFrames, UnsupportedImageError, prepare_frames
from .model import Categorization, Match, Reason, Status, Verdict
from .policy import decide
from .settings import Settings

Deadline = Callable[[], float]


class Categorizer(Protocol):
    categorizer: str

    def categorize(self, image: bytes, content_type: str = ..., deadline: Deadline | None = ...) -> Categorization: ...


class CallLimit:
    """At most `slots` Imagga calls at once, whatever the number of workers.

    Imagga plans allow very few concurrent calls. With one worker per slot, a slot idles while its
    worker reads, downscales and tags; with more workers than slots, those steps overlap the calls
    of others and the plan's concurrency stays in use.
    """

    def __init__(self, categorizer: Categorizer, slots: int) -> None:
        self.categorizer = categorizer.categorizer
        self._inner = categorizer
        self._slots = threading.BoundedSemaphore(slots)

    def categorize(
        self, image: bytes, content_type: str = "image/jpeg", deadline: Deadline | None = None
    ) -> Categorization:
        with self._slots:
            return self._inner.categorize(image, content_type, deadline)


@dataclass(frozen=True)
class FrameResult:
    """Imagga's answer for one frame sent, and the verdict it alone would get."""

    frame: int
    verdict: Verdict
    categorization: Categorization


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    #: Imagga's answer for the frame that decided (the only frame of a still image).
    categorization: Categorization | None = None
    #: Why the image was not sent, or why Imagga refused it.
    detail: str | None = None
    #: Every frame Imagga answered, in the order sent.
    frames: tuple[FrameResult, ...] = ()
    #: Frames sent to Imagga, one call each (refused ones included).
    frames_sent: int = 0
    #: Frames the image has (None when not counted: ANIMATION_FRAMES=1, or not an image).
    frame_count: int | None = None
    #: The frame whose scores decided the verdict (or that Imagga refused).
    deciding_frame: int | None = None
    #: HTTP attempts for frames Imagga refused (a 400 is never retried: one each).
    refused_attempts: int = 0
    #: When Imagga gave the scores decided here, if they came from the content memory (no call made).
    reused_from: str | None = None
    #: The rejected image this one is (the same bytes, or a near-copy), when that decided.
    matched: Match | None = None

    @property
    def imagga_attempts(self) -> int:
        return sum(f.categorization.attempts for f in self.frames) + self.refused_attempts

    @property
    def imagga_retries(self) -> int:
        return sum(f.categorization.retries for f in self.frames)

    @property
    def imagga_latency_ms(self) -> float | None:
        """Time spent with Imagga for this image, all frames together."""
        return sum(f.categorization.latency_ms for f in self.frames) if self.frames else None

    @property
    def monthly_limit_remaining(self) -> int | None:
        """From the last answer: the freshest count."""
        return self.frames[-1].categorization.monthly_limit_remaining if self.frames else None


def unsupported(reason: Reason, detail: str) -> Assessment:
    return Assessment(Verdict(Status.UNSUPPORTED, reason=str(reason)), detail=detail)


def assess_size(size: int, settings: Settings) -> Assessment | None:
    """The checks that need only the size: an empty or too large object is never downloaded."""
    if size == 0:
        return unsupported(Reason.EMPTY, "the object is empty")
    if size > settings.max_image_bytes:
        return unsupported(Reason.TOO_LARGE, f"{size} bytes is over the limit of {settings.max_image_bytes}")
    return None


def prepare_image(data: bytes, settings: Settings) -> PreparedFrames:
    """The frames to send, each with its perceptual hash. Raises UnsupportedImageError for what cannot be sent."""
    return prepare_frames(
        data,
        short_side=settings.resize_short_side,
        max_pixels=settings.max_image_pixels,
        max_frames=settings.animation_frames,
    )


def assess(data: bytes, categorizer: Categorizer, settings: Settings, deadline: Deadline | None = None) -> Assessment:
    """Judge the bytes, send the prepared frames to Imagga, decide. Raises for what a retry may fix.

    Every frame is prepared before the first call, so a broken or oversized frame costs no call.
    """
    early = assess_size(len(data), settings)
    if early is not None:
        return early
    try:
        prepared = prepare_image(data, settings)
    except UnsupportedImageError as exc:
        return unsupported(exc.reason, str(exc))
    return categorize(prepared, categorizer, settings, deadline)


def categorize(
    prepared: PreparedFrames, categorizer: Categorizer, settings: Settings, deadline: Deadline | None = None
) -> Assessment:
    """Send the prepared frames to Imagga and decide.

    Frames go one after another, each through the caller's limit on calls at once (`CallLimit`).
    The verdict is the worst frame's. Once a frame is UNSAFE no later frame can change the verdict,
    so the rest are not sent: the tags carry the scores of the first UNSAFE frame found.
    """
    judged: list[FrameResult] = []
    refused: list[tuple[int, str]] = []
    for frame in prepared.frames:
        try:
            result = categorizer.categorize(frame.data, frame.content_type, deadline)
        except ImaggaRejectedError as exc:
            refused.append((frame.frame, str(exc)))
            continue
        judged.append(FrameResult(frame.frame, decide(result.categorizer, result.scores, settings.thresholds), result))
        if judged[-1].verdict.status is Status.UNSAFE:
            break
    frames_sent, frame_count = len(judged) + len(refused), prepared.frame_count
    worst = max(judged, key=severity) if judged else None
    if worst is not None and (worst.verdict.status is Status.UNSAFE or not refused):
        return Assessment(
            worst.verdict,
            worst.categorization,
            frames=tuple(judged),
            frames_sent=frames_sent,
            frame_count=frame_count,
            deciding_frame=worst.frame,
        )
    # A frame Imagga could not judge might be the unsafe one: never call the image SAFE then.
    refused_frame, why = refused[0]
    verdict = Verdict(Status.ERROR, categorizer=categorizer.categorizer, reason=str(Reason.IMAGGA_REJECTED))
    return Assessment(
        verdict,
        detail=why if len(prepared.frames) == 1 else f"frame {refused_frame}: {why}",
        frames=tuple(judged),
        frames_sent=frames_sent,
        frame_count=frame_count,
        deciding_frame=refused_frame,
        refused_attempts=len(refused),
    )


_RANK = {Status.SAFE: 0, Status.REVIEW: 1, Status.UNSAFE: 2}


def severity(result: FrameResult) -> tuple[int, float, int]:
    """Worse status first; within a status, the higher score of the label that decided; then the earlier frame."""
    verdict = result.verdict
    score = verdict.scores.get(verdict.deciding_label or "", 0.0)
    return (_RANK.get(verdict.status, 0), score, -result.frame)
