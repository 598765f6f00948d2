"""Judging bytes and preparing what is sent to Imagga: Pillow only, in memory."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image

from moderator.imaging import UnsupportedImageError, prepare
from moderator.model import Reason
from tests.builders import (
    bmp_bytes,
    gif_bytes,
    jpeg_bytes,
    jpeg_with_exif_orientation,
    png_bytes,
    tiff_bytes,
    webp_bytes,
)

SHORT_SIDE = 600
MAX_PIXELS = 100_000_000


def reason_for(data: bytes, *, max_pixels: int = MAX_PIXELS, short_side: int = SHORT_SIDE) -> Reason:
    with pytest.raises(UnsupportedImageError) as caught:
        prepare(data, short_side=short_side, max_pixels=max_pixels)
    return caught.value.reason


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def near(pixel: object, expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel[:3], expected, strict=True))


# ---- UNSUPPORTED ------------------------------------------------------------------------------


def test_empty_bytes_are_unsupported_as_empty() -> None:
    assert reason_for(b"") is Reason.EMPTY


@pytest.mark.parametrize(
    "data",
    [
        b"just some text, not a picture\n",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        b"<!DOCTYPE html><html><head><title>photo.jpg</title></head><body>Not found</body></html>",
        b"\x00" * 64,
        b'{"not": "an image"}',
    ],
    ids=["text", "pdf", "html-named-jpg", "zeros", "json"],
)
def test_bytes_that_are_not_an_image_are_unsupported(data: bytes) -> None:
    assert reason_for(data) is Reason.NOT_AN_IMAGE


def test_an_image_over_the_pixel_limit_is_unsupported_before_decoding() -> None:
    # GIVEN a 100x100 image and a limit of 9,999 pixels
    data = png_bytes(100, 100)
    # WHEN / THEN it is refused for its pixel count
    assert reason_for(data, max_pixels=9_999) is Reason.TOO_MANY_PIXELS


def test_an_image_exactly_at_the_pixel_limit_is_accepted() -> None:
    prepared = prepare(png_bytes(100, 100), short_side=SHORT_SIDE, max_pixels=10_000)
    assert prepared.source_size == (100, 100)


@pytest.mark.parametrize(
    "data",
    [jpeg_bytes(400, 300)[:300], png_bytes(400, 300)[:60]],
    ids=["truncated-jpeg", "truncated-png"],
)
def test_truncated_images_are_undecodable(data: bytes) -> None:
    assert reason_for(data) is Reason.UNDECODABLE


def test_truncated_image_is_undecodable_also_when_originals_are_sent() -> None:
    assert reason_for(jpeg_bytes(400, 300)[:300], short_side=0) is Reason.UNDECODABLE


def test_an_unsupported_image_error_carries_a_readable_detail() -> None:
    with pytest.raises(UnsupportedImageError, match="over the limit of 10 pixels"):
        prepare(png_bytes(8, 8), short_side=SHORT_SIDE, max_pixels=10)


# ---- accepted formats -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "source_format"),
    [
        (jpeg_bytes, "JPEG"),
        (png_bytes, "PNG"),
        (gif_bytes, "GIF"),
        (webp_bytes, "WEBP"),
        (bmp_bytes, "BMP"),
        (tiff_bytes, "TIFF"),
    ],
)
def test_every_accepted_format_is_sent_as_jpeg(build: Callable[[], bytes], source_format: str) -> None:
    # GIVEN an image in one of the six accepted formats
    # WHEN it is prepared
    prepared = prepare(build(), short_side=SHORT_SIDE, max_pixels=MAX_PIXELS)
    # THEN its format is recognised by its bytes and a JPEG is sent
    assert prepared.source_format == source_format
    assert prepared.content_type == "image/jpeg"
    assert opened(prepared.data).format == "JPEG"
    assert opened(prepared.data).mode == "RGB"


# ---- downscale --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "sent"),
    [((2000, 1000), (1200, 600)), ((1000, 2000), (600, 1200)), ((3000, 3000), (600, 600))],
)
def test_large_images_are_downscaled_to_the_short_side(size: tuple[int, int], sent: tuple[int, int]) -> None:
    prepared = prepare(jpeg_bytes(*size), short_side=SHORT_SIDE, max_pixels=MAX_PIXELS)
    assert prepared.source_size == size
    assert prepared.sent_size == sent
    assert opened(prepared.data).size == sent


def test_small_images_are_never_upscaled() -> None:
    prepared = prepare(png_bytes(120, 80), short_side=SHORT_SIDE, max_pixels=MAX_PIXELS)
    assert prepared.sent_size == (120, 80)
    assert opened(prepared.data).size == (120, 80)


def test_short_side_zero_sends_the_original_bytes() -> None:
    # GIVEN a PNG and short_side 0 (send originals)
    data = png_bytes(700, 500)
    # WHEN it is prepared
    prepared = prepare(data, short_side=0, max_pixels=MAX_PIXELS)
    # THEN the very same bytes go out, with their own content type
    assert prepared.data == data
    assert prepared.content_type == "image/png"
    assert prepared.sent_size == (700, 500)


def test_exif_orientation_is_applied() -> None:
    # GIVEN a 60x30 landscape JPEG, red left / blue right, whose EXIF orientation 6 means
    # "turn 90° clockwise": upright it is 30x60 with red on top
    data = jpeg_with_exif_orientation(60, 30, orientation=6)
    # WHEN it is prepared
    prepared = prepare(data, short_side=SHORT_SIDE, max_pixels=MAX_PIXELS)
    # THEN the image sent is upright
    image = opened(prepared.data)
    assert image.size == (30, 60)
    assert near(image.getpixel((15, 5)), (255, 0, 0))
    assert near(image.getpixel((15, 55)), (0, 0, 255))


def test_exif_orientation_is_applied_before_downscaling() -> None:
    prepared = prepare(jpeg_with_exif_orientation(1200, 800, orientation=6), short_side=400, max_pixels=MAX_PIXELS)
    assert prepared.sent_size == (400, 600)


def test_only_the_first_frame_of_an_animated_gif_is_sent() -> None:
    # GIVEN an animated GIF: red first frame, then blue
    data = gif_bytes(40, 40, colors=((255, 0, 0), (0, 0, 255)), frames=3)
    # WHEN it is prepared
    prepared = prepare(data, short_side=SHORT_SIDE, max_pixels=MAX_PIXELS)
    # THEN the still JPEG sent shows the first frame
    image = opened(prepared.data)
    assert getattr(image, "n_frames", 1) == 1
    assert near(image.getpixel((20, 20)), (255, 0, 0))


def test_transparency_is_flattened_onto_white() -> None:
    # GIVEN a fully transparent PNG whose hidden colour is black
    data = png_bytes(50, 50, color=(0, 0, 0), alpha=0)
    # WHEN it is prepared
    prepared = prepare(data, short_side=SHORT_SIDE, max_pixels=MAX_PIXELS)
    # THEN the sent image is white, not black
    assert near(opened(prepared.data).getpixel((25, 25)), (255, 255, 255), tolerance=3)


def test_opaque_pixels_of_a_transparent_png_keep_their_colour() -> None:
    prepared = prepare(png_bytes(50, 50, color=(0, 128, 0), alpha=255), short_side=SHORT_SIDE, max_pixels=MAX_PIXELS)
    assert near(opened(prepared.data).getpixel((25, 25)), (0, 128, 0), tolerance=10)


def test_sixteen_bit_greyscale_is_scaled_not_clipped_to_white() -> None:
    # GIVEN a 16-bit greyscale PNG at half intensity
    out = io.BytesIO()
    Image.new("I;16", (40, 40), 32768).save(out, format="PNG")
    # WHEN it is prepared
    prepared = prepare(out.getvalue(), short_side=SHORT_SIDE, max_pixels=MAX_PIXELS)
    # THEN it is mid-grey
    assert near(opened(prepared.data).getpixel((20, 20)), (128, 128, 128), tolerance=10)
