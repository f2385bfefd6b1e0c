"""The qr context's refusals; the rest are the kernel's (NotFound, InvalidInput, Forbidden).

- :class:`TargetNotAllowed` (422, ``target_not_allowed``, field ``target``): a target
  outside the allow-list — a URL not ``https``, with user info or a port, or on a host
  that is none of the owner's verified domains.
"""

from __future__ import annotations

from enum import StrEnum

from yunshang.kernel.errors import InvalidInput


class QrCode(StrEnum):
    TARGET_NOT_ALLOWED = "target_not_allowed"


class TargetNotAllowed(InvalidInput):
    def __init__(self, message: str) -> None:
        super().__init__("target", message, code=QrCode.TARGET_NOT_ALLOWED)


__all__ = ["QrCode", "TargetNotAllowed"]
