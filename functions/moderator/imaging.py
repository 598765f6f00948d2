"""Judge an object's bytes and prepare what is sent to Imagga. Pillow only, no I/O.

The content decides, never the key's extension or the declared Content-Type. The first bytes name
the format (its signature); Pillow must then read the file as that format. Bytes with no known
signature are `not-an-image`; a known signature whose header or pixels cannot be read is
`undecodable`.

What is sent is a small JPEG per frame: Imagga's results do not improve past ~300 px on the short
side, and a small upload is faster and cheaper. An animation (GIF, WebP, APNG, AVIF sequence), a
multi-page TIFF or a HEIF holding several images gives up to `max_frames` frames: always the
first, the rest evenly spaced to the last. Frames are decoded one at a time; only the small JPEGs
are kept, each with the perceptual hash of the picture it holds (fingerprint.py). The stored object
is never changed.
"""

from __future__ import annotations

import functools
import io
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .fingerprint import difference_hash
from .model import Reason

if TYPE_CHECKING:
    from PIL import Image

#: Formats accepted as images, as Pillow names them (HEIF through the pi-heif plugin).
ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "AVIF", "HEIF")
ACCEPTED_NAMES = "JPEG, PNG, GIF, WebP, BMP, TIFF, HEIF/HEIC or AVIF"
JPEG_QUALITY = 85
#: Formats whose original bytes may go to Imagga when originals are asked for (`short_side` 0).
#: Imagga's support for HEIF and AVIF is unknown: those, and later frames, always go as JPEG.
ORIGINALS_SENT_AS_IS = frozenset({"JPEG", "MPO", "PNG", "GIF", "WEBP", "BMP", "TIFF"})
#: Formats whose frames build on the previous ones: reaching frame n decodes every frame before it.
#: (TIFF pages, HEIF images and MPO pictures are independent: only the frames sent are decoded.)
SEQUENTIAL_FORMATS = frozenset({"GIF", "PNG", "WEBP", "AVIF"})
#: At most this many frames are visited to sample an animation: a 1x1 GIF can hold a million
#: frames in a few megabytes, and Pillow counts TIFF pages in more than linear time.
MAX_FRAMES_VISITED = 2000
#: Pixels decoded across the frames of one image, as a multiple of the per-image pixel limit.
#: With the default limit (100 MP) that is 500 MP: about 240 frames of 1920x1080, a few seconds.
ANIMATION_PIXELS_FACTOR = 5

_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"
_GIFS = (b"GIF87a", b"GIF89a")
_TIFFS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders
#: Sizes of the BMP info headers Pillow reads (core, OS/2 v2, v1 to v5): "BM" alone is too weak.
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_GENERIC_HEIF_BRANDS = frozenset({b"mif1", b"msf1"})


class UnsupportedImageError(Exception):
    """The bytes are not an image we can send; `reason` is the `moderation:reason` to tag."""

    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason = reason
        super().__init__(detail)


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    content_type: str
    source_format: str
    source_size: tuple[int, int]
    sent_size: tuple[int, int]
    #: Which frame of the image this is, from 0 (a still image has only frame 0).
    frame: int = 0
    #: The frame's perceptual hash (fingerprint.py), None for a picture too plain to identify.
    fingerprint: int | None = None


@dataclass(frozen=True)
class PreparedFrames:
    """The frames of one image to send, in order; the first is always frame 0."""

    frames: tuple[PreparedImage, ...]
    #: Frames the image has; None when only the first frame was asked for (counting can cost).
    frame_count: int | None
    source_format: str


@dataclass(frozen=True)
class Signature:
    """What the first bytes say the file is: a name for messages, the Pillow formats that read it."""

    name: str
    formats: tuple[str, ...]


def sniff(data: bytes) -> Signature | None:
    """The format the first bytes announce, or None when they announce no accepted format."""
    if data.startswith(_JPEG):
        return Signature("JPEG", ("JPEG",))
    if data.startswith(_PNG):
        return Signature("PNG", ("PNG",))
    if data.startswith(_GIFS):
        return Signature("GIF", ("GIF",))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return Signature("WebP", ("WEBP",))
    if data.startswith(_TIFFS):
        return Signature("TIFF", ("TIFF",))
    if data[:2] == b"BM" and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES:
        return Signature("BMP", ("BMP",))
    return _sniff_heif(data)


