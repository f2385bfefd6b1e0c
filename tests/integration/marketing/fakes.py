"""In-memory stand-ins for the ports tracking is built on (the campaigns part's landings
and ownership, the budgets part's spend guard), as the real ones behave."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from yunshang.marketing import Campaign, Landing
from yunshang.marketing.tracking import TrackingService
from yunshang.platform import Platform


@dataclass
class Guard:
    """A spend guard that remembers holds, charges (once per hold) and releases."""

    holds: dict[str, int] = field(default_factory=dict)
    charged: dict[str, int] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hold(self, campaign: Campaign, cost_fen: int, user_key: str | None,
             now: datetime) -> str | None:
        hold_id = f"hld_{len(self.holds) + 1}"
        self.holds[hold_id] = cost_fen
        return hold_id

    def charge(self, hold_id: str, cost_fen: int, now: datetime) -> bool:
        with self.lock:
            self.calls.append(hold_id)
            if hold_id not in self.holds or hold_id in self.charged:
                return False
            self.charged[hold_id] = cost_fen
            return True

    def release(self, hold_id: str) -> None:
        with self.lock:
            self.released.append(hold_id)
            self.holds.pop(hold_id, None)


@dataclass
class Campaigns:
    """Landings per (tenant, creative) and advertisers per (tenant, campaign)."""

    landings: dict[tuple[str, str], Landing] = field(default_factory=dict)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)

    def landing(self, tenant: str, creative_id: str) -> Landing | None:
        return self.landings.get((tenant, creative_id))

    def campaign(self, tenant: str | None, campaign_id: str) -> str | None:
        for (t, cid), adv in self.owners.items():
            if cid == campaign_id and tenant in (None, t):
                return adv
        return None


def wire(platform: Platform, campaigns: Campaigns | None = None,
         guard: Guard | None = None) -> tuple[TrackingService, Campaigns, Guard]:
    campaigns = campaigns or Campaigns()
    guard = guard or Guard()
    service = platform.wire_ad_tracking(landings=campaigns, guard=guard, ownership=campaigns)
    return service, campaigns, guard
