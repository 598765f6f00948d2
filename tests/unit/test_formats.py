"""What people really upload: HEIC and AVIF, broken files judged by their signature, and the awkward
images that must keep working. Each test measures what would be sent: a baseline RGB JPEG of a
known size, small enough to upload quickly.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageCms, ImageStat, features

from moderator.imaging import PreparedImage, UnsupportedImageError, prepare, prepare_frames, sniff
from moderator.model import Reason
from tests.builders import (
    SRGB_BLUE,
    SRGB_GREEN,
    SRGB_RED,
    avif_bytes,
    icc_rgb_profile,
    jpeg_bytes,
    png16_rgb_bytes,
    png_bytes,
    quadrants_with_exif_orientation,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "infra" / "local" / "samples"
SHORT_SIDE = 600
MAX_PIXELS = 100_000_000
#: What a prepared image may weigh at most: a 600-px JPEG is tens of kilobytes.
MAX_SENT_BYTES = 200_000


def sent(prepared: PreparedImage, size: tuple[int, int]) -> Image.Image:
    """The bytes that would go to Imagga, measured: a baseline RGB JPEG of `size`, and small."""
    assert prepared.content_type == "image/jpeg"
    assert 0 < len(prepared.data) <= MAX_SENT_BYTES
    image = Image.open(io.BytesIO(prepared.data))
    image.load()
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", size)
    assert prepared.sent_size == size
    assert "icc_profile" not in image.info  # colours are sRGB already: nothing left for Imagga to interpret
    return image


def near(pixel: object, expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel[:3], expected, strict=True))


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel (0-255) of two RGB images of the same size."""
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def prepared(data: bytes, short_side: int = SHORT_SIDE) -> PreparedImage:
    return prepare(data, short_side=short_side, max_pixels=MAX_PIXELS)


def reason_for(data: bytes) -> Reason:
    with pytest.raises(UnsupportedImageError) as caught:
        prepare(data, short_side=SHORT_SIDE, max_pixels=MAX_PIXELS)
    return caught.value.reason


# ---- the signature decides: undecodable or not an image --------------------------------------

GARBAGE = bytes(range(7, 250)) * 4
BMP_HEADER = (
    b"BM" + (1000).to_bytes(4, "little") + b"\0\0\0\0" + (54).to_bytes(4, "little") + (40).to_bytes(4, "little")
)


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"\xff\xd8\xff\xe0" + GARBAGE, "JPEG"),
        (b"\x89PNG\r\n\x1a\n" + GARBAGE, "PNG"),
        (b"GIF89a" + GARBAGE, "GIF"),
        (b"GIF87a\x01", "GIF"),
        (b"RIFF\x00\x10\x00\x00WEBPVP8 " + GARBAGE, "WebP"),
        (BMP_HEADER + GARBAGE, "BMP"),
        (b"II*\x00" + GARBAGE, "TIFF"),
        (b"MM\x00*" + GARBAGE, "TIFF"),
        (ftyp(b"heic", b"mif1", b"heic") + GARBAGE, "HEIF"),
        (ftyp(b"avif", b"mif1", b"avif") + GARBAGE, "AVIF"),
        (ftyp(b"mif1", b"mif1", b"heic") + GARBAGE, "HEIF"),
    ],
    ids=["jpeg", "png", "gif89a", "gif87a-cut", "webp", "bmp", "tiff-ii", "tiff-mm", "heic", "avif", "mif1-heic"],
)
def test_a_known_signature_whose_header_cannot_be_read_is_undecodable(data: bytes, name: str) -> None:
    # GIVEN bytes that start like an image format and go on with garbage
    # WHEN they are judged
    # THEN the signature is recognised, and the file is undecodable rather than not an image
    signature = sniff(data)
    assert signature is not None and signature.name == name
    assert reason_for(data) is Reason.UNDECODABLE