def _sniff_heif(data: bytes) -> Signature | None:
    """HEIF and AVIF are ISO media files: an `ftyp` box whose brands name the codec."""
    if data[4:8] != b"ftyp":
        return None
    major = data[8:12]
    box_end = min(int.from_bytes(data[:4], "big"), len(data), 1024)
    brands = {major} | {data[at : at + 4] for at in range(16, box_end - 3, 4)}
    if major in _AVIF_BRANDS or (major in _GENERIC_HEIF_BRANDS and brands & _AVIF_BRANDS):
        return Signature("AVIF", ("AVIF",))
    if major in _HEIC_BRANDS or (major in _GENERIC_HEIF_BRANDS and brands & _HEIC_BRANDS):
        return Signature("HEIF", ("HEIF",))
    if major in _GENERIC_HEIF_BRANDS:
        return Signature("HEIF", ("AVIF", "HEIF"))
    if brands & (_AVIF_BRANDS | _HEIC_BRANDS):
        # An ftyp whose major brand is another one (e.g. `miaf`): an image, but not one we can read.
        return Signature("HEIF", ("AVIF", "HEIF"))
    return None  # MP4, QuickTime and other ISO media: not an image


@functools.cache
def _register_heif() -> None:
    """pi-heif (libheif + libde265) is loaded on the first HEIF seen: other images never pay for it."""
    import pi_heif  # type: ignore[import-untyped]

    # Thumbnails, depth maps and auxiliary images are never sent: don't read them.
    pi_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


def frame_indices(frame_count: int, wanted: int) -> tuple[int, ...]:
    """Always the first frame, the rest evenly spaced up to the last; never more than there are."""
    count = max(1, min(wanted, frame_count))
    if count == 1:
        return (0,)
    return tuple(round(n * (frame_count - 1) / (count - 1)) for n in range(count))


def prepare(data: bytes, *, short_side: int, max_pixels: int) -> PreparedImage:
    """Validate and downscale the first frame. `short_side` 0 sends the original bytes after validation."""
    return prepare_frames(data, short_side=short_side, max_pixels=max_pixels, max_frames=1).frames[0]


def prepare_frames(data: bytes, *, short_side: int, max_pixels: int, max_frames: int) -> PreparedFrames:
    """Validate and prepare up to `max_frames` frames, spread over the image (see `frame_indices`)."""
    # Pillow is imported on first use, not with the handler: cold starts should not wait for it.
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise UnsupportedImageError(Reason.EMPTY, "the object is empty")
    signature = sniff(data)
    if signature is None:
        raise UnsupportedImageError(Reason.NOT_AN_IMAGE, f"not a {ACCEPTED_NAMES} file")
    if "HEIF" in signature.formats:
        _register_heif()
    with warnings.catch_warnings():
        # We apply our own pixel limit below; Pillow's warning would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=signature.formats)
        except UnidentifiedImageError as exc:
            detail = f"starts like a {signature.name} file but its header cannot be read"
            raise UnsupportedImageError(Reason.UNDECODABLE, detail) from exc
        except Image.DecompressionBombError as exc:
            # Pillow names its own guard (twice its MAX_IMAGE_PIXELS); the limit that applies is ours.
            raise UnsupportedImageError(
                Reason.TOO_MANY_PIXELS, f"the image is over the limit of {max_pixels:,} pixels"
            ) from exc
        except (OSError, SyntaxError, ValueError, EOFError, RuntimeError) as exc:
            raise UnsupportedImageError(Reason.UNDECODABLE, f"cannot read the image header: {exc}") from exc
        with image:
            return _Frames(image, data, short_side, max_pixels, max_frames).prepare()


