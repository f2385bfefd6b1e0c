"""Creative images: PNG or JPEG, checked with Pillow before they are stored.

An upload is refused unless Pillow reads it whole as the format it claims, within the
byte and pixel limits: a decompression bomb (a small file that decodes to a huge bitmap)
is refused from its header, before any pixel is decoded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from .domain import MAX_IMAGE_SIDE
from .errors import ImageInvalid

#: Content types accepted, and the Pillow format each must decode as.
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg"}
#: At most this many pixels (4096 × 4096), whatever the sides.
MAX_PIXELS = MAX_IMAGE_SIDE * MAX_IMAGE_SIDE


@dataclass(frozen=True, slots=True)
class ImageInfo:
    media_type: str
    width: int
    height: int


def inspect_image(data: bytes, media_type: str) -> ImageInfo:
    """The image's size, once Pillow decoded it whole as ``media_type``; ImageInvalid if not."""
    expected = IMAGE_TYPES[media_type]
    try:
        with warnings.catch_warnings():
            # Pillow warns (and, past twice its limit, raises) on huge images; our own,
            # lower limit is checked from the header below, before decoding.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[expected]) as img:
                width, height = img.size
                if width < 1 or height < 1 or width > MAX_IMAGE_SIDE \
                        or height > MAX_IMAGE_SIDE or width * height > MAX_PIXELS:
                    raise ImageInvalid(f"the image is {width}×{height} px; each side may be "
                                       f"1-{MAX_IMAGE_SIDE} px")
                img.load()  # decodes every pixel: a truncated or corrupt file fails here
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise ImageInvalid(f"the body is not a {expected} image "
                           f"(Content-Type {media_type})") from None
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's decoding errors
        raise ImageInvalid(f"the {expected} image cannot be decoded: {exc}") from None
    return ImageInfo(media_type=media_type, width=width, height=height)
