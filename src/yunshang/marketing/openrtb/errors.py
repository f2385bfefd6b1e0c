"""OpenRTB refusals: a BidRequest that cannot be read is a 400 naming the field.

OpenRTB exchanges expect 400 for a request the bidder cannot take (never 422), and
204 for "no bid": a request we understand but do not bid on is not an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from yunshang.kernel.errors import MalformedRequest


class OpenRtbCode(StrEnum):
    MALFORMED_BID_REQUEST = "malformed_bid_request"


class MalformedBidRequest(MalformedRequest):
    """The body is not a BidRequest: bad JSON, a missing or mistyped field, or a rule
    across fields broken (``field`` is a path such as ``imp[0].banner.w``)."""

    def __init__(self, field: str, message: str,
                 errors: Sequence[tuple[str, str, str]] = ()) -> None:
        super().__init__(field, f"{field}: {message}", code=OpenRtbCode.MALFORMED_BID_REQUEST)
        listed = list(errors) or [(field, message, "invalid")]
        self.data["errors"] = [{"field": f, "message": m, "type": t} for f, m, t in listed]
