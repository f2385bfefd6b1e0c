"""BidRequest → one :class:`AdSlot` per imp; the auction's :class:`Decision` → a Bid.

What an imp becomes (:func:`plan_request`):

- formats: the banner's ``w``/``h`` and each ``format[]`` size (a banner with no
  size takes any), and native when its request asks only for assets we can fill;
  video and audio are accepted but no creative of ours is one, so a video-only
  imp offers nothing and gets no bid;
- floor: ``bidfloor`` in ``bidfloorcur`` (default USD) as CNY fen CPM with the
  configured rate; a currency without a rate → no bid on the imp;
- ``pmp``: each deal open to our seat (``wseat`` empty or naming it) with its
  floor converted alike (a deal in an unknown currency is dropped); a private
  auction without such a deal → no bid on the imp;
- ``at`` (the deal's own, else the request's) → first or second price;
- ``bcat``/``badv``, and where the user is (``device.geo``, else ``user.geo``:
  region → province, city), the device's model and OS version, and who sees it:
  ``user.buyeruid`` is, per the spec, the exchange's mapping of the user to *our*
  id for them (ID sync) — our buyer/account id, so it is the slot's ``account_id``
  (frequency caps, segments and attribution follow our buyer); without it the
  user is ``user.id``, else ``device.ifa``, and no order can be attributed.

The request as a whole: no bid when its ``wseat`` leaves our seat out or its
``bseat`` names it, or when no currency of its ``cur`` can be answered in
(:meth:`.domain.ExchangeRates.answer_currency`).

:func:`acceptable` re-checks a decision against the request before it becomes
a bid (price at or over the floor, a size the imp takes, no blocked category or
domain, a deal when the auction is private): whatever the auction answered, the
exchange never receives a bid its own request forbids.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from yunshang.kernel.ids import new_id

from ..domain import AdFormat, AdSlot, Deal, Decision, Served, SlotFormat
from .domain import (
    AUCTION_LOSS,
    AUCTION_PRICE,
    MTYPE_BANNER,
    MTYPE_NATIVE,
    ExchangeRates,
    auction_type,
)
from .errors import MalformedBidRequest
from .models import Bid, BidRequest, RtbGeo, RtbImp
from .native import NativeRequestInvalid, NativeSpec, native_markup, parse_native


@dataclass(frozen=True, slots=True)
class ImpPlan:
    """One imp: the slot the auction sees, or None when we will not bid on it."""

    imp_id: str
    slot: AdSlot | None
    native: NativeSpec | None = None
    why_not: str = ""


@dataclass(frozen=True, slots=True)
class RequestPlan:
    request_id: str
    currency: str | None  # what we answer in; None: no bid at all
    imps: tuple[ImpPlan, ...]
    why_not: str = ""


def check_request(request: BidRequest) -> dict[int, NativeSpec]:
    """The rules across fields a BidRequest must keep (MalformedBidRequest naming the
    field otherwise); returns each native imp's parsed native request."""
    if request.site is not None and request.app is not None:
        raise MalformedBidRequest("app", "a request has a site or an app, not both")
    seen: set[str] = set()
    natives: dict[int, NativeSpec] = {}
    for i, imp in enumerate(request.imp):
        if imp.id in seen:
            raise MalformedBidRequest(f"imp[{i}].id", f"imp id {imp.id!r} appears twice")
        seen.add(imp.id)
        if imp.banner is None and imp.native is None and imp.video is None and imp.audio is None:
            raise MalformedBidRequest(f"imp[{i}]", "an imp offers a banner, native, video "
                                                   "or audio object")
        if imp.native is not None:
            # The native request is JSON inside a string, which the BidRequest's schema
            # cannot describe: one we cannot read is a format we cannot serve (no native
            # bid on the imp), as an exchange's own validation would have caught it.
            with contextlib.suppress(NativeRequestInvalid):
                natives[i] = parse_native(imp.native.request, f"imp[{i}].native.request")
    return natives


