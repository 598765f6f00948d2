"""What the soak uploads: photographs with known verdicts, non-images, empty and broken files, awkward keys,
and what happens to some of them while they wait in the queue (deleted, overwritten, uploaded twice,
announced twice).

Deterministic for a seed: the same plan, the same bytes. Every photograph has bytes of its own (and
so does what the function sends for it), so the emulator's request log tells which object a call
was for.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from enum import StrEnum

from infra.bench.photos import photo_series

#: Fixed Imagga answers per expected verdict (thresholds: UNSAFE at nsfw 20, REVIEW at underwear 50).
SCORES = {
    "SAFE": {"safe": 97.0, "nsfw": 2.0, "underwear": 1.0},
    "REVIEW": {"safe": 30.0, "underwear": 65.0, "nsfw": 5.0},
    "UNSAFE": {"nsfw": 92.0, "safe": 8.0},
}
UNSUPPORTED = "UNSUPPORTED"


class Twist(StrEnum):
    """What happens to an object between its upload and its moderation."""

    NONE = "none"
    DELETED = "deleted"  # deleted while its message waits
    OVERWRITTEN = "overwritten"  # a newer upload to the same key while the first message waits
    REUPLOADED = "re-uploaded"  # the same bytes PUT again to the same key (two events)
    REDELIVERED = "redelivered"  # S3's notification sent twice, both waiting together
    REDELIVERED_LATE = "redelivered-late"  # the notification sent again after the first was handled


@dataclass
class Planned:
    number: int
    name: str  # the key under the incoming prefix
    expected: list[str]  # the verdict for each version, in upload order
    versions: list[bytes]
    twist: Twist = Twist.NONE
    key: str = ""  # the full key, set when uploaded
    puts: list[int] = field(default_factory=list)  # indexes into versions, in PUT order

    @property
    def latest(self) -> bytes:
        return self.versions[self.puts[-1]] if self.puts else self.versions[-1]

    @property
    def expected_status(self) -> str:
        return self.expected[self.puts[-1] if self.puts else -1]


def key_name(number: int, rng: random.Random) -> str:
    """Keys with spaces, plus signs, unicode and folders, as users name their files."""
    styles = (
        "{n:04d}.jpg",
        "holiday photos/{n:04d} beach day.jpg",
        "{n:04d}+plus+signs+.jpg",
        "café/{n:04d}-crème brûlée.jpg",
        "日本/{n:04d} 写真.jpg",
        "{n:04d} 50% off (final) [v2].png",
        "a/b/c/{n:04d}~tilde&amp.jpeg",
        "emoji 📷/{n:04d}.jpg",
    )
    return rng.choice(styles).format(n=number)


def non_image(number: int, rng: random.Random) -> bytes:
    kinds = (
        lambda: f"plain text {number}: not an image\n".encode() * rng.randint(1, 50),
        lambda: b"%PDF-1.7\n" + rng.randbytes(rng.randint(100, 4000)),
        lambda: rng.randbytes(rng.randint(1, 20_000)),
        lambda: f'{{"not": "an image", "n": {number}}}'.encode(),
    )
    return rng.choice(kinds)()


def plan(objects: int, seed: int = 0, photo_megapixels: float = 0.3) -> list[Planned]:
    """About 70 % photographs (SAFE, REVIEW, UNSAFE), the rest non-images, empty and truncated files;
    about a quarter of everything gets a twist."""
    rng = random.Random(seed)
    photos = iter(photo_series(objects + objects // 4 + 8, photo_megapixels, seed=seed))
    planned: list[Planned] = []

    def photo(verdict: str) -> tuple[str, bytes]:
        return verdict, next(photos)

    def content() -> tuple[str, bytes]:
        draw = rng.random()
        if draw < 0.50:
            return photo("SAFE")
        if draw < 0.58:
            return photo("REVIEW")
        if draw < 0.72:
            return photo("UNSAFE")
        if draw < 0.82:
            return UNSUPPORTED, non_image(len(planned), rng)
        if draw < 0.90:
            return UNSUPPORTED, b""
        return UNSUPPORTED, next(photos)[: rng.randint(200, 2000)]  # a truncated JPEG

    for number in range(objects):
        verdict, data = content()
        item = Planned(number, key_name(number, rng), [verdict], [data])
        draw = rng.random()
        if draw < 0.06:
            item.twist = Twist.DELETED
        elif draw < 0.12:
            # The newer content is never UNSAFE: quarantining the newest version of a versioned key brings
            # the older one back, and moto's events carry no VersionId, so that older version would never
            # have been scanned (real S3 names each version in its event).
            item.twist = Twist.OVERWRITTEN
            newer, newer_data = photo("SAFE") if rng.random() < 0.7 else (UNSUPPORTED, non_image(number, rng))
            item.expected.append(newer)
            item.versions.append(newer_data)
        elif draw < 0.16 and verdict != "UNSAFE":
            item.twist = Twist.REUPLOADED  # same reason: the older copy of an UNSAFE image would come back
        elif draw < 0.21:
            item.twist = Twist.REDELIVERED
        elif draw < 0.25:
            item.twist = Twist.REDELIVERED_LATE
        planned.append(item)
    return planned


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
