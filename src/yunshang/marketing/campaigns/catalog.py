"""The auction's read port: every tenant's campaigns running now, with their creatives."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select

from yunshang.kernel.db import Database

from ..domain import Campaign, CampaignStatus, Creative, Landing, LandingKind
from .store import (
    advertisers,
    campaign_from_row,
    campaigns,
    catalog_version,
    creative_from_row,
    creatives,
)

#: The base of creative image URLs unless told otherwise (the settings' default).
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
#: How long a version read from the database is trusted when this process made no edit:
#: how late an edit made by another process (another server, the CLI) reaches the auction.
VERSION_POLL_S = 1.0


class _Edits:
    """This process's committed catalog edits, counted (the service counts each one after
    its commit): a catalog re-reads the version at once when the count moved."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def note(self) -> None:
        with self._lock:
            self.count += 1


EDITS = _Edits()


def catalog_edited() -> None:
    """Called after a committed edit of a campaign or creative (``uow.after_commit``)."""
    EDITS.note()


def _running(now: datetime) -> ColumnElement[bool]:
    return and_(campaigns.c.status == CampaignStatus.ACTIVE.value,
                campaigns.c.starts_at <= now, campaigns.c.ends_at > now)


class CampaignCatalog:
    """What the auction indexes: ``active(now)`` in two queries (campaigns, then all their
    creatives), and ``version()``, one row read, which moves with every change of a
    campaign or creative, so an index is rebuilt only when it moved. The row is read
    again when this process committed an edit since, else at most every ``poll_s``
    (edits from other processes reach the auction within that; the auction asks on
    every decision, and a database read per bid would cost more than the auction). A
    campaign whose
    schedule starts or ends does not move the version: callers that cache ``active``
    still check :meth:`~yunshang.marketing.domain.Campaign.runs_at` per decision."""

    def __init__(self, db: Database, *, public_url: str = DEFAULT_PUBLIC_URL,
                 poll_s: float = VERSION_POLL_S) -> None:
        self.db = db
        self.public_url = public_url
        self.poll_s = poll_s
        self._seen: tuple[int, float, int] | None = None  # (edits, monotonic read, version)

    def version(self) -> int:
        edits, now, seen = EDITS.count, time.monotonic(), self._seen
        if seen is not None and seen[0] == edits and now - seen[1] < self.poll_s:
            return seen[2]
        with self.db.read() as conn:  # edits counted before the read: none is missed
            version = catalog_version(conn)
        self._seen = (edits, now, version)
        return version

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

    def advertiser_domains(self, tenant: str, advertiser_id: str) -> tuple[str, ...] | None:
        """An advertiser of ``tenant``'s verified domains (where a QR code of its may point);
        None when there is no such advertiser."""
        with self.db.read() as conn:
            domains = conn.execute(select(advertisers.c.domains).where(
                advertisers.c.id == advertiser_id, advertisers.c.tenant == tenant)
                                   ).scalar_one_or_none()
        return None if domains is None else tuple(domains)