class _Frames:
    """Walks the frames of one open image, with the pixel and frame limits, and prepares the chosen ones."""

    def __init__(self, image: Image.Image, data: bytes, short_side: int, max_pixels: int, max_frames: int) -> None:
        self.image = image
        self.data = data
        self.short_side = short_side
        self.max_pixels = max_pixels
        self.max_frames = max_frames
        self.source_format = str(image.format)
        self.decoded_pixels = 0

    def prepare(self) -> PreparedFrames:
        from PIL import Image

        self._check_frame_size(0)
        frame_count: int | None = None
        index = 0
        try:
            chosen: tuple[int, ...] = (0,)
            if self.max_frames > 1:
                frame_count = self._count_frames()
                chosen = frame_indices(frame_count, self.max_frames)
            frames: list[PreparedImage] = []
            for index in self._visits(chosen):
                self.image.seek(index)
                self._check_frame_size(index)
                self._count_decoded(index)
                if index in chosen:
                    frames.append(self._prepare_frame(index))
        except Image.DecompressionBombError as exc:
            raise UnsupportedImageError(Reason.TOO_MANY_PIXELS, f"frame {index}: {exc}") from exc
        except (OSError, SyntaxError, ValueError, EOFError, RuntimeError) as exc:
            where = f"frame {index} of {frame_count}" if frame_count and frame_count > 1 else "the image"
            raise UnsupportedImageError(Reason.UNDECODABLE, f"cannot decode {where}: {exc}") from exc
        return PreparedFrames(tuple(frames), frame_count, self.source_format)

    def _count_frames(self) -> int:
        if self.source_format == "TIFF":
            # Pillow counts TIFF pages by walking all of them, in more than linear time: stop past the cap.
            count = 1
            while count <= MAX_FRAMES_VISITED:
                try:
                    self.image.seek(count)
                except EOFError:
                    break
                count += 1
            self.image.seek(0)
        else:
            count = int(getattr(self.image, "n_frames", 1))
        if count > MAX_FRAMES_VISITED:
            raise UnsupportedImageError(
                Reason.TOO_MANY_FRAMES,
                f"over {MAX_FRAMES_VISITED} frames: too many to sample (ANIMATION_FRAMES=1 checks the first only)",
            )
        return count

    def _visits(self, chosen: tuple[int, ...]) -> Iterable[int]:
        """The frames to step through: every one up to the last chosen when each frame builds on the last."""
        if len(chosen) == 1 or self.source_format not in SEQUENTIAL_FORMATS:
            return chosen
        last = chosen[-1]
        width, height = self.image.size
        budget = ANIMATION_PIXELS_FACTOR * self.max_pixels
        if width * height * (last + 1) > budget:
            raise UnsupportedImageError(
                Reason.TOO_MANY_PIXELS,
                f"{last + 1} frames of {width}x{height} to decode are over the limit of {budget:,} pixels "
                "for an animation (ANIMATION_FRAMES=1 checks the first frame only)",
            )
        return range(last + 1)

    def _check_frame_size(self, index: int) -> None:
        """Every frame within the per-image limit, checked before it is decoded."""
        width, height = self.image.size
        if width * height > self.max_pixels:
            which = "" if index == 0 else f"frame {index}: "
            raise UnsupportedImageError(
                Reason.TOO_MANY_PIXELS, f"{which}{width}x{height} is over the limit of {self.max_pixels:,} pixels"
            )

    def _count_decoded(self, index: int) -> None:
        """All frames decoded within the animation's limit (a GIF frame can grow the canvas)."""
        width, height = self.image.size
        self.decoded_pixels += width * height
        budget = ANIMATION_PIXELS_FACTOR * self.max_pixels
        if self.decoded_pixels > budget:
            raise UnsupportedImageError(
                Reason.TOO_MANY_PIXELS, f"frames up to {index} are over the limit of {budget:,} pixels for an animation"
            )

    def _prepare_frame(self, index: int) -> PreparedImage:
        from PIL import Image

        image = self.image
        size = image.size
        if self.short_side == 0:
            if index == 0 and self.source_format in ORIGINALS_SENT_AS_IS:
                from PIL import ImageOps

                image.load()
                mime = Image.MIME.get(self.source_format, "application/octet-stream")
                seen = _to_rgb(_flat_mode(ImageOps.exif_transpose(image)))
                return PreparedImage(self.data, mime, self.source_format, size, size, fingerprint=difference_hash(seen))
            return self._jpeg(index, size, short_side=None)
        return self._jpeg(index, size, short_side=self.short_side)

    def _jpeg(self, index: int, source_size: tuple[int, int], short_side: int | None) -> PreparedImage:
        from PIL import Image, ImageOps

        image = self.image
        width, height = source_size
        if short_side is not None and self.source_format in ("JPEG", "MPO"):
            scale = min(1.0, short_side / min(width, height))
            if scale < 1.0:
                # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: most of the cost of a large JPEG is decoding.
                image.draft("RGB", (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))))
        image.load()
        icc_profile = image.info.get("icc_profile")
        frame = ImageOps.exif_transpose(image)
        base = _flat_mode(frame)
        if short_side is not None and min(base.size) > short_side:
            factor = short_side / min(base.size)
            target = (max(1, round(base.width * factor)), max(1, round(base.height * factor)))
            base = base.resize(target, Image.Resampling.BICUBIC, reducing_gap=2.0)
        rgb = _to_rgb(_to_srgb(base, icc_profile))
        out = io.BytesIO()
        rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
        return PreparedImage(
            out.getvalue(),
            "image/jpeg",
            self.source_format,
            source_size,
            rgb.size,
            index,
            fingerprint=difference_hash(rgb),
        )


def _flat_mode(image: Image.Image) -> Image.Image:
    """Into one of RGB, RGBA, L or CMYK: the modes colour profiles, resizing and flattening work on."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode in ("P", "L", "RGB") and "transparency" in image.info):
        return image.convert("RGBA")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale into 8 bits instead of clipping everything to white.
        return image.point(lambda value: value / 256).convert("L")
    if image.mode == "F":
        return image.convert("L")
    if image.mode in ("RGB", "L", "CMYK"):
        return image
    return image.convert("RGB")


def _to_srgb(image: Image.Image, icc_profile: object) -> Image.Image:
    """Apply the image's colour profile, as viewers do: Imagga must see the colours people see.

    A profile can remap colours at will, so raw pixel values alone could show the classifier an
    innocent picture while browsers show another one. A profile that cannot be applied is ignored,
    as browsers ignore it.
    """
    if not isinstance(icc_profile, bytes) or not icc_profile:
        return image
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        output_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=output_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    return converted if converted is not None else image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten transparency onto white: a transparent area is not black for a classifier."""
    from PIL import Image

    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")
