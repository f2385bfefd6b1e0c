"""The phones' own ad slots: a device asks for an ad, the auction answers with one.

The phone is the calling device key's subject (its IMEI); its model, OS version,
account and installed apps are read from the device cloud (registry and app store,
through the devices facade): two indexed reads, so the phone cannot claim another
model or app list to see other ads. The request says only where the ad goes (slot
id, the formats it takes) and, optionally, where the phone is (province, city).
The user the auction, frequency caps and attribution see is the phone's account
when it has one, else the phone itself.

The answer carries signed tracking URLs (:class:`~..tracking.TokenSigner` over a
:class:`~..domain.Served` with a new ``imp_…`` id): nothing is written when an ad
is served; the impression URL charges and counts it (``tracking/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from yunshang.devices import AppStoreService, RegistryService
from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.errors import Forbidden, InvalidInput
from yunshang.kernel.ids import new_id
from yunshang.kernel.pagination import page_request

from ..domain import AdSlot, Creative, Decision, Served, SlotFormat
from ..tracking import TokenSigner
from .service import Auctioneer

#: The most installed apps read for targeting (a phone has far fewer).
MAX_APPS = 1000


@dataclass(frozen=True, slots=True)
class AdRequest:
    slot_id: str
    formats: tuple[SlotFormat, ...]
    province: str | None = None
    city: str | None = None
    imei: str | None = None  # an admin key names the phone; a device key is its own phone


@dataclass(frozen=True, slots=True)
class ServedAd:
    """An ad for a phone's slot, with the URLs it reports its impression and clicks to."""

    impression_id: str
    campaign_id: str
    creative: Creative
    impression_url: str
    click_url: str
    served_at: datetime


class AdServing:
    """Runs the auction for a phone's slot and signs what it serves."""

    def __init__(self, *, registry: RegistryService, appstore: AppStoreService,
                 auctioneer: Auctioneer, signer: TokenSigner, public_url: str) -> None:
        self.registry = registry
        self.appstore = appstore
        self.auctioneer = auctioneer
        self.signer = signer
        self.public_url = public_url.rstrip("/")

    def _imei(self, principal: Principal, request: AdRequest) -> str:
        if principal.role is Role.DEVICE:
            if request.imei is not None and request.imei != principal.subject:
                raise Forbidden("a device key asks for its own phone's ads only",
                                field="imei")
            return principal.bound_to
        principal.require(Role.DEVICE)  # only admins get here
        if request.imei is None:
            raise InvalidInput("imei", "name the phone (imei): this key is not a device's")
        return request.imei

    def _installed(self, principal: Principal, imei: str) -> frozenset[str]:
        packages: set[str] = set()
        cursor: str | None = None
        while len(packages) < MAX_APPS:
            page = self.appstore.installed(principal, imei, page_request(cursor, 200))
            packages.update(i.package for i in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return frozenset(packages)

    def slot_for(self, principal: Principal, request: AdRequest) -> AdSlot:
        """The slot the auction sees: the request's place, the phone's own attributes."""
        imei = self._imei(principal, request)
        device = self.registry.get(principal, imei)
        return AdSlot(
            id=request.slot_id, tenant=device.tenant, source="own", formats=request.formats,
            province=request.province, city=request.city, device_model=device.model,
            os_version=device.os_version, installed_apps=self._installed(principal, imei),
            user_key=device.account_id or device.id, device_id=device.id,
            account_id=device.account_id)

    def serve(self, principal: Principal, request: AdRequest) -> ServedAd | None:
        """The ad for the slot, or None when no campaign wins it."""
        slot = self.slot_for(principal, request)
        now = self.auctioneer.clock.now()
        decision = self.auctioneer.decide(slot, now)
        if decision is None:
            return None
        return self._signed(decision, now)

    def _signed(self, decision: Decision, now: datetime) -> ServedAd:
        slot, winner = decision.slot, decision.winner
        extra = {"slot": slot.id}
        if decision.hold_id is not None:
            extra["hold"] = decision.hold_id
        served = Served(
            impression_id=new_id("imp"), tenant=slot.tenant, campaign_id=winner.campaign.id,
            creative_id=winner.creative.id, pricing=winner.campaign.pricing,
            price_cpm_fen=decision.price_cpm_fen, click_price_fen=decision.click_price_fen,
            source=slot.source, served_at=now, device_id=slot.device_id,
            account_id=slot.account_id, user_key=slot.user_key, deal_id=winner.deal_id,
            extra=extra)
        token = self.signer.sign(served)
        return ServedAd(
            impression_id=served.impression_id, campaign_id=served.campaign_id,
            creative=winner.creative, impression_url=f"{self.public_url}/t/i/{token}",
            click_url=f"{self.public_url}/t/c/{token}", served_at=now)
