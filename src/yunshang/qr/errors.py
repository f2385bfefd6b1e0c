"""The qr context's refusals; the rest are the kernel's (NotFound, InvalidInput, Forbidden).

Short codes: :class:`TargetNotAllowed` (422, ``target_not_allowed``, field ``target``):
a target outside the allow-list — a URL not ``https``, with user info or a port, or on a
host that is none of the owner's verified domains.

Visual codes (``visual.py``, ``render.py``, ``verify.py``):

InvalidInput (422)
├── PayloadTooLong     the payload is empty or fits no QR version (``data``)
├── StyleInvalid       a colour, size or option out of range (names it)
├── PictureInvalid     the picture is not an image we read, is corrupt, or too big
│                      in pixels — decompression bombs included (``image``)
└── Unscannable        every strengthening still fails a decoder (``image``)
TooLarge (413)
└── PictureTooLarge    the picture's bytes pass the upload cap (``image``)
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from yunshang.kernel.errors import InvalidInput, TooLarge

# ---------------------------------------------------------------- visual codes

class VisualErrorCode(StrEnum):
    PAYLOAD_TOO_LONG = "qr_payload_too_long"
    STYLE_INVALID = "qr_style_invalid"
    IMAGE_INVALID = "qr_image_invalid"
    IMAGE_TOO_LARGE = "qr_image_too_large"
    UNSCANNABLE = "qr_unscannable"


class PayloadTooLong(InvalidInput):
    def __init__(self, field: str, message: str, *, length: int) -> None:
        super().__init__(field, message, code=VisualErrorCode.PAYLOAD_TOO_LONG)
        self.data["length"] = length


class StyleInvalid(InvalidInput):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message, code=VisualErrorCode.STYLE_INVALID)


class PictureInvalid(InvalidInput):
    def __init__(self, message: str) -> None:
        super().__init__("image", message, code=VisualErrorCode.IMAGE_INVALID)


class PictureTooLarge(TooLarge):
    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__("image", message, limit=limit, code=VisualErrorCode.IMAGE_TOO_LARGE)


class Unscannable(InvalidInput):
    """No strengthening made every decoder read the code; ``attempts`` says what was tried."""

    def __init__(self, message: str, *, attempts: list[dict[str, Any]]) -> None:
        super().__init__("image", message, code=VisualErrorCode.UNSCANNABLE)
        self.data["attempts"] = attempts


# ---------------------------------------------------------------- short codes

class QrCode(StrEnum):
    TARGET_NOT_ALLOWED = "target_not_allowed"


class TargetNotAllowed(InvalidInput):
    def __init__(self, message: str) -> None:
        super().__init__("target", message, code=QrCode.TARGET_NOT_ALLOWED)
