"""Judge an object's bytes and prepare what is sent to Imagga. Pillow only, no I/O.

The content decides, never the key's extension or the declared Content-Type. What is sent is
a small JPEG: Imagga's results do not improve past ~300 px on the short side, and a small
upload is faster and cheaper. The stored object is never changed.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model import Reason

if TYPE_CHECKING:
    from PIL import Image

#: Formats accepted as images, recognised by their bytes.
ACCEPTED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
JPEG_QUALITY = 85


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


def prepare(data: bytes, *, short_side: int, max_pixels: int) -> PreparedImage:
    """Validate and downscale. `short_side` 0 sends the original bytes after validation."""
    # Pillow is imported on first use, not with the handler: cold starts should not wait for it.
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise UnsupportedImageError(Reason.EMPTY, "the object is empty")
    with warnings.catch_warnings():
        # We apply our own pixel limit below; Pillow's warning would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except UnidentifiedImageError as exc:
            raise UnsupportedImageError(Reason.NOT_AN_IMAGE, "not a JPEG, PNG, GIF, WebP, BMP or TIFF") from exc
        except Image.DecompressionBombError as exc:
            raise UnsupportedImageError(Reason.TOO_MANY_PIXELS, str(exc)) from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise UnsupportedImageError(Reason.UNDECODABLE, f"cannot read the image header: {exc}") from exc
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise UnsupportedImageError(
                    Reason.TOO_MANY_PIXELS, f"{width}x{height} is over the limit of {max_pixels} pixels"
                )
            source_format = str(image.format)
            try:
                if short_side == 0:
                    image.load()
                    return PreparedImage(
                        data,
                        Image.MIME.get(source_format, "application/octet-stream"),
                        source_format,
                        (width, height),
                        (width, height),
                    )
                return _downscale(image, short_side, source_format)
            except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
                raise UnsupportedImageError(Reason.UNDECODABLE, f"cannot decode the image: {exc}") from exc


def _downscale(image: Image.Image, short_side: int, source_format: str) -> PreparedImage:
    from PIL import Image, ImageOps

    width, height = image.size
    scale = min(1.0, short_side / min(width, height))
    target = (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)))
    if source_format == "JPEG" and scale < 1.0:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: most of the cost of a large JPEG is decoding.
        image.draft("RGB", target)
    image.seek(0)  # the first frame of an animation
    image.load()
    frame = ImageOps.exif_transpose(image)
    rgb = _to_rgb(frame)
    short = min(rgb.size)
    if short > short_side:
        factor = short_side / short
        size = (max(1, round(rgb.width * factor)), max(1, round(rgb.height * factor)))
        rgb = rgb.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
    return PreparedImage(out.getvalue(), "image/jpeg", source_format, (width, height), rgb.size)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten transparency onto white: a transparent area is not black for a classifier."""
    from PIL import Image

    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale into 8 bits instead of clipping everything to white.
        return image.point(lambda value: value / 256).convert("L").convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")
