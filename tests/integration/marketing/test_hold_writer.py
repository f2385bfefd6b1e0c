"""The embedded spend guard's group commit: holds share commits, a hold id is never out
before its row is in the database (also when the bidder decides in the event loop), a
failed commit gives the budget back; and the catalog version read once a second."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from tests.conftest import PlatformFactory
from tests.factories import seed_sale
from tests.http_support import bearer, open_client
from yunshang.kernel.auth import Role
from yunshang.kernel.clock import ManualClock
from yunshang.marketing.budgets import SqlSpendGuard
from yunshang.marketing.budgets.store import ad_holds
from yunshang.marketing.campaigns.store import campaign_catalog_version
from yunshang.marketing.tracking import TokenSigner
from yunshang.platform import Platform

from .budget_support import make_campaign
from .test_ads_end_to_end import _bid_request, _launch_campaign


def _guard(platform: Platform) -> SqlSpendGuard:
    guard = platform.spend_guard
    assert isinstance(guard, SqlSpendGuard)
    return guard


def _status(platform: Platform, hold_id: str) -> str | None:
    with platform.db.read() as conn:
        return conn.execute(select(ad_holds.c.status)
                            .where(ad_holds.c.id == hold_id)).scalar_one_or_none()


def test_concurrent_holds_share_commits_and_are_in_the_database_once_granted(
        make_platform: PlatformFactory, clock: ManualClock) -> None:
    platform = make_platform()
    guard, now = _guard(platform), clock.now()
    guard.writer.linger_s = 0.05  # wide enough that the threads' holds meet
    campaign = make_campaign(now, total_budget_fen=10_000)
    start = threading.Barrier(24)
    missing: list[str] = []

    def hold() -> None:
        start.wait()
        hold_id = guard.hold(campaign, 10, None, now)
        assert hold_id is not None
        if _status(platform, hold_id) != "held":
            missing.append(hold_id)

    threads = [threading.Thread(target=hold) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert missing == []  # every id handed out was already committed
    assert guard.writer.rows == 24 and guard.writer.batches < 24
    assert guard.held_fen(campaign.id) == (240, 240)


def test_a_failed_commit_refuses_the_hold_and_gives_its_budget_back(
        make_platform: PlatformFactory, clock: ManualClock) -> None:
    platform = make_platform()
    guard, now = _guard(platform), clock.now()
    campaign = make_campaign(now, total_budget_fen=100, frequency_cap=1)
    real = guard.writer.db

    class Down:
        def unit_of_work(self) -> object:
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    guard.writer.db = Down()  # type: ignore[assignment]
    with pytest.raises(OperationalError):  # a hold whose row was not written is not granted
        guard.hold(campaign, 60, "u1", now)
    guard.writer.db = real
    # neither the 60 fen nor u1's one impression a day were kept for the lost hold
    assert guard.hold(campaign, 100, "u1", now) is not None


def test_deferred_holds_resolve_on_their_commit_and_a_release_waits_for_the_row(
        make_platform: PlatformFactory, clock: ManualClock) -> None:
    platform = make_platform()
    guard, now = _guard(platform), clock.now()
    guard.writer.linger_s = 0.3
    campaign = make_campaign(now, total_budget_fen=100)
    deferred = guard.deferred()
    assert deferred is not None
    with deferred as pending:
        hold_id = guard.hold(campaign, 40, None, now)
    assert hold_id is not None and len(pending) == 1
    assert _status(platform, hold_id) is None  # not yet committed: not yet to be handed out
    guard.release(hold_id)  # a late decision: waits for the row, then releases it
    assert pending[0].done() and _status(platform, hold_id) == "released"
    assert guard.held_fen(campaign.id) == (0, 0)
    assert guard.hold(campaign, 100, None, now) is not None  # the 40 fen came back


def test_the_bidder_answers_only_once_its_hold_is_committed(
        make_platform: PlatformFactory, clock: ManualClock) -> None:
    platform = make_platform()
    _guard(platform).writer.linger_s = 0.2  # a slow commit: an early answer would show
    seeded = seed_sale(platform, quantity=10, limit=2)
    merchant = bearer(seeded.merchant.token)
    exchange = bearer(platform.keys.create(role=Role.EXCHANGE, tenant=seeded.tenant,
                                           label="tanx").token)
    signer = TokenSigner.from_key_dir(platform.settings.var_dir / "keys")
    with open_client(platform) as client:
        listing = client.get("/v1/listings", headers=merchant).json()["items"][0]
        _launch_campaign(client, merchant, listing["id"], clock)
        # the first bid builds the auction's index (thread pool), the next ones decide in
        # the event loop and await their holds' group commit
        for n in range(3):
            answer = client.post("/openrtb2/bid", headers=exchange,
                                 json=_bid_request(f"buyer{n}"))
            assert answer.status_code == 200, answer.text
            token = answer.json()["seatbid"][0]["bid"][0]["burl"].split("/t/bill/")[1]
            hold_id = signer.verify(token.split("?")[0]).extra["hold"]
            assert _status(platform, hold_id) == "held"
    assert platform.auctioneer.ready(clock.now())


def test_the_catalog_version_is_read_again_after_an_edit_here_or_a_second_later(
        make_platform: PlatformFactory, clock: ManualClock) -> None:
    platform = make_platform()
    catalog = platform.campaign_catalog
    before = catalog.version()
    with platform.db.unit_of_work() as uow:  # another process's edit
        uow.conn.execute(update(campaign_catalog_version).values(version=before + 7))
        uow.commit()
    assert catalog.version() == before  # trusted for poll_s
    catalog.poll_s = 0.0
    assert catalog.version() == before + 7
    catalog.poll_s = 3600.0
    now = clock.now()
    merchant = platform.keys.create(role=Role.MERCHANT, tenant="t1", label="m").principal
    adv = platform.campaigns.create_advertiser(merchant, name="Meizu", domains=["meizu.com"])
    platform.campaigns.create_campaign(
        merchant, advertiser_id=adv.id, name="launch", pricing=make_campaign(now).pricing,
        bid_fen=1000, total_budget_fen=10_000, daily_budget_fen=10_000, starts_at=now,
        ends_at=now + timedelta(days=1))
    assert catalog.version() == before + 8  # this process's edit: seen at once