@pytest.mark.parametrize(
    "data",
    [
        b"BMW 320d, 2019, for sale\n" + b"x" * 40,  # "BM" alone is not a bitmap
        ftyp(b"isom", b"isom", b"iso2", b"mp41") + GARBAGE,  # an MP4 video
        ftyp(b"qt  ", b"qt  ") + GARBAGE,  # a QuickTime movie (an iPhone Live Photo's video)
        b"RIFF\x24\x08\x00\x00WAVEfmt " + GARBAGE,  # a WAV file
        b"PK\x03\x04" + GARBAGE,  # a ZIP
        b"%PDF-1.7\n" + GARBAGE,
    ],
    ids=["text-starting-bm", "mp4", "quicktime", "wav", "zip", "pdf"],
)
def test_bytes_with_no_image_signature_are_not_an_image(data: bytes) -> None:
    assert sniff(data) is None
    assert reason_for(data) is Reason.NOT_AN_IMAGE


def test_a_heic_cut_in_half_is_undecodable() -> None:
    data = (SAMPLES / "coffee-rotated.heic").read_bytes()
    assert reason_for(data[: len(data) // 2]) is Reason.UNDECODABLE


# ---- HEIC / HEIF ----------------------------------------------------------------------------


def test_an_iphone_style_heic_is_decoded_upright_and_sent_as_a_small_jpeg() -> None:
    # GIVEN a HEIC stored on its side (400x600) with an orientation transform, as phones store photos
    data = (SAMPLES / "coffee-rotated.heic").read_bytes()
    # WHEN it is prepared, with a short side of 200
    result = prepared(data, short_side=200)
    # THEN a 300x200 JPEG goes out, upright: it looks like the photograph it was made from
    assert (result.source_format, result.source_size) == ("HEIF", (600, 400))
    image = sent(result, (300, 200))
    original = Image.open(SAMPLES / "coffee.jpg").convert("RGB").resize((300, 200), Image.Resampling.BICUBIC)
    assert mean_difference(image, original) < 12
    # (the same image turned on its side would differ far more)
    assert mean_difference(image, original.rotate(180)) > 30


def test_a_heic_is_sent_as_jpeg_even_when_originals_are_asked_for() -> None:
    # GIVEN RESIZE_SHORT_SIDE=0 (send originals): Imagga's support for HEIC is unknown
    result = prepared((SAMPLES / "coffee-rotated.heic").read_bytes(), short_side=0)
    # THEN a full-size JPEG goes out instead of the HEIC's bytes
    sent(result, (600, 400))


def test_every_image_of_a_multi_image_heic_is_a_frame() -> None:
    # GIVEN a HEIC holding two images (a photograph, then the demo sample)
    data = (SAMPLES / "burst-second-unsafe.heic").read_bytes()
    # WHEN up to five frames are prepared
    frames = prepare_frames(data, short_side=SHORT_SIDE, max_pixels=MAX_PIXELS, max_frames=5)
    # THEN both images are sent, each at its own size, and the second is the demo sample
    assert frames.frame_count == 2
    assert [f.frame for f in frames.frames] == [0, 1]
    sent(frames.frames[0], (451, 300))
    second = sent(frames.frames[1], (480, 320))
    assert mean_difference(second, Image.open(SAMPLES / "demo-unsafe-sample.png")) < 15


def test_the_heif_library_is_loaded_only_when_a_heif_signature_is_seen(tmp_path: Path) -> None:
    # GIVEN a fresh interpreter (the function's cold start)
    code = (
        "import sys; from moderator.imaging import prepare\n"
        "prepare(open(sys.argv[1], 'rb').read(), short_side=600, max_pixels=10**8)\n"
        "print('pi_heif' in sys.modules, end=' ')\n"
        "prepare(open(sys.argv[2], 'rb').read(), short_side=600, max_pixels=10**8)\n"
        "print('pi_heif' in sys.modules)\n"
    )
    jpeg = tmp_path / "photo.jpg"
    jpeg.write_bytes(jpeg_bytes(300, 200))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "functions")}
    # WHEN it prepares a JPEG, then a HEIC
    result = subprocess.run(
        [sys.executable, "-c", code, str(jpeg), str(SAMPLES / "coffee-rotated.heic")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    # THEN pi-heif was not imported for the JPEG, and was for the HEIC
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False True"


# ---- AVIF -----------------------------------------------------------------------------------


def test_this_pillow_reads_and_writes_avif_by_itself() -> None:
    # The Lambda package gets the same Pillow wheel (its arm64 build holds PIL/_avif too: see tests/template).
    assert features.check("avif")


def test_an_avif_written_by_pillow_is_sent_as_jpeg_with_its_colour() -> None:
    result = prepared(avif_bytes(64, 48, color=(30, 90, 200)))
    assert (result.source_format, result.source_size) == ("AVIF", (64, 48))
    assert near(sent(result, (64, 48)).getpixel((32, 24)), (30, 90, 200), tolerance=12)


def test_an_avif_orientation_is_applied() -> None:
    # GIVEN a 60x30 AVIF whose EXIF says "turn 90° clockwise"
    result = prepared(avif_bytes(60, 30, orientation=6))
    # THEN it is sent upright: 30x60
    sent(result, (30, 60))


# ---- the awkward ones keep working -----------------------------------------------------------


def test_a_cmyk_jpeg_is_sent_in_rgb_with_its_colour() -> None:
    # GIVEN a CMYK JPEG (print workflows) of pure magenta + yellow, i.e. red
    out = io.BytesIO()
    Image.new("CMYK", (300, 200), (0, 255, 255, 0)).save(out, format="JPEG", quality=95)
    # WHEN / THEN it is sent as an RGB JPEG, red
    result = prepared(out.getvalue())
    assert near(sent(result, (300, 200)).getpixel((150, 100)), (255, 0, 0))


def test_a_progressive_jpeg_is_decoded_at_reduced_scale_and_sent() -> None:
    # GIVEN a progressive 1200x800 JPEG
    out = io.BytesIO()
    Image.new("RGB", (1200, 800), (20, 140, 90)).save(out, format="JPEG", quality=90, progressive=True)
    assert Image.open(io.BytesIO(out.getvalue())).info.get("progressive")
    # WHEN / THEN a 900x600 JPEG goes out, same colour
    assert near(sent(prepared(out.getvalue()), (900, 600)).getpixel((450, 300)), (20, 140, 90), tolerance=8)


def test_a_sixteen_bit_rgb_png_is_scaled_to_eight_bits() -> None:
    # GIVEN a 16-bit-per-channel RGB PNG of orange (65535, 32768, 0)
    result = prepared(png16_rgb_bytes(40, 30, (65535, 32768, 0)))
    # THEN it is sent orange, not clipped or black
    assert near(sent(result, (40, 30)).getpixel((20, 15)), (255, 128, 0), tolerance=8)


def test_a_sixteen_bit_greyscale_png_is_sent_mid_grey() -> None:
    out = io.BytesIO()
    Image.new("I;16", (40, 40), 32768).save(out, format="PNG")
    assert near(sent(prepared(out.getvalue()), (40, 40)).getpixel((20, 20)), (128, 128, 128), tolerance=10)


def test_a_palette_png_with_a_transparent_index_is_flattened_onto_white() -> None:
    # GIVEN a palette PNG: left half index 0 (transparent, black underneath), right half index 1 (blue)
    image = Image.new("P", (40, 20), 0)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0, 0, 0] * 254)
    image.paste(1, (20, 0, 40, 20))
    out = io.BytesIO()
    image.save(out, format="PNG", transparency=0)
    # WHEN / THEN the transparent half is white, the opaque half blue
    shown = sent(prepared(out.getvalue()), (40, 20))
    assert near(shown.getpixel((5, 10)), (255, 255, 255), tolerance=8)
    assert near(shown.getpixel((35, 10)), (0, 0, 255), tolerance=30)


