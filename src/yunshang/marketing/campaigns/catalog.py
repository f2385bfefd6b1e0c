"""The auction's read port: every tenant's campaigns running now, with their creatives."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select

from yunshang.kernel.db import Database

from ..domain import Campaign, CampaignStatus, Creative, Landing, LandingKind
from .store import campaign_from_row, campaigns, catalog_version, creative_from_row, creatives

#: The base of creative image URLs unless told otherwise (the settings' default).
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


def _running(now: datetime) -> ColumnElement[bool]:
    return and_(campaigns.c.status == CampaignStatus.ACTIVE.value,
                campaigns.c.starts_at <= now, campaigns.c.ends_at > now)


class CampaignCatalog:
    """What the auction indexes: ``active(now)`` in two queries (campaigns, then all their
    creatives), and ``version()``, one row read, which moves with every change of a
    campaign or creative, so an index is rebuilt only when it moved. A campaign whose
    schedule starts or ends does not move the version: callers that cache ``active``
    still check :meth:`~yunshang.marketing.domain.Campaign.runs_at` per decision."""

    def __init__(self, db: Database, *, public_url: str = DEFAULT_PUBLIC_URL) -> None:
        self.db = db
        self.public_url = public_url

    def version(self) -> int:
        with self.db.read() as conn:
            return catalog_version(conn)

    def active(self, now: datetime) -> list[Campaign]:
        """Every tenant's campaigns that run at ``now``, each with its creatives."""
        with self.db.read() as conn:
            rows = conn.execute(select(campaigns).where(_running(now))
                                .order_by(campaigns.c.id)).all()
            found: dict[str, list[Creative]] = defaultdict(list)
            for row in conn.execute(
                    select(creatives).join(campaigns, creatives.c.campaign_id == campaigns.c.id)
                    .where(_running(now)).order_by(creatives.c.id)):
                found[row.campaign_id].append(creative_from_row(row, self.public_url))
        return [campaign_from_row(row, tuple(found[row.id])) for row in rows]

    def landing(self, tenant: str, creative_id: str) -> Landing | None:
        """The landing target a creative of ``tenant`` stores (tracking's click redirect
        goes there and nowhere else); None when there is no such creative."""
        with self.db.read() as conn:
            row = conn.execute(select(creatives.c.landing_kind, creatives.c.landing_target)
                               .where(creatives.c.id == creative_id,
                                      creatives.c.tenant == tenant)).first()
        return None if row is None else Landing(LandingKind(row.landing_kind),
                                                row.landing_target)

    def campaign(self, tenant: str | None, campaign_id: str) -> str | None:
        """The advertiser (``adv_…``) owning a campaign of ``tenant`` (None: any tenant, for
        the platform operator); None when there is no such campaign."""
        query = select(campaigns.c.advertiser_id).where(campaigns.c.id == campaign_id)
        if tenant is not None:
            query = query.where(campaigns.c.tenant == tenant)
        with self.db.read() as conn:
            return conn.execute(query).scalar_one_or_none()
