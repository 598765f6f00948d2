"""Which frames of an animation (or pages of a TIFF) are sent, and the limits that keep that safe.

Frames are told apart by colour: frame n of each test animation is COLOURS[n].
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from moderator.imaging import (
    ANIMATION_PIXELS_FACTOR,
    MAX_FRAMES_VISITED,
    PreparedFrames,
    UnsupportedImageError,
    frame_indices,
    prepare_frames,
)
from moderator.model import Reason
from tests.builders import animation_bytes, jpeg_bytes

MAX_PIXELS = 100_000_000
COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255), (128, 128, 128))


def frames_of(data: bytes, max_frames: int, max_pixels: int = MAX_PIXELS) -> PreparedFrames:
    return prepare_frames(data, short_side=600, max_pixels=max_pixels, max_frames=max_frames)


def refused(data: bytes, max_frames: int, max_pixels: int = MAX_PIXELS) -> UnsupportedImageError:
    with pytest.raises(UnsupportedImageError) as caught:
        frames_of(data, max_frames, max_pixels)
    return caught.value


def colour_index(data: bytes) -> int:
    """Which of COLOURS the sent JPEG shows (the nearest)."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    pixel = image.getpixel((image.width // 2, image.height // 2))
    assert isinstance(pixel, tuple)
    return min(range(len(COLOURS)), key=lambda n: sum(abs(int(a) - b) for a, b in zip(pixel, COLOURS[n], strict=True)))


# ---- which frames ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame_count", "wanted", "expected"),
    [
        (1, 5, (0,)),
        (5, 1, (0,)),
        (2, 5, (0, 1)),
        (5, 5, (0, 1, 2, 3, 4)),
        (5, 3, (0, 2, 4)),
        (10, 5, (0, 2, 4, 7, 9)),
        (100, 5, (0, 25, 50, 74, 99)),
        (7, 50, (0, 1, 2, 3, 4, 5, 6)),
    ],
)
def test_frames_are_the_first_then_evenly_spaced_to_the_last(
    frame_count: int, wanted: int, expected: tuple[int, ...]
) -> None:
    assert frame_indices(frame_count, wanted) == expected


def test_frame_choice_never_repeats_a_frame_nor_asks_for_more_than_there_are() -> None:
    for frame_count in range(1, 80):
        for wanted in range(1, 30):
            chosen = frame_indices(frame_count, wanted)
            assert chosen[0] == 0
            assert len(chosen) == min(frame_count, wanted)
            assert list(chosen) == sorted(set(chosen))
            assert chosen[-1] == (frame_count - 1 if len(chosen) > 1 else 0)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG", "TIFF", "AVIF"])
def test_the_chosen_frames_of_each_animated_format_are_sent_in_order(fmt: str) -> None:
    # GIVEN a seven-frame animation (APNG for PNG, pages for TIFF), one colour per frame
    data = animation_bytes(fmt, COLOURS)
    # WHEN four frames are asked for
    prepared = frames_of(data, max_frames=4)
    # THEN frames 0, 2, 4 and 6 are sent, each showing its own colour, each a small JPEG
    assert prepared.frame_count == 7
    assert [f.frame for f in prepared.frames] == [0, 2, 4, 6]
    assert [colour_index(f.data) for f in prepared.frames] == [0, 2, 4, 6]
    assert {f.content_type for f in prepared.frames} == {"image/jpeg"}
    assert {f.sent_size for f in prepared.frames} == {(40, 30)}


def test_one_frame_asked_means_the_first_and_the_frames_are_not_counted() -> None:
    prepared = frames_of(animation_bytes("GIF", COLOURS), max_frames=1)
    assert prepared.frame_count is None
    assert [(f.frame, colour_index(f.data)) for f in prepared.frames] == [(0, 0)]


def test_never_more_frames_are_sent_than_the_image_has() -> None:
    prepared = frames_of(animation_bytes("WEBP", COLOURS[:3]), max_frames=50)
    assert prepared.frame_count == 3
    assert [colour_index(f.data) for f in prepared.frames] == [0, 1, 2]


def test_a_still_image_is_one_frame() -> None:
    prepared = frames_of(jpeg_bytes(64, 48), max_frames=5)
    assert (prepared.frame_count, len(prepared.frames), prepared.frames[0].frame) == (1, 1, 0)


def test_tiff_pages_of_different_sizes_are_each_sent_at_their_own_size() -> None:
    pages = [Image.new("RGB", (40, 30), COLOURS[0]), Image.new("RGB", (90, 60), COLOURS[2])]
    out = io.BytesIO()
    pages[0].save(out, format="TIFF", save_all=True, append_images=pages[1:])
    prepared = frames_of(out.getvalue(), max_frames=5)
    assert [(f.source_size, f.sent_size, colour_index(f.data)) for f in prepared.frames] == [
        ((40, 30), (40, 30), 0),
        ((90, 60), (90, 60), 2),
    ]


def test_the_pictures_of_a_multi_picture_jpeg_are_frames() -> None:
    # GIVEN an MPO (a JPEG holding two pictures, as stereo and some phone cameras write)
    pictures = [Image.new("RGB", (1200, 800), COLOURS[0]), Image.new("RGB", (1200, 800), COLOURS[2])]
    out = io.BytesIO()
    pictures[0].save(out, format="MPO", save_all=True, append_images=pictures[1:])
    # WHEN / THEN both are sent, each downscaled
    prepared = frames_of(out.getvalue(), max_frames=5)
    assert (prepared.source_format, prepared.frame_count) == ("MPO", 2)
    assert [(f.sent_size, colour_index(f.data)) for f in prepared.frames] == [((900, 600), 0), ((900, 600), 2)]