def test_a_palette_png_with_partial_alpha_is_blended_onto_white() -> None:
    # GIVEN a palette PNG whose only colour is black at half opacity (a tRNS table with alpha 128)
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0] * 256)
    out = io.BytesIO()
    image.save(out, format="PNG", transparency=bytes([128]))
    # THEN it is sent mid grey: half black over white
    assert near(sent(prepared(out.getvalue()), (20, 20)).getpixel((10, 10)), (127, 127, 127), tolerance=8)


def test_a_gif_with_a_transparent_colour_is_flattened_onto_white() -> None:
    image = Image.new("P", (30, 30), 3)
    image.putpalette([255, 0, 0] * 3 + [0, 0, 0] + [0, 0, 0] * 252)
    out = io.BytesIO()
    image.save(out, format="GIF", transparency=3)
    assert near(sent(prepared(out.getvalue()), (30, 30)).getpixel((15, 15)), (255, 255, 255), tolerance=8)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied(orientation: int) -> None:
    # GIVEN an 80x40 picture (red, green / blue, white quadrants) stored as EXIF orientation N describes
    data = quadrants_with_exif_orientation(orientation, 80, 40)
    # WHEN it is prepared
    shown = sent(prepared(data), (80, 40))
    # THEN it is sent upright, every quadrant in its place
    assert near(shown.getpixel((20, 10)), (255, 0, 0))
    assert near(shown.getpixel((60, 10)), (0, 255, 0))
    assert near(shown.getpixel((20, 30)), (0, 0, 255))
    assert near(shown.getpixel((60, 30)), (255, 255, 255))


