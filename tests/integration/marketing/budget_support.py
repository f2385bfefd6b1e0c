"""A campaign to hold against, and a worker process that holds and charges until killed.

Run as a script (``python budget_support.py CAMPAIGN_JSON COST charge|hold``) with the
platform's ``YUNSHANG_*`` settings in its environment; it prints
``H <hold id>`` once a hold is granted and ``C <hold id> <fen>`` once it is charged,
flushed, so the parent knows what was acknowledged before a ``kill -9``.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta

from yunshang.marketing import Campaign, CampaignStatus, Pricing, Targeting


def make_campaign(now: datetime, **overrides: object) -> Campaign:
    base = Campaign(id="cmp_budget", tenant="t1", advertiser_id="adv_1", name="launch",
                    status=CampaignStatus.ACTIVE, pricing=Pricing.CPM, bid_fen=5_000,
                    total_budget_fen=1_000, daily_budget_fen=1_000_000,
                    starts_at=now - timedelta(days=3), ends_at=now + timedelta(days=3),
                    frequency_cap=0, targeting=Targeting(), creatives=(),
                    updated_at=now - timedelta(days=3))
    return replace(base, **overrides)  # type: ignore[arg-type]


def campaign_json(c: Campaign) -> str:
    d = asdict(c)
    d["targeting"] = {}
    for k in ("starts_at", "ends_at", "updated_at"):
        d[k] = d[k].isoformat()
    return json.dumps(d)


def _campaign_from(text: str) -> Campaign:
    d = json.loads(text)
    now = datetime.now(UTC)
    return make_campaign(now, id=d["id"], total_budget_fen=d["total_budget_fen"],
                         daily_budget_fen=d["daily_budget_fen"],
                         frequency_cap=d["frequency_cap"],
                         starts_at=datetime.fromisoformat(d["starts_at"]),
                         ends_at=datetime.fromisoformat(d["ends_at"]))


def main() -> None:
    from yunshang.kernel.clock import SystemClock
    from yunshang.kernel.db import Database
    from yunshang.kernel.settings import Settings
    from yunshang.marketing.budgets import spend_guard

    campaign = _campaign_from(sys.argv[1])
    cost, charge_every = int(sys.argv[2]), sys.argv[3] == "charge"
    settings = Settings()
    db = Database(settings.effective_database_url())
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    guard = spend_guard(settings, db, redis_url, SystemClock())
    guard.start()
    refused = 0
    i = 0
    while refused < 50:
        i += 1
        hold = guard.hold(campaign, cost, f"u{os.getpid()}-{i}", datetime.now(UTC))
        if hold is None:
            refused += 1
            continue
        print("H", hold, flush=True)
        if charge_every and guard.charge(hold, cost - 1, datetime.now(UTC)):
            print("C", hold, cost - 1, flush=True)
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
