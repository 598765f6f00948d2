"""Near-copies and unrelated images made from the sample photos, to measure the near-copy check.

- **Sources**: the sample photographs and the demo unsafe sample (infra/local/samples), taken as
  the images a human rejected.
- **Near-copies** of each: resized to 50 %, re-encoded as JPEG quality 50, as PNG and as WebP,
  cropped by 5 % (at positions drawn from a seeded generator, not those the index is built with),
  brightness +20 % and -20 %. Each should be caught.
- **Unrelated images**: each source checked against the others, crops of the sources at other
  positions (half or 60 % of each side: another framing of the scene), and generated pictures
  (gradients, shapes, lines, blur, noise, text) in several sizes. None may match.

Deterministic: the same seed gives the same bytes.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

SAMPLES = Path(__file__).resolve().parents[1] / "local" / "samples"
SOURCES = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg", "demo-unsafe-sample.png")
#: Near-copies each source gets, by transformation (crops: that many, at random positions).
CROPS_PER_SOURCE = 6
GENERATED = 1000
SIZES = ((640, 480), (480, 640), (600, 600), (800, 450), (320, 240), (1024, 768))


@dataclass(frozen=True)
class Sample:
    """One image of the corpus: its bytes, what it is, and the source it was made from (if any)."""

    name: str
    kind: str
    data: bytes
    source: str | None = None


def source_images() -> dict[str, Image.Image]:
    return {name: Image.open(SAMPLES / name).convert("RGB") for name in SOURCES}


def encoded(image: Image.Image, fmt: str = "JPEG", **options: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" and not options else options))
    return out.getvalue()


def crop(image: Image.Image, share: float, left_part: float, top_part: float) -> Image.Image:
    """`share` of the width and of the height trimmed off, `left_part` of it on the left, `top_part` on top."""
    width, height = image.size
    across, down = width * share, height * share
    left, top = round(across * left_part), round(down * top_part)
    return image.crop((left, top, width - round(across - across * left_part), height - round(down - down * top_part)))


def near_copies(seed: int = 7) -> Iterator[Sample]:
    rng = random.Random(seed)
    for name, image in source_images().items():
        width, height = image.size
        half = image.resize((width // 2, height // 2), Image.Resampling.LANCZOS)
        yield Sample(f"{name} resized 50 %", "resized 50 %", encoded(half, "JPEG", quality=85), name)
        yield Sample(f"{name} JPEG q50", "JPEG quality 50", encoded(image, "JPEG", quality=50), name)
        yield Sample(f"{name} PNG", "PNG", encoded(image, "PNG"), name)
        yield Sample(f"{name} WebP", "WebP", encoded(image, "WEBP", quality=80), name)
        for number in range(CROPS_PER_SOURCE):
            cut = crop(image, 0.05, rng.random(), rng.random())
            yield Sample(f"{name} cropped 5 % #{number}", "cropped 5 %", encoded(cut), name)
        for change, label in ((1.2, "brightness +20 %"), (0.8, "brightness -20 %")):
            yield Sample(f"{name} {label}", label, encoded(ImageEnhance.Brightness(image).enhance(change)), name)


def unrelated(count: int = GENERATED, seed: int = 11) -> Iterator[Sample]:
    """The sources themselves (each against the others), other framings of them, and generated pictures."""
    images = source_images()
    for name, image in images.items():
        yield Sample(name, "another sample", encoded(image), name)
    for name, image in images.items():
        for keep in (0.5, 0.6):
            for left in (0.0, 0.5, 1.0):
                for top in (0.0, 0.5, 1.0):
                    window = crop(image, 1 - keep, left, top)
                    yield Sample(f"{name} window {keep:.0%} at {left},{top}", "another framing", encoded(window), name)
    for number in range(count):
        yield Sample(f"generated #{number}", "generated", encoded(generated(seed * 100_000 + number)))


def generated(seed: int) -> Image.Image:
    """A made-up picture: a two-colour gradient, shapes and lines, sometimes blurred, noisy or lettered."""
    rng = random.Random(seed)
    width, height = rng.choice(SIZES)
    first, second = (tuple(rng.randrange(256) for _ in range(3)) for _ in range(2))
    ramp = Image.linear_gradient("L").rotate(rng.choice((0, 90, 180, 270))).resize((width, height))
    image = ImageOps.colorize(ramp, first, second)  # type: ignore[arg-type]
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randrange(2, 30)):
        colour = tuple(rng.randrange(256) for _ in range(3))
        x0, y0 = rng.randrange(width), rng.randrange(height)
        box = (x0, y0, x0 + rng.randrange(8, width // 2), y0 + rng.randrange(8, height // 2))
        shape = rng.randrange(5)
        if shape == 0:
            draw.rectangle(box, fill=colour)
        elif shape == 1:
            draw.ellipse(box, fill=colour)
        elif shape == 2:
            draw.line(box, fill=colour, width=rng.randrange(1, 16))
        elif shape == 3:
            points = [(rng.randrange(width), rng.randrange(height)) for _ in range(rng.randrange(3, 8))]
            draw.polygon(points, fill=colour)
        else:
            draw.text((x0, y0), f"{rng.randrange(10**6)}", fill=colour, font_size=rng.randrange(12, 96))
    if rng.random() < 0.25:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(1, 5)))
    if rng.random() < 0.15:
        noise = Image.effect_noise((width, height), rng.uniform(10, 60)).convert("RGB")
        image = Image.blend(image, noise, rng.uniform(0.2, 0.6))
    return image
