"""Benchmark photographs: the local stack's sample photos, scaled up to camera sizes.

Upscaling alone gives unnaturally smooth images that compress far better than a real camera
file; a little seeded sensor noise restores realistic detail, so file sizes (and decode costs)
are in the range of real photos. Deterministic for a given seed.
"""

from __future__ import annotations

import io
import random
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