def _formats(imp: RtbImp, native: NativeSpec | None) -> tuple[SlotFormat, ...]:
    out: list[SlotFormat] = []
    if imp.banner is not None:
        b = imp.banner
        if b.w and b.h:
            out.append(SlotFormat(AdFormat.BANNER, b.w, b.h))
        out.extend(SlotFormat(AdFormat.BANNER, f.w, f.h) for f in b.format or ()
                   if f.w and f.h)
        if not out:  # a banner with no size takes any
            out.append(SlotFormat(AdFormat.BANNER, 0, 0))
    if native is not None and native.servable:
        out.append(native.slot_format)
    return tuple(dict.fromkeys(out))


def _deals(imp: RtbImp, seat: str, rates: ExchangeRates) -> tuple[Deal, ...]:
    out = []
    for d in imp.pmp.deals or () if imp.pmp else ():
        seats = frozenset(d.wseat or ())
        floor = rates.fen_cpm(d.bidfloor, d.bidfloorcur)
        if (seats and seat not in seats) or floor is None:
            continue
        out.append(Deal(id=d.id, floor_fen=floor, seats=seats,
                        auction_type=auction_type(d.at) if d.at is not None else None))
    return tuple(out)


def _where(request: BidRequest) -> RtbGeo | None:
    device_geo = request.device.geo if request.device else None
    return device_geo or (request.user.geo if request.user else None)


def plan_request(request: BidRequest, natives: dict[int, NativeSpec], *, tenant: str,
                 source: str, seat: str, rates: ExchangeRates) -> RequestPlan:
    """The slots of a checked request (see the module's docstring for the rules)."""
    if request.wseat and seat not in request.wseat:
        return RequestPlan(request.id, None, (), "wseat excludes our seat")
    if request.bseat and seat in request.bseat:
        return RequestPlan(request.id, None, (), "bseat blocks our seat")
    currency = rates.answer_currency(request.cur)
    if currency is None:
        return RequestPlan(request.id, None, (), "no allowed currency has a rate")
    geo, device, user = _where(request), request.device, request.user
    account_id = user.buyeruid if user and user.buyeruid else None
    user_key = account_id or (user.id if user else None) or (device.ifa if device else None)
    base = AdSlot(
        id="", tenant=tenant, source=source, formats=(),
        auction_type=auction_type(request.at),
        province=geo.region if geo else None, city=geo.city if geo else None,
        device_model=device.model if device else None,
        os_version=device.osv if device else None,
        user_key=user_key, account_id=account_id,
        blocked_categories=frozenset(request.bcat or ()),
        blocked_domains=frozenset(d.lower() for d in request.badv or ()))
    imps = []
    for i, imp in enumerate(request.imp):
        native = natives.get(i)
        formats = _formats(imp, native)
        floor = rates.fen_cpm(imp.bidfloor, imp.bidfloorcur) if imp.bidfloor else 0
        private = bool(imp.pmp and imp.pmp.private_auction)
        deals = _deals(imp, seat, rates)
        if not formats:
            imps.append(ImpPlan(imp.id, None, native, "no format we serve"))
        elif floor is None:
            imps.append(ImpPlan(imp.id, None, native, f"no rate for {imp.bidfloorcur}"))
        elif private and not deals:
            imps.append(ImpPlan(imp.id, None, native, "private auction, no deal for our seat"))
        else:
            imps.append(ImpPlan(imp.id, replace(base, id=imp.id, formats=formats,
                                                floor_fen=floor, deals=deals,
                                                private_auction=private), native))
    return RequestPlan(request.id, currency, tuple(imps))


def _blocked(values: Iterable[str], blocked: frozenset[str], *, domains: bool) -> bool:
    """A category is blocked by itself or its tier-1 parent (``IAB25`` blocks
    ``IAB25-3``); a domain by itself or a parent domain (``apple.com`` blocks
    ``www.apple.com``)."""
    for value in values:
        v = value.lower() if domains else value
        parts = v.split(".") if domains else [v, v.split("-")[0]]
        candidates = [".".join(parts[i:]) for i in range(len(parts))] if domains else parts
        if any(c in blocked for c in candidates):
            return True
    return False


