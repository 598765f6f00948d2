"""The perceptual hash: what it tolerates, what it tells apart, how the index finds it, the preview."""

from __future__ import annotations

import io
import random

import pytest
from infra.bench.corpus import SAMPLES, crop, encoded, generated
from PIL import Image, ImageEnhance, ImageOps

from moderator.fingerprint import (
    MATCH_DISTANCE,
    PART_BITS,
    PARTS,
    PREVIEW_MAX_BYTES,
    PREVIEW_SHORT_SIDE,
    closest,
    cropped_copies,
    difference_hash,
    distance,
    from_hex,
    index_hashes,
    parts,
    preview_jpeg,
    to_hex,
)
from moderator.imaging import prepare

PHOTOS = ("astronaut.jpg", "chelsea.jpg", "coffee.jpg", "rocket.jpg")


def photo(name: str) -> Image.Image:
    return Image.open(SAMPLES / name).convert("RGB")


def hash_of(image: Image.Image) -> int:
    value = difference_hash(image)
    assert value is not None
    return value


def reopened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (120, 30, 200)])
def test_a_plain_picture_gets_no_hash_so_it_can_match_nothing(colour: tuple[int, int, int]) -> None:
    # GIVEN a picture of one colour (a black frame, a white page)
    plain = Image.new("RGB", (320, 240), colour)

    # WHEN it is hashed
    # THEN there is no hash: all plain pictures would otherwise look alike
    assert difference_hash(plain) is None


def test_a_soft_gradient_gets_no_hash_either() -> None:
    # GIVEN a barely visible gradient
    ramp = ImageOps.colorize(Image.linear_gradient("L").resize((400, 300)), (120, 120, 120), (124, 124, 124))

    # THEN it is too plain to identify
    assert difference_hash(ramp) is None


@pytest.mark.parametrize("name", PHOTOS)
def test_a_photo_survives_reencoding_resizing_and_brightness_within_the_match_distance(name: str) -> None:
    # GIVEN a photo and copies of it: half size, JPEG quality 50, PNG, WebP, brighter, darker
    original = photo(name)
    half = original.resize((original.width // 2, original.height // 2), Image.Resampling.LANCZOS)
    copies = [
        reopened(encoded(half, "JPEG", quality=85)),
        reopened(encoded(original, "JPEG", quality=50)),
        reopened(encoded(original, "PNG")),
        reopened(encoded(original, "WEBP", quality=80)),
        ImageEnhance.Brightness(original).enhance(1.2),
        ImageEnhance.Brightness(original).enhance(0.8),
    ]

    # WHEN each is hashed
    # THEN each is within MATCH_DISTANCE bits of the original
    assert [distance(hash_of(original), hash_of(copy)) <= MATCH_DISTANCE for copy in copies] == [True] * len(copies)


@pytest.mark.parametrize("name", PHOTOS)
def test_a_trimmed_copy_lands_near_one_of_the_cropped_copies_the_original_is_indexed_by(name: str) -> None:
    # GIVEN a photo cropped by 5 % at positions the index was not built with
    original = photo(name)
    rng = random.Random(name)
    trimmed = [crop(original, 0.05, rng.random(), rng.random()) for _ in range(4)]

    # WHEN compared with the hashes the original is indexed by
    indexed = index_hashes(original)

    # THEN each trimmed copy is within MATCH_DISTANCE bits of one of them
    assert all(min(distance(hash_of(copy), value) for value in indexed) <= MATCH_DISTANCE for copy in trimmed)


def test_different_photos_and_a_mirror_image_are_far_apart() -> None:
    # GIVEN the sample photos, and one of them mirrored
    hashes = {name: hash_of(photo(name)) for name in PHOTOS}
    mirrored = hash_of(ImageOps.mirror(photo("coffee.jpg")))

    # THEN every two photos differ by far more than the match distance, and so does the mirror image
    gaps = [distance(hashes[a], hashes[b]) for a in PHOTOS for b in PHOTOS if a < b]
    assert min(gaps) > 4 * MATCH_DISTANCE
    assert distance(mirrored, hashes["coffee.jpg"]) > 4 * MATCH_DISTANCE


def test_the_function_hashes_the_frame_it_prepares_for_imagga() -> None:
    # GIVEN a sample photo as uploaded
    data = (SAMPLES / "chelsea.jpg").read_bytes()

    # WHEN it is prepared for Imagga
    prepared = prepare(data, short_side=600, max_pixels=100_000_000)

    # THEN the prepared frame carries the hash of the picture it holds
    assert prepared.fingerprint is not None
    assert distance(prepared.fingerprint, hash_of(photo("chelsea.jpg"))) <= MATCH_DISTANCE


def test_hashes_within_the_match_distance_always_share_a_part() -> None:
    # GIVEN random hashes and copies with up to MATCH_DISTANCE bits flipped anywhere
    rng = random.Random(3)
    for _ in range(2000):
        value = rng.getrandbits(64)
        flipped = value
        for bit in rng.sample(range(64), rng.randint(0, MATCH_DISTANCE)):
            flipped ^= 1 << bit

        # THEN at least one 16-bit part is identical (so the four look-ups of the index find it)
        assert any(a == b for a, b in zip(parts(value), parts(flipped), strict=True))


def test_parts_are_the_hash_cut_into_four_sixteen_bit_pieces() -> None:
    value = from_hex("0123456789abcdef")
    assert (PARTS, PART_BITS) == (4, 16)
    assert parts(value) == (0x0123, 0x4567, 0x89AB, 0xCDEF)
    assert to_hex(value) == "0123456789abcdef"
    with pytest.raises(ValueError, match="64-bit"):
        from_hex("1" * 17)


def test_closest_keeps_candidates_within_the_limit_nearest_first_once_each() -> None:
    # GIVEN an upload's hash and index entries at 0, 2, 3 and 4 bits (one image indexed twice)
    own = 0
    candidates = [("far", 0b1111), ("b", 0b11), ("a", 0b111), ("b", 0b1)]

    # WHEN the candidates are compared bit by bit
    found = closest([own], candidates)

    # THEN those within 3 bits remain, each image once at its nearest, nearest first
    assert found == [("b", 1), ("a", 3)]


def test_cropped_copies_trim_up_to_five_percent_each_way() -> None:
    # GIVEN a 200x100 image
    image = Image.new("RGB", (200, 100))

    # WHEN its cropped copies are made
    sizes = [copy.size for copy in cropped_copies(image)]

    # THEN every combination of 0, 2.5 and 5 % off each way (at three places) but the original is there
    assert len(sizes) == 7 * 7 - 1
    assert min(width for width, _ in sizes) == 190 and min(height for _, height in sizes) == 95
    assert (200, 100) not in sizes


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_preview_is_small_with_a_short_side_of_160_pixels(seed: int) -> None:
    # GIVEN a large, detailed picture (noise makes JPEGs big)
    picture = generated(seed).resize((2400, 1600))
    noisy = Image.blend(picture, Image.effect_noise(picture.size, 80).convert("RGB"), 0.5)

    # WHEN its preview is made
    data = preview_jpeg(noisy)

    # THEN it is a JPEG under 16 KB whose short side is 160 px (or less, for a very long strip)
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.format == "JPEG"
        assert min(opened.size) <= PREVIEW_SHORT_SIDE
    assert len(data) < PREVIEW_MAX_BYTES
