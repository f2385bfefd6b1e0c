"""Tracking use cases: impression pixels, clicks, exchange notices, campaign reports.

The ``/t/…`` notices take no API key: the signed token is the credential, and it names
its tenant, campaign, creative and impression — nothing else is reachable through it.
Every notice verifies the token before anything else, and records at most once per
impression id (:mod:`.store`): a replayed pixel, a re-sent billing notice or a double
click is answered like the first but neither counted, charged nor emitted again.

Charging goes through the budgets part's :class:`~..domain.SpendGuard` with the hold the
auction put in ``Served.extra["hold"]``, inside the notice's transaction: ``charge`` is
idempotent per hold, so a transaction that rolls back after charging is retried by the
next notice without charging twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database
from yunshang.kernel.errors import Forbidden, NotFound
from yunshang.kernel.events import DomainEvent
from yunshang.kernel.tenancy import tenant_scope

from ..domain import Served, SpendGuard
from .domain import (
    OWN_SOURCE,
    CampaignOwnership,
    CampaignReport,
    LandingResolver,
    Touch,
    click_charge_fen,
    impression_charge_fen,
    landing_url,
    notice_price_cpm_fen,
)
from .errors import LandingGone
from .store import campaign_report, ensure_impression, is_impressed, mark_once, record_touch
from .tokens import TokenSigner

log = logging.getLogger(__name__)

#: Who reads a campaign's report: its tenant's admin and merchant, and the advertiser key
#: bound to the campaign's advertiser.
REPORT_READERS = (Role.ADMIN, Role.MERCHANT, Role.ADVERTISER)

_MAX_REASON = 40


def touch_event(name: str, served: Served, now: datetime) -> DomainEvent:
    """``marketing.impression_served`` / ``marketing.ad_clicked`` (docs/events.md)."""
    return DomainEvent(name, served.tenant, now, {
        "campaign_id": served.campaign_id, "channel_id": served.channel_id,
        "device_id": served.device_id, "account_id": served.account_id,
        "impression_id": served.impression_id})


class TrackingService:
    """Notices on what was served, and the reports counted from them."""

    def __init__(self, *, db: Database, clock: Clock, signer: TokenSigner,
                 landings: LandingResolver, guard: SpendGuard, ownership: CampaignOwnership,
                 public_url: str, landing_urls: Mapping[str, str],
                 exchange_rates: Mapping[str, Decimal], attribution_window: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.signer = signer
        self.landings = landings
        self.guard = guard
        self.ownership = ownership
        self.public_url = public_url
        self.landing_urls = dict(landing_urls)
        self.exchange_rates = dict(exchange_rates)
        self.attribution_window = attribution_window

    # ------------------------------------------------------------------ notices

    def impression(self, token: str) -> bool:
        """The impression pixel. Own slots: counts the impression once (charging a CPM
        campaign its cost); an exchange's impression counts on its billing notice
        instead (the exchange says what it cleared at), so its pixel only answers.
        True when this call counted it."""
        served = self.signer.verify(token)
        if served.source != OWN_SOURCE:
            return False
        return self._impressed(served, served.price_cpm_fen)

    def bill(self, token: str, price: str | None) -> bool:
        """An exchange's billing notice (``burl``) at the clearing price: counts the
        impression once and charges a CPM campaign at that price."""
        served = self.signer.verify(token)
        cpm_fen = notice_price_cpm_fen(price, served, self.exchange_rates)
        return self._impressed(served, cpm_fen)

    def win(self, token: str, price: str | None) -> bool:
        """An exchange's win notice (``nurl``): records the clearing price once. Nothing
        is charged or counted until the billing notice (the ad may yet not render)."""
        served = self.signer.verify(token)
        cpm_fen = notice_price_cpm_fen(price, served, self.exchange_rates)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            ensure_impression(uow.conn, served)
            first = mark_once(uow.conn, served.impression_id, "won_at", now,
                              win_price_fen=cpm_fen)
            uow.commit()
        return first

    def loss(self, token: str, reason: str | None) -> bool:
        """An exchange's loss notice (``lurl``): records it once and frees the auction's
        hold, unless the impression was already billed (a late, contradictory notice
        cannot refund a charge)."""
        served = self.signer.verify(token)
        now = self.clock.now()
        hold = served.extra.get("hold")
        with self.db.unit_of_work() as uow:
            ensure_impression(uow.conn, served)
            first = mark_once(uow.conn, served.impression_id, "lost_at", now,
                              loss_reason=(reason or "")[:_MAX_REASON] or None)
            billed = is_impressed(uow.conn, served.impression_id)
            uow.commit()
        # after the commit: the guard writes through its own connection (SQLite has one
        # writer); a crash in between leaves the hold to expire, which frees it as well
        if first and hold and not billed:
            self.guard.release(hold)
        return first

    def click(self, token: str) -> tuple[str, bool]:
        """A click: the creative's own landing URL (resolved from what the campaigns part
        stores for the creative the token names, never from the request), and whether
        this call counted it (first click of the impression; a CPC campaign is charged
        then)."""
        served = self.signer.verify(token)
        landing = self.landings.landing(served.tenant, served.creative_id)
        if landing is None:
            raise LandingGone(served.creative_id)
        url = landing_url(landing, self.landing_urls, self.public_url)
        now = self.clock.now()
        cost = click_charge_fen(served)
        self._charge(served, cost, now)
        with self.db.unit_of_work() as uow:
            ensure_impression(uow.conn, served)
            first = mark_once(uow.conn, served.impression_id, "clicked_at", now,
                              click_cost_fen=cost)
            if first:
                if served.account_id:
                    record_touch(uow.conn, ref=served.impression_id, tenant=served.tenant,
                                 account_id=served.account_id, touch=Touch.CLICK,
                                 campaign_id=served.campaign_id,
                                 channel_id=served.channel_id, at=now)
                uow.publish(touch_event("marketing.ad_clicked", served, now))
            uow.commit()
        return url, first

    def _impressed(self, served: Served, cpm_fen: int) -> bool:
        now = self.clock.now()
        cost = impression_charge_fen(served, cpm_fen)
        self._charge(served, cost, now)
        with self.db.unit_of_work() as uow:
            ensure_impression(uow.conn, served)
            first = mark_once(uow.conn, served.impression_id, "impressed_at", now,
                              impression_cost_fen=cost)
            if first:
                uow.publish(touch_event("marketing.impression_served", served, now))
            uow.commit()
        return first

    def _charge(self, served: Served, cost_fen: int, now: datetime) -> None:
        """Charges the auction's hold, before the notice is recorded and outside its
        transaction (the guard writes through its own connection; SQLite has one writer).
        The guard charges a hold once, so a resent notice, or one retried after a crash
        between the charge and the record, charges nothing more: spend is never lost to a
        crash, and never doubled."""
        hold = served.extra.get("hold")
        if not hold or cost_fen <= 0:
            return
        if not self.guard.charge(hold, cost_fen, now):
            # the hold expired before the notice came: the ad was shown all the same
            log.warning("hold %s of impression %s was not charged (expired or unknown)",
                        hold, served.impression_id)

    # ------------------------------------------------------------------ reports

    def report(self, principal: Principal, campaign_id: str) -> CampaignReport:
        """A campaign's impressions, clicks, CTR, attributed orders, CVR, spend, cost per
        order, revenue and ROAS: its tenant's admin or merchant, or its advertiser."""
        principal.require(*REPORT_READERS)
        if principal.role is Role.ADVERTISER and not principal.subject:
            raise Forbidden("this advertiser key is not bound to an advertiser (adv_…)")
        advertiser = self.ownership.campaign(tenant_scope(principal), campaign_id)
        if advertiser is None or (principal.role is Role.ADVERTISER
                                  and principal.bound_to != advertiser):
            raise NotFound("campaign", campaign_id, field="campaign_id")
        with self.db.read() as conn:
            return campaign_report(conn, campaign_id)