def acceptable(decision: Decision) -> bool:
    """Whether a decision keeps every rule of the slot it was made for."""
    slot, winner = decision.slot, decision.winner
    creative = winner.creative
    deal = next((d for d in slot.deals if d.id == winner.deal_id), None)
    if winner.deal_id is not None and deal is None:
        return False
    if slot.private_auction and deal is None:
        return False
    floor = deal.floor_fen if deal is not None else slot.floor_fen
    if decision.price_cpm_fen < floor or decision.price_cpm_fen <= 0:
        return False
    if not any(f.format is creative.format and f.width in (0, creative.width)
               and f.height in (0, creative.height) for f in slot.formats):
        return False
    if _blocked(creative.categories, slot.blocked_categories, domains=False):
        return False
    return not _blocked(creative.adomain, slot.blocked_domains, domains=True)


@dataclass(frozen=True, slots=True)
class BidContext:
    """What turning decisions into bids needs besides the decision."""

    public_url: str
    currency: str
    rates: ExchangeRates
    now: datetime


def served_of(decision: Decision, ctx: BidContext, hold_id: str | None) -> Served:
    """What the tracking id of this bid says was served."""
    slot, winner = decision.slot, decision.winner
    campaign = winner.campaign
    extra = {"hold": hold_id} if hold_id else {}
    if ctx.currency != "CNY":  # the notices' ${AUCTION_PRICE} comes back in this currency
        extra |= {"cur": ctx.currency, "rate": str(ctx.rates.rate(ctx.currency))}
    return Served(
        impression_id=new_id("imp"), tenant=slot.tenant, campaign_id=campaign.id,
        creative_id=winner.creative.id, pricing=campaign.pricing,
        price_cpm_fen=decision.price_cpm_fen,
        click_price_fen=decision.click_price_fen, source=slot.source, served_at=ctx.now,
        account_id=slot.account_id, user_key=slot.user_key,
        deal_id=winner.deal_id, extra=extra)


def _banner_markup(decision: Decision, click_url: str, impression_url: str) -> str:
    c = decision.winner.creative
    q = html.escape
    return (f'<a href="{q(click_url)}" target="_blank" rel="noopener">'
            f'<img src="{q(c.image_url)}" width="{c.width}" height="{c.height}" '
            f'alt="{q(c.title)}" style="border:0"></a>'
            f'<img src="{q(impression_url)}" width="1" height="1" alt="" '
            f'style="position:absolute;left:-9999px">')


def bid_of(decision: Decision, native: NativeSpec | None, token: str, served: Served,
           ctx: BidContext) -> Bid:
    """The Bid an exchange receives for one decision, with its tracking URLs."""
    base = ctx.public_url.rstrip("/")
    creative, campaign = decision.winner.creative, decision.winner.campaign
    click_url, impression_url = f"{base}/t/c/{token}", f"{base}/t/i/{token}"
    if creative.format is AdFormat.NATIVE and native is not None:
        adm, mtype = native_markup(native, creative, click_url, impression_url), MTYPE_NATIVE
    else:
        adm, mtype = _banner_markup(decision, click_url, impression_url), MTYPE_BANNER
    return Bid(
        id=served.impression_id, impid=decision.slot.id,
        price=float(ctx.rates.price_in(decision.price_cpm_fen, ctx.currency)),
        adid=creative.id, crid=creative.id, cid=campaign.id,
        nurl=f"{base}/t/win/{token}?price={AUCTION_PRICE}",
        burl=f"{base}/t/bill/{token}?price={AUCTION_PRICE}",
        lurl=f"{base}/t/loss/{token}?reason={AUCTION_LOSS}",
        adm=adm, adomain=list(creative.adomain), cat=list(creative.categories),
        w=creative.width, h=creative.height, mtype=mtype, dealid=decision.winner.deal_id)
