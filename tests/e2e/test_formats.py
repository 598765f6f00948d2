"""What people upload, through the whole local stack: HEIC, AVIF, animations, multi-page TIFF, broken files.

The corpus is made here with Pillow (AVIF, WebP, APNG, TIFF pages, GIF) from the sample photographs;
the HEIC files are shipped samples (see infra/local/samples/LICENSES.md: pi-heif has no encoder). For
every object the test computes what the function should send (`prepare_frames` with the stack's
settings) and checks the emulator received exactly those bytes: the calls an upload costs are measured.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any

import pytest
from infra.local.stack import LocalStack
from PIL import Image
from tests.e2e.conftest import FAST_IMAGGA_ENV

from moderator.imaging import prepare_frames

pytestmark = pytest.mark.e2e

VERDICT_WAIT = 30.0
FRAME_SIZE = (480, 320)
PHOTOS = ("chelsea.jpg", "coffee.jpg", "astronaut.jpg", "rocket.jpg")


def frames_from(samples: dict[str, bytes], names: tuple[str, ...]) -> list[Image.Image]:
    return [Image.open(io.BytesIO(samples[name])).convert("RGB").resize(FRAME_SIZE) for name in names]


def save(frames: list[Image.Image], fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    if len(frames) == 1:
        frames[0].save(out, format=fmt, **options)
    else:
        frames[0].save(out, format=fmt, save_all=True, append_images=frames[1:], **options)
    return out.getvalue()


def gif_with_unsafe_third_frame(samples: dict[str, bytes]) -> bytes:
    """Five frames: two photographs, the demo unsafe sample, two photographs."""
    names = ("chelsea.jpg", "coffee.jpg", "demo-unsafe-sample.png", "astronaut.jpg", "rocket.jpg")
    return save(frames_from(samples, names), "GIF", duration=200, loop=0)


def sent_hashes(stack: LocalStack, data: bytes) -> list[str]:
    """SHA-256 of each frame the function prepares for these bytes, in order."""
    settings = stack.settings()
    prepared = prepare_frames(
        data,
        short_side=settings.resize_short_side,
        max_pixels=settings.max_image_pixels,
        max_frames=settings.animation_frames,
    )
    return [hashlib.sha256(frame.data).hexdigest() for frame in prepared.frames]


def received(stack: LocalStack) -> list[str]:
    return [r.sha256 for r in stack.imagga.categorizations() if r.sha256]


def test_a_corpus_of_modern_and_animated_formats_is_moderated_and_costs_one_call_per_frame(
    stack: LocalStack, samples: dict[str, bytes]
) -> None:
    # GIVEN one file per format, made from the sample photographs (and two shipped HEIC samples)
    photo = frames_from(samples, ("chelsea.jpg",))
    three = frames_from(samples, PHOTOS[:3])
    corpus: dict[str, tuple[bytes, str, int]] = {  # key -> (bytes, expected status, frames sent)
        "photo.avif": (save(photo, "AVIF", quality=70), "SAFE", 1),
        "clip.avif": (save(three, "AVIF", quality=70, duration=100), "SAFE", 3),
        "clip.webp": (save(three, "WEBP", quality=80, duration=100, loop=0), "SAFE", 3),
        "clip.png": (save(three, "PNG", duration=100, loop=0), "SAFE", 3),  # APNG
        "scan.tiff": (save(frames_from(samples, PHOTOS), "TIFF", compression="tiff_deflate"), "SAFE", 4),
        "iphone.heic": (samples["coffee-rotated.heic"], "SAFE", 1),
        "burst.heic": (samples["burst-second-unsafe.heic"], "UNSAFE", 2),
        "print.jpg": (save([photo[0].convert("CMYK")], "JPEG", quality=90), "SAFE", 1),
    }
    keys = {name: stack.upload(f"corpus/{name}", data) for name, (data, _, _) in corpus.items()}

    # WHEN the function has judged every one of them
    found = stack.wait_for_status(keys.values(), timeout=VERDICT_WAIT)

    # THEN each has its verdict, where that verdict puts it
    statuses = {name: (found[key].status, found[key].location) for name, key in keys.items()}
    expected = {
        name: (status, "quarantine" if status == "UNSAFE" else "incoming") for name, (_, status, _) in corpus.items()
    }
    assert statuses == expected
    # AND Imagga received exactly the frames the function prepares for each file: one call per frame
    calls = received(stack)
    for name, (data, _, frames) in corpus.items():
        wanted = sent_hashes(stack, data)
        assert len(wanted) >= frames
        assert [h for h in calls if h in wanted] == wanted[:frames], name
    assert len(calls) == sum(frames for _, _, frames in corpus.values())
    # AND the unsafe image inside the HEIC was recognised by the emulator as the demo sample, and said so
    fixed = [r for r in stack.imagga.categorizations() if r.scores_source == "fixed"]
    assert [(r.fixed_match, r.sha256) for r in fixed] == [
        ("perceptual", sent_hashes(stack, samples["burst-second-unsafe.heic"])[1])
    ]


def test_broken_files_with_image_signatures_are_undecodable_and_never_sent(stack: LocalStack) -> None:
    # GIVEN files that start like a JPEG, a PNG and a HEIC, then stop making sense
    broken = {
        "cut.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x13" * 200,
        "cut.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 60,
        "cut.heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x07" * 300,
    }
    keys = [stack.upload(f"broken/{name}", data) for name, data in broken.items()]
    found = stack.wait_for_status(keys, timeout=VERDICT_WAIT)
    assert {(f.status, f.tags["moderation:reason"]) for f in found.values()} == {("UNSUPPORTED", "undecodable")}
    assert stack.imagga.count("/v2/categories/") == 0


def test_an_animated_gif_whose_third_frame_is_the_unsafe_sample_is_quarantined(
    stack: LocalStack, samples: dict[str, bytes]
) -> None:
    # GIVEN a five-frame GIF whose third frame is the demo unsafe sample (registered with fixed scores)
    data = gif_with_unsafe_third_frame(samples)
    # WHEN it is uploaded, with the default ANIMATION_FRAMES
    key = stack.upload("animations/party.gif", data)
    found = stack.wait_for_status([key], timeout=VERDICT_WAIT)[key]
    # THEN it is UNSAFE and quarantined, tagged with the unsafe frame's scores
    assert (found.status, found.location) == ("UNSAFE", "quarantine")
    assert found.tags["moderation:nsfw"] == "97.50"
    # AND three frames were sent: the third was recognised (by its pixels: the function re-encodes the
    # GIF-quantised frame), and after it nothing could change the verdict
    records = stack.imagga.categorizations()
    assert [r.sha256 for r in records] == sent_hashes(stack, data)[:3]
    assert [(r.scores_source, r.fixed_match) for r in records] == [
        ("model", None),
        ("model", None),
        ("fixed", "perceptual"),
    ]


def test_the_same_gif_with_animation_frames_1_passes_as_safe(
    make_stack: Callable[..., LocalStack], samples: dict[str, bytes]
) -> None:
    # GIVEN a stack whose function checks only the first frame of an animation
    stack = make_stack(env={**FAST_IMAGGA_ENV, "ANIMATION_FRAMES": "1"})
    # WHEN the same GIF is uploaded
    key = stack.upload("animations/party.gif", gif_with_unsafe_third_frame(samples))
    found = stack.wait_for_status([key], timeout=VERDICT_WAIT)[key]
    # THEN it passes as SAFE after one call: the unsafe frame was never seen (why the setting exists)
    assert (found.status, found.location) == ("SAFE", "incoming")
    assert [r.scores_source for r in stack.imagga.categorizations()] == ["model"]
