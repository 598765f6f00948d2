"""Benchmark photographs: the local stack's sample photos, scaled up to camera sizes.

Upscaling alone gives unnaturally smooth images that compress far better than a real camera
file; a little seeded sensor noise restores realistic detail, so file sizes (and decode costs)
are in the range of real photos. Deterministic for a given seed.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

SAMPLES = Path(__file__).resolve().parents[1] / "local" / "samples"


@cache
def sample_images() -> tuple[Image.Image, ...]:
    found = sorted(p for p in SAMPLES.glob("*.jpg") if "unsafe" not in p.name.lower())
    if not found:
        raise FileNotFoundError(f"no sample photos in {SAMPLES}")
    return tuple(Image.open(p).convert("RGB") for p in found)


def photo(megapixels: float, *, seed: int = 0, fmt: str = "JPEG", quality: int = 90, noise: float = 6.0) -> bytes:
    """One photo of about `megapixels`, 4:3, from a sample chosen and varied by `seed`."""
    rng = random.Random(seed)
    base = rng.choice(sample_images())
    if rng.random() < 0.5:
        base = ImageOps.mirror(base)
    width = int((megapixels * 1_000_000 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    image = ImageOps.fit(base, (width, height), Image.Resampling.BICUBIC)
    noise = np.random.default_rng(seed).normal(0, noise, (height, width, 3))
    pixels = np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return out.getvalue()


def _noise_tile(seed: int, sigma: float, period: int = 1024) -> np.ndarray:
    """Gaussian sensor noise, one `period` x `period` tile (tiled over larger images: far cheaper to make)."""
    tile = np.random.default_rng(seed).standard_normal((period, period, 3), dtype=np.float32) * sigma
    return np.rint(tile).astype(np.int16)


def _canvas(base: Image.Image, size: tuple[int, int], seed: int, sigma: float) -> np.ndarray:
    width, height = size
    fitted = np.asarray(ImageOps.fit(base, (width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    tile = _noise_tile(seed, sigma)
    reps = (height // tile.shape[0] + 1, width // tile.shape[1] + 1, 1)
    fitted += np.tile(tile, reps)[:height, :width]
    return np.clip(fitted, 0, 255).astype(np.uint8)


def photo_series(
    count: int, megapixels: float, *, seed: int = 0, fmt: str = "JPEG", quality: int = 90, noise: float = 6.0
) -> Iterator[bytes]:
    """`count` different photos of about `megapixels`, much faster than `count` calls of `photo`.

    Each sample photo (and its mirror image) is scaled and given sensor noise once, on a canvas a
    little larger than a photo; every photo is a window of a canvas at its own offset, so no two
    photos have the same bytes (or the same downscaled bytes), and each decodes like a camera file.
    """
    for number, wanted in enumerate(series_plan(count)):
        yield from canvas_photos(number, wanted, megapixels, seed=seed, fmt=fmt, quality=quality, noise=noise)


#: Offsets of a window in its canvas, in pixels, each way.
_MARGIN = 24


def series_plan(count: int) -> list[int]:
    """How many photos of a series each canvas gives (canvases can be made in parallel)."""
    canvases = 2 * len(sample_images())
    per_canvas = -(-count // canvases)
    if per_canvas > (_MARGIN + 1) ** 2:
        raise ValueError(f"at most {(_MARGIN + 1) ** 2 * canvases} photos per series")
    return [max(0, min(per_canvas, count - number * per_canvas)) for number in range(canvases)]


def canvas_photos(
    number: int,
    wanted: int,
    megapixels: float,
    *,
    seed: int = 0,
    fmt: str = "JPEG",
    quality: int = 90,
    noise: float = 6.0,
) -> Iterator[bytes]:
    """The photos of canvas `number` of a series (see `series_plan`)."""
    if wanted <= 0:
        return
    base = sample_images()[number // 2]
    if number % 2:
        base = ImageOps.mirror(base)
    width = int((megapixels * 1_000_000 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    canvas = _canvas(base, (width + _MARGIN, height + _MARGIN), seed * 31 + number, noise)
    offsets = [(x, y) for x in range(_MARGIN + 1) for y in range(_MARGIN + 1)]
    for dx, dy in random.Random(seed * 31 + number).sample(offsets, wanted):
        out = io.BytesIO()
        window = Image.fromarray(canvas[dy : dy + height, dx : dx + width])
        window.save(out, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
        yield out.getvalue()