def test_a_one_pixel_image_is_sent_as_one_pixel() -> None:
    assert near(sent(prepared(png_bytes(1, 1, color=(200, 50, 50))), (1, 1)).getpixel((0, 0)), (200, 50, 50), 12)


def test_a_ten_thousand_by_ten_banner_is_sent_whole_its_short_side_already_small() -> None:
    # GIVEN a 10000x10 banner: its short side (10) is under RESIZE_SHORT_SIDE, so nothing is scaled
    result = prepared(png_bytes(10_000, 10, color=(250, 200, 0)))
    # THEN the whole banner goes out, still small in bytes
    assert near(sent(result, (10_000, 10)).getpixel((5_000, 5)), (250, 200, 0), tolerance=12)


def test_an_srgb_icc_profile_keeps_the_colours() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 100, 50)).save(out, format="JPEG", quality=95, icc_profile=srgb)
    assert near(sent(prepared(out.getvalue()), (64, 48)).getpixel((32, 24)), (200, 100, 50), tolerance=8)


def test_an_icc_profile_is_applied_so_imagga_sees_what_viewers_see() -> None:
    # GIVEN pixels stored as pure red, with a profile that says those values are blue: every
    # colour-managed viewer shows blue (an attacker could hide a picture this way)
    profile = icc_rgb_profile(red=SRGB_BLUE, green=SRGB_GREEN, blue=SRGB_RED)
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (255, 0, 0)).save(out, format="JPEG", quality=95, icc_profile=profile)
    # WHEN it is prepared
    shown = sent(prepared(out.getvalue()), (64, 48))
    # THEN what is sent is blue, as people see it
    assert near(shown.getpixel((32, 24)), (0, 0, 255))


def test_an_icc_profile_on_a_transparent_png_keeps_the_transparency() -> None:
    profile = icc_rgb_profile(red=SRGB_BLUE, green=SRGB_GREEN, blue=SRGB_RED)
    image = Image.new("RGBA", (40, 20), (255, 0, 0, 255))
    image.paste((255, 0, 0, 0), (20, 0, 40, 20))
    out = io.BytesIO()
    image.save(out, format="PNG", icc_profile=profile)
    shown = sent(prepared(out.getvalue()), (40, 20))
    assert near(shown.getpixel((5, 10)), (0, 0, 255))
    assert near(shown.getpixel((35, 10)), (255, 255, 255), tolerance=8)


def test_a_broken_icc_profile_is_ignored_like_browsers_do() -> None:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 10)).save(out, format="JPEG", quality=95, icc_profile=b"not a profile" * 20)
    assert near(sent(prepared(out.getvalue()), (32, 32)).getpixel((16, 16)), (10, 200, 10), tolerance=10)


def test_a_jpeg_with_a_zip_appended_is_judged_as_the_jpeg_and_the_zip_is_never_sent() -> None:
    # GIVEN a JPEG followed by a ZIP archive (a classic polyglot)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("payload.txt", "hidden " * 100)
    data = jpeg_bytes(800, 600, color=(90, 30, 160)) + archive.getvalue()
    # WHEN it is prepared
    result = prepared(data)
    # THEN the picture is sent, and nothing of the archive goes with it
    assert result.source_format == "JPEG"
    assert near(sent(result, (800, 600)).getpixel((400, 300)), (90, 30, 160), tolerance=10)
    assert b"PK\x03\x04" not in result.data and b"payload.txt" not in result.data
