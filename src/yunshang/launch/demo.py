"""Launch day, played through the real service layer on embedded defaults.

A maker lists a new phone on two marketplaces and its own store, runs a
flash sale that thousands of buyers rush at once, collects payments into
escrow, lets unpaid orders expire (their units go back on sale), ships with
IMEIs, and releases escrow on confirmation or after the auto-release delay.
Later stages (devices, analytics, ads, QR, delivery) join this same day.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from yunshang.commerce import ChannelKind, OrderStatus, SkuSpec, StockMode
from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.clock import ManualClock
from yunshang.kernel.errors import DomainError
from yunshang.kernel.money import Money
from yunshang.kernel.settings import Settings
from yunshang.platform import Platform

from .analytics_day import AnalyticsReport, play_report, play_weeks
from .devices_day import (
    NEW_OS,
    ROLLOUT_STAGES,
    DevicesReport,
    manufacturing_batch,
    play_devices,
    register_batch,
)

TENANT = "meizu"
PHONE_PRICE = Money(399_900)  # 3,999.00 CNY
FLASH_PRICE = Money(349_900)


@dataclass
class LaunchReport:
    units: int
    buyers: int
    #: activated phones that run the real device agent over HTTP (the rest update in process)
    agents: int = 120
    sold: int = 0
    left: int = 0
    orders: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    per_channel: Counter[str] = field(default_factory=Counter)
    seconds_to_sell_out: float = 0.0
    expired: int = 0
    resold: int = 0
    paid: int = 0
    shipped: int = 0
    refunded: int = 0
    completed: int = 0
    escrow_held: int = 0
    released: int = 0
    ledger_balanced: bool = False
    events: int = 0
    oversold: bool = True
    devices: DevicesReport = field(default_factory=DevicesReport)
    analytics: AnalyticsReport = field(default_factory=AnalyticsReport)


def _demo_settings(fresh: bool) -> Settings:
    settings = Settings()
    if settings.database_url is None:
        demo_dir = settings.var_dir / "demo"
        if fresh and demo_dir.exists():
            shutil.rmtree(demo_dir)
        settings = settings.model_copy(update={"var_dir": Path(demo_dir)})
    return settings


async def _rush(platform: Platform, clock: ManualClock, sale_id: str,
                crowd: list[tuple[str, int, Principal]], report: LaunchReport,
                progress: Progress, task: object) -> list[dict[str, object]]:
    placed: list[dict[str, object]] = []
    # the simulated clock follows the real rush, so orders carry the times they really
    # got through (the sell-through curve shows the sale selling out, not one instant)
    opened, t0 = clock.now(), time.perf_counter()

    async def one(buyer: str, qty: int, who: Principal) -> None:
        clock.set(opened + timedelta(seconds=time.perf_counter() - t0))
        try:
            future = platform.commerce.place_flash_order(who, sale_id, buyer_id=buyer,
                                                         quantity=qty)
            stored = await asyncio.wrap_future(future)
            placed.append(stored.body)
        except DomainError as exc:
            report.refused[exc.code.value] += 1
        finally:
            progress.advance(task)  # type: ignore[arg-type]

    await asyncio.gather(*(one(b, q, w) for b, q, w in crowd))
    return placed


def run_demo(console: Console, *, buyers: int = 5000, units: int = 1000,
             fresh: bool = True, seed: int = 7, agents: int = 120) -> bool:
    """Plays launch day; returns True when every check holds."""
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(microsecond=0)
    clock = ManualClock(start)
    platform = Platform(_demo_settings(fresh), clock)
    platform.migrate()
    platform.start(background=False)
    report = LaunchReport(units=units, buyers=buyers, agents=agents)
    try:
        _play(console, platform, clock, rng, report)
    finally:
        platform.stop()
    return _summarise(console, report)


def _play(console: Console, platform: Platform, clock: ManualClock, rng: random.Random,
          report: LaunchReport) -> None:
    svc = platform.commerce
    console.rule("[bold]Launch day[/] — Yunshang")
    merchant = platform.keys.create(role=Role.MERCHANT, tenant=TENANT, label="demo").principal
    product = svc.create_product(merchant, name="Meizu 22 Pro", brand="Meizu", skus_=[
        SkuSpec("Midnight", 256, PHONE_PRICE, report.units + 500),
        SkuSpec("Aurora", 512, Money(449_900), 800),
    ])
    sku = next(s for s in product.skus if s.color == "Midnight")
    chans = [svc.create_channel(merchant, name=n, kind=k) for n, k in (
        ("Tmall", ChannelKind.MARKETPLACE), ("Taobao", ChannelKind.MARKETPLACE),
        ("Meizu Store", ChannelKind.OWN_STORE))]
    for ch in chans:
        svc.create_listing(merchant, sku_id=sku.id, channel_id=ch.id, price=PHONE_PRICE,
                           stock_mode=StockMode.SHARED, allocated=0)
    channel_keys = [platform.keys.create(role=Role.CHANNEL, tenant=TENANT, subject=ch.id).principal
                    for ch in chans]
    opens = clock.now() + timedelta(minutes=10)
    sale = svc.create_flash_sale(merchant, sku_id=sku.id, channel_ids=None, price=FLASH_PRICE,
                                 quantity=report.units, per_buyer_limit=2, starts_at=opens,
                                 ends_at=opens + timedelta(hours=2))
    names = {ch.id: ch.name for ch in chans}
    console.print(f"[green]✓[/] {product.name} ({sku.color}, {sku.storage_gb} GB) listed on "
                  f"{', '.join(names.values())}; flash sale {sale.id}: {report.units} units at "
                  f"{FLASH_PRICE}, limit 2 per buyer, opens {opens:%H:%M} UTC")

    # Eager buyers who refresh before the start are told it has not started.
    for i in range(5):
        try:
            svc.place_flash_order(channel_keys[0], sale.id, buyer_id=f"early-{i}", quantity=1)
        except DomainError as exc:
            report.refused[exc.code.value] += 1
    clock.set(opens)

    weights = [0.45, 0.35, 0.20]  # Tmall, Taobao, own store
    crowd = []
    for i in range(report.buyers):
        who = rng.choices(channel_keys, weights)[0]
        crowd.append((f"buyer-{i:05d}", 2 if rng.random() < 0.15 else 1, who))
    with Progress(TextColumn("[bold blue]flash sale"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[sold]} sold"), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("rush", total=len(crowd), sold=0)
        t0 = time.perf_counter()
        placed = asyncio.run(_rush(platform, clock, sale.id, crowd, report, progress, task))
        report.seconds_to_sell_out = time.perf_counter() - t0
        progress.update(task, sold=sum(int(o["quantity"]) for o in placed))  # type: ignore[call-overload]
    report.orders = len(placed)
    for o in placed:
        report.per_channel[names[str(o["channel_id"])]] += 1
    console.print(f"[green]✓[/] {len(placed)} orders in {report.seconds_to_sell_out:.2f} s "
                  f"({report.buyers / report.seconds_to_sell_out:,.0f} requests/s); refused: "
                  + ", ".join(f"{k} {v}" for k, v in report.refused.most_common()))

    # Most buyers pay, through the (simulated) payment provider; some never do and their
    # orders expire.
    by_id = {str(o["id"]): o for o in placed}
    keys_by_channel = {k.subject: k for k in channel_keys}
    unpaid = set()
    for oid, o in by_id.items():
        if rng.random() < 0.06:
            unpaid.add(oid)
            continue
        _pay_through_provider(platform, keys_by_channel[str(o["channel_id"])], oid)
        report.paid += 1
    clock.advance(timedelta(seconds=platform.settings.unpaid_order_timeout_s + 1))
    report.expired = svc.expire_unpaid(limit=10_000)
    platform.engine.wait_idle()
    console.print(f"[green]✓[/] {report.paid} paid into escrow; {report.expired} unpaid orders "
                  "expired and their units went back on sale")

    # The waitlist snaps up the returned units.
    waitlist = [(f"late-{i:05d}", 1, rng.choices(channel_keys, weights)[0])
                for i in range(report.expired * 3)]
    with Progress(TextColumn("[bold blue]second wave"), BarColumn(), MofNCompleteColumn(),
                  console=console) as progress:
        task = progress.add_task("wave", total=len(waitlist))
        second = asyncio.run(_rush(platform, clock, sale.id, waitlist, report, progress,
                                   task))
    report.resold = len(second)
    for o in second:
        report.per_channel[names[str(o["channel_id"])]] += 1
        _pay_through_provider(platform, keys_by_channel[str(o["channel_id"])], str(o["id"]))
        report.paid += 1
        by_id[str(o["id"])] = o

    # The factory's batch is registered before anything ships.
    batch = manufacturing_batch(report.units + 200)
    register_batch(platform, merchant, batch)
    console.print(f"[green]✓[/] manufacturing batch of {len(batch)} phones registered (IMEIs "
                  "Luhn-checked, all or nothing)")

    # Ship with IMEIs; a few refunds before shipping; deliveries; confirmations.
    serial = 0
    shipped: list[tuple[str, str, list[str]]] = []
    paid_ids = [oid for oid in by_id if oid not in unpaid]
    for oid in paid_ids:
        o = by_id[oid]
        chan_key = keys_by_channel[str(o["channel_id"])]
        if rng.random() < 0.02:
            svc.refund_order(chan_key, oid, "buyer changed their mind")
            report.refunded += 1
            continue
        imeis = batch[serial:serial + int(o["quantity"])]  # type: ignore[call-overload]
        serial += len(imeis)
        svc.ship_order(merchant, oid, imeis=imeis, carrier="SF Express",
                       tracking_number=f"SF{serial:010d}")
        shipped.append((oid, str(o["buyer_id"]), imeis))
        report.shipped += 1
    clock.advance(timedelta(days=2))
    for oid in paid_ids:
        order = svc.get_order(merchant, oid)
        if order.status is OrderStatus.SHIPPED:
            svc.deliver_order(merchant, oid)
            if rng.random() < 0.7:
                svc.confirm_order(keys_by_channel[order.channel_id], oid)
                report.completed += 1
    admin = platform.keys.create(role=Role.ADMIN, tenant="platform").principal
    held_mid = _escrow(platform, admin)
    console.print(f"[green]✓[/] {report.shipped} shipped with IMEIs, {report.refunded} refunded, "
                  f"{report.completed} confirmed by buyers; escrow holds {Money(held_mid)}")
    report.devices = play_devices(console, platform, clock, rng, merchant=merchant,
                                  shipped=shipped, workdir=platform.settings.var_dir,
                                  fleet_size=report.agents)
    report.analytics = play_weeks(console, platform, clock, rng, tenant=TENANT,
                                  imeis=report.devices.activated_imeis,
                                  packages=report.devices.packages,
                                  updates=report.devices.updates)
    report.completed += report.analytics.auto_released
    # whatever is still held falls due by now
    clock.advance(timedelta(days=platform.settings.escrow_auto_release_days, hours=1))
    report.completed += svc.release_due_escrow(limit=10_000)

    final = svc.get_flash_sale(merchant, sale.id)
    report.sold, report.left = final.sold, final.left
    ledger = svc.ledger_balances(admin)
    report.ledger_balanced = ledger.balanced and not ledger.negative and \
        svc.escrow_held_per_order_ok()
    balances = {(b.tenant, b.account.value): b.balance for b in ledger.balances}
    report.escrow_held = balances.get((TENANT, "escrow"), 0)
    report.released = balances.get((TENANT, "merchant_payable"), 0)
    report.events = _outbox_size(platform)
    per_status = Counter(o.status.value for o in _all_orders(platform, admin))
    report.oversold = sum(int(o["quantity"]) for o in by_id.values()  # type: ignore[call-overload]
                          if o["id"] not in unpaid) > report.units
    _print_tables(console, report, per_status, ledger)
    play_report(console, platform, report.analytics, tenant=TENANT,
                out_dir=platform.settings.var_dir / "report", outbox_events=report.events)


def _pay_through_provider(platform: Platform, checkout: Principal, order_id: str) -> None:
    """The marketplace's checkout starts the payment, the buyer pays in the simulated
    provider's wallet, and the provider's RSA-signed notification pays the order: the
    same path as ``POST /v1/payments/notify/sim``."""
    payment, _ = platform.commerce.start_payment(checkout, order_id)
    platform.commerce.pay_with_sim_wallet(payment.token)


def _outbox_size(platform: Platform) -> int:
    from sqlalchemy import func, select

    from yunshang.kernel.outbox import outbox

    with platform.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())


def _escrow(platform: Platform, admin: Principal) -> int:
    for b in platform.commerce.ledger_balances(admin).balances:
        if b.tenant == TENANT and b.account.value == "escrow":
            return b.balance
    return 0


def _all_orders(platform: Platform, who: Principal) -> list:  # type: ignore[type-arg]
    from yunshang.kernel.pagination import PageRequest

    out, after = [], None
    while True:
        page = platform.commerce.list_orders(who, PageRequest(after=after, limit=200))
        out.extend(page.items)
        if not page.next_cursor:
            return out
        after = page.items[-1].id


def _print_tables(console: Console, report: LaunchReport, per_status: Counter[str],
                  ledger: object) -> None:
    table = Table("channel", "orders", title="Orders per channel")
    for name, n in report.per_channel.most_common():
        table.add_row(name, str(n))
    console.print(table)
    st = Table("status", "orders", title="Orders by status")
    for name, n in sorted(per_status.items()):
        st.add_row(name, str(n))
    console.print(st)
    lt = Table("tenant", "account", "balance", title="Escrow ledger")
    for b in ledger.balances:  # type: ignore[attr-defined]
        lt.add_row(b.tenant, b.account.value, str(Money(b.balance, b.currency)))
    console.print(lt)


def _analytics_checks(report: LaunchReport) -> dict[str, bool]:
    """The warehouse's numbers against what the day's own services counted."""
    a = report.analytics
    funnel, activation = a.first("funnel"), a.first("activation")
    sold_devices = sum(int(r["sold"]) for r in (a.report.rows["activation"] if a.report else []))
    activated = sum(int(r["activated"]) for r in (a.report.rows["activation"] if a.report
                                                  else []))
    return {
        "warehouse holds every outbox event exactly once":
            a.warehouse_events == a.outbox_events > 0,
        "funnel: orders created and paid match the sale":
            funnel.get("created") == report.orders + report.resold
            and funnel.get("paid") == report.paid,
        "activation: sold and activated phones match the devices stage":
            bool(activation) and sold_devices == report.devices.shipped_units
            and activated == report.devices.activated,
        "charts written": len(a.files) > 0,
        **_ota_checks(report),
    }


#: the OS update's adoption the demo expects on the chart's last day; below it, either
#: the rollout or its telling is wrong
ADOPTION_TARGET = 0.95


def _ota_checks(report: LaunchReport) -> dict[str, bool]:
    """The OS update as the adoption chart draws it, and as the services counted it."""
    d, a = report.devices, report.analytics
    adoption = a.adoption(NEW_OS)
    return {
        "every activated phone checked in for OS updates":
            len(d.checked_in) == d.fleet == d.activated > 0,
        "OS rollout passed its health gates "
        f"({' → '.join(f'{p} %' for p in ROLLOUT_STAGES)}) and completed":
            d.rollout_state == "completed",
        "the warehouse's update reports match the phones that updated":
            a.update_reports(NEW_OS) == (d.updated, d.update_failures) and d.updated > 0,
        f"OS {NEW_OS} on {adoption.share:.1%} of the phones in use after {a.days // 7} weeks "
        f"(≥ {ADOPTION_TARGET:.0%}, the adoption chart's last day)":
            adoption.share >= ADOPTION_TARGET,
    }


def _summarise(console: Console, report: LaunchReport) -> bool:
    checks = {
        "sold + left = units": report.sold + report.left == report.units,
        "sold out": report.left == 0,
        "never oversold": not report.oversold,
        "ledger balanced, nothing negative": report.ledger_balanced,
        "escrow fully released or refunded": report.escrow_held == 0,
        "phones activated": report.devices.activated > 0,
        "delta ≤ 5% of the image": 0 < report.devices.delta_bytes
        <= report.devices.image_bytes * 0.05,
        **_analytics_checks(report),
    }
    console.rule("Outcome")
    console.print(f"sold {report.sold}/{report.units}, left {report.left}; "
                  f"merchant payable {Money(report.released)}; "
                  f"{report.events} events in the outbox")
    adoption, d = report.analytics.adoption(NEW_OS), report.devices
    console.print(f"OS {NEW_OS}: on {adoption.devices} of the {adoption.reporting} phones in use "
                  f"on {adoption.day} ({adoption.share:.1%}, the adoption chart's last day); "
                  f"installed on {d.updated} of the {d.fleet} activated phones ({d.agents_updated} "
                  f"by the real agent over HTTP); of the {d.fleet - d.updated} others, "
                  f"{len(report.analytics.churned - d.updated_phones)} had stopped being used")
    for name, ok in checks.items():
        console.print(("[green]✓[/] " if ok else "[red]✗[/] ") + name)
    return all(checks.values())
