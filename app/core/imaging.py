"""Turn uploaded bytes into a decoded Pillow image, or a client error that says what to fix."""

from __future__ import annotations

import io
import struct

import numpy as np
import pillow_heif
from PIL import Image, UnidentifiedImageError

# iPhones save photos as HEIC; pillow-heif (libheif) adds it to Pillow as the format "HEIF". Opening
# reads only the container's header, so the pixel limit below still applies before any decoding.
pillow_heif.register_heif_opener()

SUPPORTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF", "HEIF")
SUPPORTED_MEDIA_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/jpg",
        "image/pjpeg",
        "image/bmp",
        "image/x-bmp",
        "image/x-ms-bmp",
        "image/gif",
        "image/webp",
        "image/tiff",
        "image/x-tiff",
        "image/heic",
        "image/heif",
        "image/heic-sequence",
        "image/heif-sequence",
    }
)
# Clients that do not know the type (curl with an odd extension, raw uploads) send these.
GENERIC_MEDIA_TYPES = frozenset({"", "application/octet-stream"})
SUPPORTED_LIST = "PNG, JPEG, HEIC, BMP, GIF, WebP or TIFF"
# Framing works on at most 512 px (training.ink.WORK_MAX_SIDE); twice that keeps detail to spare.
DRAFT_LONG_SIDE = 1024

# Pillow's own bomb check warns or raises inside Image.open; ours runs on the header's size with the
# configured limit before any pixel is decoded, so Pillow's global one is switched off.
Image.MAX_IMAGE_PIXELS = None


class ImageRejectedError(Exception):
    """An upload that cannot be used, with the HTTP status and message to send back."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def media_type_of(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_media_type(content_type: str | None) -> None:
    """Refuse a declared type that is not an image format we decode (415)."""
    media_type = media_type_of(content_type)
    if media_type not in SUPPORTED_MEDIA_TYPES and media_type not in GENERIC_MEDIA_TYPES:
        raise ImageRejectedError(415, f"unsupported media type {media_type!r}: send {SUPPORTED_LIST}")


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Read only the image's header: non-empty, a known format, not oversized. Cheap (no pixel is
    decoded), so a request's decode budget is checked from every header before any decoding starts."""
    if not data:
        raise ImageRejectedError(400, "empty file: the upload has no bytes")
    try:
        image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except UnidentifiedImageError:
        raise ImageRejectedError(415, f"not a readable image: send {SUPPORTED_LIST}") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error) as exc:
        raise ImageRejectedError(400, f"corrupt image header ({type(exc).__name__})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejectedError(413, f"image is {width}x{height} pixels, more than the limit of {max_pixels}")
    if width == 0 or height == 0:
        raise ImageRejectedError(400, "image has no pixels")
    return image


def load_image(image: Image.Image) -> Image.Image:
    """Decode the pixels of an image from open_image; refuse truncated data and non-finite values."""
    width, height = image.size
    if image.format == "JPEG" and max(width, height) > 2 * DRAFT_LONG_SIDE:
        # Phone photos: let libjpeg decode at 1/2, 1/4 or 1/8 scale (3-4x faster) rather than
        # decoding pixels that framing throws away; the result keeps at least DRAFT_LONG_SIDE.
        scale = DRAFT_LONG_SIDE / max(width, height)
        image.draft(image.mode, (max(1, int(width * scale)), max(1, int(height * scale))))
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error) as exc:
        raise ImageRejectedError(400, f"truncated or corrupt {image.format} image ({type(exc).__name__})") from None
    if image.mode == "F" and not np.isfinite(np.asarray(image)).all():
        # A float TIFF holding NaN or infinity has no meaningful grey levels: any answer would be a guess.
        raise ImageRejectedError(400, "image has non-finite pixel values (NaN or infinity)")
    return image


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode one image after checking it is non-empty, a known format and not oversized."""
    return load_image(open_image(data, max_pixels))
