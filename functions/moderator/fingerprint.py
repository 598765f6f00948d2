"""What an image looks like, in 64 bits: a perceptual hash, its index parts, a small preview. Pillow only, no I/O.

The hash is a difference hash of the picture as the function prepares it for Imagga (orientation,
colour profile and transparency applied): the greyscale image shrunk to 5x8 pixels, one bit per
pair of horizontal neighbours (32 bits), and shrunk to 8x5, one bit per pair of vertical
neighbours (32 bits). Only brighter-or-not between neighbours counts, so re-encoding, resizing and a
change of brightness or format leave it (nearly) unchanged; the coarse grid makes it tolerant of a
trimmed edge. A mirrored image, a rotated one, a large crop or a big overlay gives another hash.

Two hashes within `MATCH_DISTANCE` bits are the same picture. Cut into four 16-bit parts, two such
hashes share at least one part exactly (with 3 differing bits, at most 3 of the 4 parts can hold
one), so an index of parts finds every candidate with four exact look-ups; the candidates are then
compared bit by bit.

A rejected image is indexed with the hashes of slightly cropped copies of itself too (up to 5 %
trimmed off either or both edges, each way), so that a re-upload with an edge cut off still lands
within a few bits of one of them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

HASH_BITS = 64
PART_BITS = 16
PARTS = HASH_BITS // PART_BITS
#: Hashes at most this many bits apart are one picture. 3 is the most the four-part index finds for
#: certain (pigeonhole); unrelated photographs differ by about 20 bits or more (see the README).
MATCH_DISTANCE = 3
#: Below this spread (standard deviation of an 8x8 greyscale copy, 0-255) a picture is too plain -
#: one colour, a soft gradient, a black frame - to be told from other plain pictures: it gets no hash.
MIN_DETAIL = 3.0
#: Trimmed off the edges for the cropped copies a rejected image is also indexed by, as shares of
#: the width or height: nothing, 2.5 % or 5 %, taken from one edge, the other, or half from each.
CROP_SHARES = (0.025, 0.05)
CROP_PLACES = (0.0, 0.5, 1.0)
#: The preview kept of a rejected image: its short side in pixels, and the most bytes it may take.
PREVIEW_SHORT_SIDE = 160
PREVIEW_MAX_BYTES = 16 * 1024
_PREVIEW_QUALITIES = (75, 60, 45, 30)


def difference_hash(image: Image.Image) -> int | None:
    """The 64-bit hash of a decoded image (any mode), or None for a picture too plain to identify."""
    from PIL import Image

    grey = image.convert("L")
    if max(grey.size) > 256:
        # The hash looks at 40 cells: averaging down first costs far less than a filter over every pixel.
        grey = grey.reduce(max(1, min(grey.size) // 64))
    if _detail(grey.resize((8, 8), Image.Resampling.BOX)) < MIN_DETAIL:
        return None
    wide = grey.resize((5, 8), Image.Resampling.LANCZOS).tobytes()
    tall = grey.resize((8, 5), Image.Resampling.LANCZOS).tobytes()
    bits = 0
    for row in range(8):
        for column in range(4):
            bits = (bits << 1) | (wide[row * 5 + column] < wide[row * 5 + column + 1])
    for row in range(4):
        for column in range(8):
            bits = (bits << 1) | (tall[row * 8 + column] < tall[(row + 1) * 8 + column])
    return bits


def _detail(small: Image.Image) -> float:
    values = small.tobytes()
    mean = sum(values) / len(values)
    return float((sum((value - mean) ** 2 for value in values) / len(values)) ** 0.5)


def distance(a: int, b: int) -> int:
    """Bits that differ between two hashes."""
    return (a ^ b).bit_count()


def parts(fingerprint: int) -> tuple[int, ...]:
    """The four 16-bit parts of a hash, most significant first: what the index is keyed by."""
    mask = (1 << PART_BITS) - 1
    return tuple((fingerprint >> (HASH_BITS - PART_BITS * (index + 1))) & mask for index in range(PARTS))


def to_hex(fingerprint: int) -> str:
    return f"{fingerprint:016x}"


def from_hex(text: str) -> int:
    value = int(text, 16)
    if not 0 <= value < 1 << HASH_BITS:
        raise ValueError(f"{text!r} is not a 64-bit hash")
    return value


def cropped_copies(image: Image.Image) -> Iterator[Image.Image]:
    """The image with a little trimmed off: every combination of `CROP_SHARES` and `CROP_PLACES`, each way."""
    width, height = image.size
    across = [(0, width)] + [_window(width, share, place) for share in CROP_SHARES for place in CROP_PLACES]
    down = [(0, height)] + [_window(height, share, place) for share in CROP_SHARES for place in CROP_PLACES]
    for left, right in across:
        for top, bottom in down:
            if (left, right, top, bottom) != (0, width, 0, height) and right > left and bottom > top:
                yield image.crop((left, top, right, bottom))


def _window(length: int, share: float, place: float) -> tuple[int, int]:
    """Keep `length` less `share` of it; `place` says where the cut falls (0 all at the end, 1 all at the start)."""
    cut = length * share
    start = round(cut * place)
    return start, length - round(cut - cut * place)


def index_hashes(image: Image.Image) -> frozenset[int]:
    """The hashes a rejected image is indexed by: its own and those of its slightly cropped copies."""
    found = {difference_hash(image)}
    found.update(difference_hash(copy) for copy in cropped_copies(image))
    return frozenset(value for value in found if value is not None)


def closest(
    fingerprints: Iterable[int], candidates: Iterable[tuple[str, int]], limit: int = MATCH_DISTANCE
) -> list[tuple[str, int]]:
    """Candidates (id, hash) within `limit` bits of any of `fingerprints`: (id, distance), nearest first, once each."""
    wanted = tuple(fingerprints)
    best: dict[str, int] = {}
    for name, candidate in candidates:
        nearest = min((distance(candidate, own) for own in wanted), default=HASH_BITS + 1)
        if nearest <= limit and nearest < best.get(name, HASH_BITS + 1):
            best[name] = nearest
    return sorted(best.items(), key=lambda item: (item[1], item[0]))


def preview_jpeg(image: Image.Image) -> bytes:
    """A small JPEG (short side `PREVIEW_SHORT_SIDE`, under `PREVIEW_MAX_BYTES`) for people to see what was rejected."""
    from PIL import Image

    rgb = image.convert("RGB")
    factor = PREVIEW_SHORT_SIDE / min(rgb.size)
    if factor < 1:
        size = (max(1, round(rgb.width * factor)), max(1, round(rgb.height * factor)))
        rgb = rgb.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    # A very long strip keeps its short side but would still be large: bound the long side too.
    rgb.thumbnail((8 * PREVIEW_SHORT_SIDE, 8 * PREVIEW_SHORT_SIDE))
    data = b""
    for quality in _PREVIEW_QUALITIES:
        out = io.BytesIO()
        rgb.save(out, format="JPEG", quality=quality, optimize=True)
        data = out.getvalue()
        if len(data) < PREVIEW_MAX_BYTES:
            return data
    rgb.thumbnail((2 * PREVIEW_SHORT_SIDE, 2 * PREVIEW_SHORT_SIDE))
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=_PREVIEW_QUALITIES[-1], optimize=True)
    return out.getvalue()
