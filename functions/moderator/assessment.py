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
from .imaging import UnsupportedImageError, prepare
from .model import Categorization, Reason, Status, Verdict
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
class Assessment:
    verdict: Verdict
    categorization: Categorization | None = None
    #: Why the image was not sent, or why Imagga refused it.
    detail: str | None = None


def unsupported(reason: Reason, detail: str) -> Assessment:
    return Assessment(Verdict(Status.UNSUPPORTED, reason=str(reason)), detail=detail)


def assess_size(size: int, settings: Settings) -> Assessment | None:
    """The checks that need only the size: an empty or too large object is never downloaded."""
    if size == 0:
        return unsupported(Reason.EMPTY, "the object is empty")
    if size > settings.max_image_bytes:
        return unsupported(Reason.TOO_LARGE, f"{size} bytes is over the limit of {settings.max_image_bytes}")
    return None


def assess(data: bytes, categorizer: Categorizer, settings: Settings, deadline: Deadline | None = None) -> Assessment:
    """Judge the bytes, send the prepared image to Imagga, decide. Raises for what a retry may fix."""
    early = assess_size(len(data), settings)
    if early is not None:
        return early
    try:
        prepared = prepare(data, short_side=settings.resize_short_side, max_pixels=settings.max_image_pixels)
    except UnsupportedImageError as exc:
        return unsupported(exc.reason, str(exc))
    try:
        result = categorizer.categorize(prepared.data, prepared.content_type, deadline)
    except ImaggaRejectedError as exc:
        verdict = Verdict(Status.ERROR, categorizer=categorizer.categorizer, reason=str(Reason.IMAGGA_REJECTED))
        return Assessment(verdict, detail=str(exc))
    return Assessment(decide(result.categorizer, result.scores, settings.thresholds), result)
