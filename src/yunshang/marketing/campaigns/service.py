"""Advertiser, campaign and creative use cases: set up by the merchant (or the platform
admin) for any advertiser of its tenant, or by an advertiser key for its own advertiser.

Who sees what: a merchant every advertiser of its tenant; an ``advertiser`` key (bound to
one ``adv_…`` by its subject) only that advertiser and its campaigns and creatives —
anything else of its tenant reads as not found, as another tenant's objects do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Connection, select

from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.blobs import BlobStore
from yunshang.kernel.clock import Clock
from yunshang.kernel.db import Database
from yunshang.kernel.errors import InvalidInput, NotFound, TooLarge, UnsupportedMedia
from yunshang.kernel.ids import new_id
from yunshang.kernel.pagination import Page, PageRequest
from yunshang.kernel.tenancy import owned_page, owned_row, tenant_scope

from ..domain import AdFormat, Campaign, CampaignStatus, Creative, LandingKind, Pricing, Targeting
from .catalog import catalog_edited
from .domain import (
    Advertiser,
    CampaignTerms,
    CreativeText,
    check_categories,
    check_domains,
    check_landing,
    check_name,
    next_status,
)
from .errors import CampaignEnded
from .images import EXTENSIONS, IMAGE_TYPES, ImageInfo, inspect_image
from .store import (
    ad_images,
    advertiser_from_row,
    advertisers,
    bump_catalog_version,
    campaign_from_row,
    campaign_values,
    campaigns,
    creative_counts,
    creative_from_row,
    creatives,
    image_url,
)

#: Who manages advertising: the merchant (any advertiser of its tenant) and an advertiser
#: key (its own); admins always pass.
MANAGERS = (Role.MERCHANT, Role.ADVERTISER)
#: The campaign fields an update may change (targeting is replaced whole).
EDITABLE = frozenset({"name", "pricing", "bid_fen", "total_budget_fen", "daily_budget_fen",
                      "starts_at", "ends_at", "frequency_cap", "targeting"})


def _advertiser_only(principal: Principal) -> str | None:
    """The one advertiser an advertiser key acts for (None: not narrowed)."""
    return principal.bound_to if principal.role is Role.ADVERTISER else None


class CampaignService:
    """Advertisers, campaigns, creatives and creative images."""

    def __init__(self, *, db: Database, clock: Clock, blobs: BlobStore, public_url: str,
                 listing_exists: Callable[[str, str], bool],
                 app_exists: Callable[[str], bool], image_max_bytes: int) -> None:
        self.db = db
        self.clock = clock
        self.blobs = blobs
        self.public_url = public_url
        self.listing_exists = listing_exists  # (tenant, listing id): commerce's facade
        self.app_exists = app_exists  # (package): the app store's, through devices' facade
        self.image_max_bytes = image_max_bytes

    # ------------------------------------------------------------------ advertisers

    def create_advertiser(self, principal: Principal, *, name: str, domains: Iterable[str],
                          categories: Iterable[str] = ()) -> Advertiser:
        """A new advertiser of the caller's tenant (the merchant's, or the admin's)."""
        principal.require(Role.MERCHANT)
        adv = Advertiser(id=new_id("adv"), tenant=principal.tenant, name=check_name(name),
                         domains=check_domains(domains),
                         categories=check_categories(categories),
                         created_at=self.clock.now())
        with self.db.unit_of_work() as uow:
            uow.conn.execute(advertisers.insert().values(
                id=adv.id, tenant=adv.tenant, name=adv.name, domains=list(adv.domains),
                categories=list(adv.categories), created_at=adv.created_at))
            uow.commit()
        return adv

    def get_advertiser(self, principal: Principal, advertiser_id: str) -> Advertiser:
        principal.require(*MANAGERS)
        with self.db.read() as conn:
            return advertiser_from_row(self._advertiser_row(conn, principal, advertiser_id,
                                                            "advertiser_id"))

    def list_advertisers(self, principal: Principal, req: PageRequest) -> Page[Advertiser]:
        principal.require(*MANAGERS)
        stmt = select(advertisers)
        only = _advertiser_only(principal)
        if only is not None:
            stmt = stmt.where(advertisers.c.id == only)
        with self.db.read() as conn:
            return owned_page(conn, stmt, advertisers, tenant_scope(principal), req,
                              advertiser_from_row)

    def _advertiser_row(self, conn: Connection, principal: Principal, advertiser_id: str,
                        field: str) -> Any:
        only = _advertiser_only(principal)
        return owned_row(conn, advertisers, advertiser_id, tenant_scope(principal),
                         "advertiser", field=field,
                         only=advertisers.c.id == only if only is not None else None)

    # ------------------------------------------------------------------ campaigns

    def create_campaign(self, principal: Principal, *, advertiser_id: str | None, name: str,
                        pricing: Pricing, bid_fen: int, total_budget_fen: int,
                        daily_budget_fen: int, starts_at: datetime, ends_at: datetime,
                        frequency_cap: int = 0, targeting: Targeting | None = None) -> Campaign:
        """A draft campaign of an advertiser (an advertiser key's own by default)."""
        principal.require(*MANAGERS)
        advertiser_id = advertiser_id or _advertiser_only(principal)
        if not advertiser_id:
            raise NotFound("advertiser", "", field="advertiser_id")
        terms = CampaignTerms(pricing, bid_fen, total_budget_fen, daily_budget_fen, starts_at,
                              ends_at, frequency_cap)
        terms.check()
        name = check_name(name)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            adv = self._advertiser_row(uow.conn, principal, advertiser_id, "advertiser_id")
            campaign = Campaign(
                id=new_id("cmp"), tenant=adv.tenant, advertiser_id=adv.id, name=name,
                status=CampaignStatus.DRAFT, pricing=pricing, bid_fen=bid_fen,
                total_budget_fen=total_budget_fen, daily_budget_fen=daily_budget_fen,
                starts_at=starts_at, ends_at=ends_at, frequency_cap=frequency_cap,
                targeting=targeting or Targeting(), creatives=(), updated_at=now)
            uow.conn.execute(campaigns.insert().values(**campaign_values(campaign),
                                                       created_at=now))
            bump_catalog_version(uow.conn)
            uow.after_commit(catalog_edited)
            uow.commit()
        return campaign

    def get_campaign(self, principal: Principal, campaign_id: str) -> Campaign:
        """One campaign, with its creatives."""
        principal.require(*MANAGERS)
        with self.db.read() as conn:
            row = self._campaign_row(conn, principal, campaign_id)
            found = conn.execute(select(creatives).where(creatives.c.campaign_id == row.id)
                                 .order_by(creatives.c.id)).all()
            return campaign_from_row(row, tuple(creative_from_row(r, self.public_url)
                                                for r in found))

    def list_campaigns(self, principal: Principal, req: PageRequest, *,
                       advertiser_id: str | None = None,
                       status: CampaignStatus | None = None) -> Page[Campaign]:
        """The campaigns the caller may see, oldest first (without their creatives)."""
        principal.require(*MANAGERS)
        filters: list[ColumnElement[bool]] = []
        only = _advertiser_only(principal)
        if only is not None:
            filters.append(campaigns.c.advertiser_id == only)
        if advertiser_id is not None:
            filters.append(campaigns.c.advertiser_id == advertiser_id)
        if status is not None:
            filters.append(campaigns.c.status == status.value)
        with self.db.read() as conn:
            return owned_page(conn, select(campaigns).where(*filters), campaigns,
                              tenant_scope(principal), req, campaign_from_row)

    def update_campaign(self, principal: Principal, campaign_id: str,
                        changes: Mapping[str, Any]) -> Campaign:
        """Changes some of a campaign's terms (not of an ended one); the result is checked
        whole, so a daily budget over a lowered total is refused."""
        principal.require(*MANAGERS)
        unknown = set(changes) - EDITABLE
        if unknown:
            raise InvalidInput(sorted(unknown)[0], "this campaign field cannot be changed")
        if "name" in changes:
            changes = {**changes, "name": check_name(changes["name"])}
        with self.db.unit_of_work() as uow:
            before = campaign_from_row(self._campaign_row(uow.conn, principal, campaign_id,
                                                          lock=True))
            if before.status is CampaignStatus.ENDED:
                raise CampaignEnded(before.id)
            after = replace(before, **changes, updated_at=self.clock.now())
            CampaignTerms(after.pricing, after.bid_fen, after.total_budget_fen,
                          after.daily_budget_fen, after.starts_at, after.ends_at,
                          after.frequency_cap).check()
            uow.conn.execute(campaigns.update().where(campaigns.c.id == after.id)
                             .values(**campaign_values(after)))
            bump_catalog_version(uow.conn)
            uow.after_commit(catalog_edited)
            uow.commit()
        return after

    def activate(self, principal: Principal, campaign_id: str) -> Campaign:
        """draft or paused → active: needs a creative and a schedule not yet over."""
        return self._move(principal, campaign_id, "activate")

    def pause(self, principal: Principal, campaign_id: str) -> Campaign:
        """active → paused: no more impressions until activated again."""
        return self._move(principal, campaign_id, "pause")

    def end(self, principal: Principal, campaign_id: str) -> Campaign:
        """Ends a campaign for good (from draft, active or paused)."""
        return self._move(principal, campaign_id, "end")

    def _move(self, principal: Principal, campaign_id: str, action: str) -> Campaign:
        principal.require(*MANAGERS)
        now = self.clock.now()
        with self.db.unit_of_work() as uow:
            before = campaign_from_row(self._campaign_row(uow.conn, principal, campaign_id,
                                                          lock=True))
            count = creative_counts(uow.conn, [before.id]).get(before.id, 0)
            status = next_status(before.id, before.status, action, creatives=count,
                                 ends_at=before.ends_at, now=now)
            after = replace(before, status=status, updated_at=now)
            uow.conn.execute(campaigns.update().where(campaigns.c.id == after.id)
                             .values(status=status.value, updated_at=now))
            bump_catalog_version(uow.conn)
            uow.after_commit(catalog_edited)
            uow.commit()
        return after

    def _campaign_row(self, conn: Connection, principal: Principal, campaign_id: str, *,
                      field: str = "campaign_id", lock: bool = False) -> Any:
        only = _advertiser_only(principal)
        return owned_row(conn, campaigns, campaign_id, tenant_scope(principal), "campaign",
                         field=field, lock=lock,
                         only=campaigns.c.advertiser_id == only if only is not None else None)

    # ------------------------------------------------------------------ images

    def upload_image(self, principal: Principal, data: bytes,
                     media_type: str) -> tuple[str, ImageInfo]:
        """Stores a PNG or JPEG for the caller's tenant's creatives; its SHA-256 names it."""
        principal.require(*MANAGERS)
        media_type = media_type.split(";", 1)[0].strip().lower()
        if media_type not in IMAGE_TYPES:
            raise UnsupportedMedia(f"an image is sent as image/png or image/jpeg, not "
                                   f"{media_type or 'no Content-Type'}",
                                   accepted=sorted(IMAGE_TYPES))
        if len(data) > self.image_max_bytes:
            raise TooLarge("body", f"an image is at most {self.image_max_bytes} bytes",
                           limit=self.image_max_bytes)
        info = inspect_image(data, media_type)
        ref = self.blobs.put_bytes(data)
        with self.db.unit_of_work() as uow:
            known = uow.conn.execute(select(ad_images.c.sha256).where(
                ad_images.c.tenant == principal.tenant, ad_images.c.sha256 == ref.sha256)
                                     ).first()
            if known is None:
                uow.conn.execute(ad_images.insert().values(
                    tenant=principal.tenant, sha256=ref.sha256, media_type=media_type,
                    width=info.width, height=info.height, length=ref.length,
                    created_at=self.clock.now()))
            uow.commit()
        return ref.sha256, info

    def image_url(self, sha256: str, media_type: str) -> str:
        return image_url(self.public_url, sha256, media_type)

    def image_file(self, name: str) -> tuple[Path, str]:
        """An uploaded image's file and content type, by its public name ``<sha256>.<ext>``
        (public: phones and exchanges fetch it). Only creative images are served."""
        sha256, _, ext = name.partition(".")
        with self.db.read() as conn:
            row = conn.execute(select(ad_images.c.media_type)
                               .where(ad_images.c.sha256 == sha256).limit(1)).first()
        if row is None or EXTENSIONS[row.media_type] != ext or not self.blobs.exists(sha256):
            raise NotFound("image", name, field="image")
        return self.blobs.path(sha256), row.media_type

    # ------------------------------------------------------------------ creatives

    def create_creative(self, principal: Principal, *, campaign_id: str, format: AdFormat,
                        image_sha256: str, title: str, text: str, landing_kind: LandingKind,
                        landing_target: str, adomain: Iterable[str] | None = None,
                        categories: Iterable[str] = ()) -> Creative:
        """A banner or native creative of a campaign, on an image the tenant uploaded;
        ``adomain`` defaults to the advertiser's domains."""
        principal.require(*MANAGERS)
        words = CreativeText(format, title.strip(), text.strip())
        words.check()
        landing = check_landing(landing_kind, landing_target)
        cats = check_categories(categories)
        domains = check_domains(adomain, "adomain") if adomain is not None else None
        with self.db.unit_of_work() as uow:
            conn = uow.conn
            cmp = self._campaign_row(conn, principal, campaign_id, lock=True)
            if cmp.status == CampaignStatus.ENDED.value:
                raise CampaignEnded(cmp.id)
            image = conn.execute(select(ad_images).where(
                ad_images.c.tenant == cmp.tenant, ad_images.c.sha256 == image_sha256)).first()
            if image is None:
                raise NotFound("image", image_sha256, field="image_sha256")
            self._check_landing_exists(cmp.tenant, landing_kind, landing_target)
            if domains is None:
                domains = tuple(conn.execute(select(advertisers.c.domains).where(
                    advertisers.c.id == cmp.advertiser_id)).scalar_one())
            creative = Creative(
                id=new_id("crt"), campaign_id=cmp.id, format=format, width=image.width,
                height=image.height, image_url=self.image_url(image_sha256, image.media_type),
                title=words.title, text=words.text, landing=landing, adomain=domains,
                categories=cats)
            conn.execute(creatives.insert().values(
                id=creative.id, tenant=cmp.tenant, campaign_id=cmp.id,
                advertiser_id=cmp.advertiser_id, format=format.value, width=image.width,
                height=image.height, image_sha256=image_sha256, image_type=image.media_type,
                title=words.title, text=words.text, landing_kind=landing_kind.value,
                landing_target=landing_target, adomain=list(domains), categories=list(cats),
                created_at=self.clock.now()))
            conn.execute(campaigns.update().where(campaigns.c.id == cmp.id)
                         .values(updated_at=self.clock.now()))
            bump_catalog_version(conn)
            uow.after_commit(catalog_edited)
            uow.commit()
        return creative

    def _check_landing_exists(self, tenant: str, kind: LandingKind, target: str) -> None:
        if kind is LandingKind.LISTING and not self.listing_exists(tenant, target):
            raise NotFound("listing", target, field="landing.target_id")
        if kind is LandingKind.APP and not self.app_exists(target):
            raise NotFound("app", target, field="landing.target_id")
        # LandingKind.QR: the qr context has not landed; the code's shape was checked.

    def get_creative(self, principal: Principal, creative_id: str) -> Creative:
        principal.require(*MANAGERS)
        only = _advertiser_only(principal)
        with self.db.read() as conn:
            row = owned_row(conn, creatives, creative_id, tenant_scope(principal), "creative",
                            field="creative_id",
                            only=creatives.c.advertiser_id == only if only is not None
                            else None)
        return creative_from_row(row, self.public_url)

    def list_creatives(self, principal: Principal, req: PageRequest, *,
                       campaign_id: str | None = None) -> Page[Creative]:
        """The creatives the caller may see (of one campaign), oldest first."""
        principal.require(*MANAGERS)
        filters: list[ColumnElement[bool]] = []
        only = _advertiser_only(principal)
        if only is not None:
            filters.append(creatives.c.advertiser_id == only)
        if campaign_id is not None:
            filters.append(creatives.c.campaign_id == campaign_id)
        with self.db.read() as conn:
            return owned_page(conn, select(creatives).where(*filters), creatives,
                              tenant_scope(principal), req,
                              lambda row: creative_from_row(row, self.public_url))
