"""The OpenRTB 2.6 objects the bidder reads and writes (pydantic v2).

Only the fields the bidder uses are declared; every other field, ``ext`` included,
is allowed and ignored, as the specification asks of a bidder ("any fields not
understood should be ignored"). Declared fields are checked strictly (a string
where a number belongs is refused, not coerced), so a malformed request is named
field by field (:func:`.domain.field_path`) instead of being half-understood.

Request-wide rules that no single field carries (site *and* app, duplicated
``imp.id``, an imp with no format at all) are :func:`.translate.check_request`'s.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)


def _integral(value: Any) -> Any:
    """JSON's 300.0 is the integer 300 (JSON Schema agrees); 300.5 and "300" are not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


INTEGRAL = BeforeValidator(_integral)
#: Sizes in px and counts: non-negative, and not absurd (a 32-bit int in other bidders).
Size = Annotated[int, Field(ge=0, le=100_000), INTEGRAL]
Price = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
Currency = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
#: Bounded so that even a refused request (one list one item too long) stays well under
#: the body limit: a too-long list must be a 400, not a 413.
Text = Annotated[str, Field(max_length=1024)]
Code = Annotated[str, Field(max_length=256)]
ShortList = Annotated[list[Code], Field(max_length=200)]


class _Object(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    ext: dict[str, Any] | None = None


class RtbFormat(_Object):
    w: Size | None = None
    h: Size | None = None


class RtbBanner(_Object):
    w: Size | None = None
    h: Size | None = None
    format: Annotated[list[RtbFormat], Field(max_length=50)] | None = None


class RtbNative(_Object):
    #: The Native Ads request: a JSON-encoded string (2.x), or the object itself.
    request: str | dict[str, Any]
    ver: Text | None = None


class RtbVideo(_Object):
    mimes: ShortList | None = None
    w: Size | None = None
    h: Size | None = None


class RtbAudio(_Object):
    mimes: ShortList | None = None


class RtbDeal(_Object):
    id: Annotated[str, Field(min_length=1, max_length=256)]
    bidfloor: Price = 0.0
    bidfloorcur: Currency = "USD"
    at: Annotated[int, Field(ge=1), INTEGRAL] | None = None
    wseat: ShortList | None = None


class RtbPmp(_Object):
    private_auction: Annotated[int, Field(ge=0, le=1), INTEGRAL] = 0
    deals: Annotated[list[RtbDeal], Field(max_length=100)] | None = None


class RtbImp(_Object):
    # the rule check_request keeps, stated where the contract says it
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": [kind], "properties": {kind: {"type": "object"}}}
        for kind in ("banner", "native", "video", "audio")]})

    id: Annotated[str, Field(min_length=1, max_length=256)]
    banner: RtbBanner | None = None
    native: RtbNative | None = None
    video: RtbVideo | None = None
    audio: RtbAudio | None = None
    bidfloor: Price = 0.0
    bidfloorcur: Currency = "USD"
    pmp: RtbPmp | None = None
    tagid: Text | None = None
    secure: Annotated[int, Field(ge=0, le=1), INTEGRAL] | None = None


class RtbPublisher(_Object):
    id: Text | None = None
    name: Text | None = None


class RtbSite(_Object):
    id: Text | None = None
    domain: Text | None = None
    page: Text | None = None
    publisher: RtbPublisher | None = None


class RtbApp(_Object):
    id: Text | None = None
    bundle: Text | None = None
    publisher: RtbPublisher | None = None


class RtbGeo(_Object):
    country: Text | None = None
    region: Text | None = None
    city: Text | None = None
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None


class RtbDevice(_Object):
    ua: Text | None = None
    ip: Text | None = None
    geo: RtbGeo | None = None
    make: Text | None = None
    model: Text | None = None
    os: Text | None = None
    osv: Text | None = None
    ifa: Text | None = None


class RtbUser(_Object):
    id: Text | None = None
    buyeruid: Text | None = None
    geo: RtbGeo | None = None


class BidRequest(_Object):
    """An OpenRTB 2.6 BidRequest (the subset a bidder of ours reads)."""

    model_config = ConfigDict(json_schema_extra={"not": {
        "required": ["site", "app"],
        "properties": {"site": {"type": "object"}, "app": {"type": "object"}}}})

    id: Annotated[str, Field(min_length=1, max_length=256)]
    imp: Annotated[list[RtbImp], Field(min_length=1, max_length=100)]
    site: RtbSite | None = None
    app: RtbApp | None = None
    device: RtbDevice | None = None
    user: RtbUser | None = None
    at: Annotated[int, Field(ge=1), INTEGRAL] = 2
    tmax: Annotated[int, Field(ge=1, le=60_000), INTEGRAL] | None = None
    cur: Annotated[list[Currency], Field(max_length=20)] | None = None
    bcat: ShortList | None = None
    badv: ShortList | None = None
    wseat: ShortList | None = None
    bseat: ShortList | None = None


class _Answer(BaseModel):
    """Response objects leave out what they do not say (OpenRTB has no nulls)."""

    model_config = ConfigDict(extra="forbid")

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class Bid(_Answer):
    id: str
    impid: str
    price: float = Field(description="CPM in the response's currency.")
    adid: str
    nurl: str = Field(description="Win notice; ${AUCTION_PRICE} is the clearing price.")
    burl: str = Field(description="Billing notice; ${AUCTION_PRICE} is the clearing price.")
    lurl: str = Field(description="Loss notice; ${AUCTION_LOSS} is the loss reason code.")
    adm: str = Field(description="Banner: an HTML snippet; native: the Native Ads response.")
    adomain: list[str]
    cat: list[str]
    cid: str
    crid: str
    w: int
    h: int
    mtype: int = Field(description="1 banner, 4 native.")
    dealid: str | None = None


class SeatBid(_Answer):
    seat: str
    bid: list[Bid]


class BidResponse(_Answer):
    """An OpenRTB 2.6 BidResponse: one seat (ours), one bid per imp we bid on."""

    id: str
    seatbid: list[SeatBid]
    bidid: str
    cur: str