def test_originals_mode_sends_the_first_frame_as_is_and_later_frames_as_jpeg() -> None:
    data = animation_bytes("GIF", COLOURS[:3])
    prepared = prepare_frames(data, short_side=0, max_pixels=MAX_PIXELS, max_frames=3)
    assert [(f.frame, f.content_type) for f in prepared.frames] == [
        (0, "image/gif"),
        (1, "image/jpeg"),
        (2, "image/jpeg"),
    ]
    assert prepared.frames[0].data == data


# ---- bombs and broken frames ----------------------------------------------------------------


def test_an_animation_with_more_frames_than_can_be_sampled_is_refused_but_its_first_frame_is_checked() -> None:
    # GIVEN a tiny GIF with more frames than the function will step through (cheap to make, costly to walk)
    data = animation_bytes("GIF", tuple(COLOURS[n % 2] for n in range(MAX_FRAMES_VISITED + 1)), 2, 2)
    # WHEN several frames are asked for, THEN it is refused with its own reason
    assert refused(data, max_frames=5).reason is Reason.TOO_MANY_FRAMES
    # AND with ANIMATION_FRAMES=1 its first frame is judged as before
    assert len(frames_of(data, max_frames=1).frames) == 1


def many_page_tiff(pages: int) -> bytes:
    """A little-endian TIFF of `pages` 1x1 grey pages, written directly (Pillow's writer is slow at this)."""
    entries = 8
    ifd_size = 2 + entries * 12 + 4
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for page in range(pages):
        start = len(out)
        pixel_at = start + ifd_size
        following = 0 if page == pages - 1 else pixel_at + 2
        tags = [(256, 1), (257, 1), (258, 8), (259, 1), (262, 1), (273, pixel_at), (278, 1), (279, 1)]
        out += struct.pack("<H", entries)
        for tag, value in tags:
            out += struct.pack("<HHII", tag, 4, 1, value)  # type LONG, one value
        out += struct.pack("<I", following) + bytes([page % 256, 0])
    return bytes(out)


def test_a_tiff_with_too_many_pages_is_refused_without_walking_them_all() -> None:
    data = many_page_tiff(MAX_FRAMES_VISITED + 500)
    assert Image.open(io.BytesIO(many_page_tiff(3))).n_frames == 3  # the writer makes real pages
    assert refused(data, max_frames=3).reason is Reason.TOO_MANY_FRAMES
    assert len(frames_of(data, max_frames=1).frames) == 1


def test_an_animation_whose_frames_together_hold_too_many_pixels_is_refused_before_decoding() -> None:
    # GIVEN a 100x100 GIF of 60 frames and a limit of 10,000 pixels per image: decoding up to its last
    # frame means 600,000 pixels, over the animation limit of ANIMATION_PIXELS_FACTOR x 10,000
    data = animation_bytes("GIF", tuple(COLOURS[n % 3] for n in range(60)), 100, 100)
    assert ANIMATION_PIXELS_FACTOR * 10_000 < 60 * 100 * 100
    # WHEN / THEN sampling it is refused as too many pixels, while its first frame alone is fine
    error = refused(data, max_frames=5, max_pixels=10_000)
    assert error.reason is Reason.TOO_MANY_PIXELS
    assert "60 frames of 100x100" in str(error)
    assert len(frames_of(data, max_frames=1, max_pixels=10_000).frames) == 1


def test_a_gif_frame_that_grows_the_canvas_past_the_limit_is_refused() -> None:
    # GIVEN a 10x10 GIF whose second frame claims to be 200x200 (Pillow grows the canvas to fit it)
    data = bytearray(animation_bytes("GIF", COLOURS[:2], 10, 10))
    descriptor = b"\x2c\x00\x00\x00\x00\x0a\x00\x0a\x00"  # image at (0, 0), 10 x 10
    second = data.rindex(descriptor)
    assert second != data.index(descriptor)
    data[second + 5 : second + 9] = struct.pack("<HH", 200, 200)
    # WHEN two frames are asked for with a limit of 10,000 pixels, THEN frame 1 is refused before it is decoded
    error = refused(bytes(data), max_frames=2, max_pixels=10_000)
    assert error.reason is Reason.TOO_MANY_PIXELS
    assert "frame 1: 200x200" in str(error)


def test_a_tiff_page_over_the_pixel_limit_is_refused() -> None:
    pages = [Image.new("RGB", (10, 10), COLOURS[0]), Image.new("RGB", (200, 200), COLOURS[1])]
    out = io.BytesIO()
    pages[0].save(out, format="TIFF", save_all=True, append_images=pages[1:])
    error = refused(out.getvalue(), max_frames=2, max_pixels=10_000)
    assert (error.reason, "frame 1: 200x200" in str(error)) == (Reason.TOO_MANY_PIXELS, True)


def test_an_apng_declaring_more_frames_than_it_holds_is_undecodable() -> None:
    # GIVEN an APNG of two frames whose acTL chunk claims five
    data = bytearray(animation_bytes("PNG", COLOURS[:2]))
    at = data.index(b"acTL")
    data[at + 4 : at + 8] = struct.pack(">I", 5)
    data[at + 12 : at + 16] = struct.pack(">I", zlib.crc32(bytes(data[at : at + 12])))
    # WHEN / THEN the missing frames make it undecodable (and nothing was sent for the first ones)
    error = refused(bytes(data), max_frames=5)
    assert error.reason is Reason.UNDECODABLE
    assert "of 5" in str(error)


def test_an_animation_cut_short_in_its_last_frame_is_undecodable() -> None:
    error = refused(animation_bytes("GIF", COLOURS[:5])[:-12], max_frames=5)
    assert (error.reason, "frame 4 of 5" in str(error)) == (Reason.UNDECODABLE, True)
