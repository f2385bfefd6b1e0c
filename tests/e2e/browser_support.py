"""The web console in a real browser: Debian's chromium driven by Playwright.

Playwright cannot download a browser of its own here, so it launches the
system's chromium through ``executable_path`` (``YUNSHANG_CHROMIUM``, else
``/usr/bin/chromium``; ``.ci/run`` installs it). Locally a missing browser skips
the ``browser`` tests with the reason; with ``CI=true`` it fails them.

:class:`ConsoleWorld` is a platform on the embedded stack seeded like a small
launch day (a tenant's phone on two marketplaces, a flash sale open now, orders
paid, shipped and delivered, activated phones, an OS rollout in progress, apps
in the store, a campaign, a QR code, a drone fleet and its round, and 30 days of
analytics history ingested into the warehouse), served by a real uvicorn server
in a thread on a free loopback port (:class:`~yunshang.launch.server.LocalServer`,
as the demo serves it) while the platform's background loops run as in
``yunshang serve``.

:func:`axe_violations` runs the vendored axe-core on a page.
"""

from __future__ import annotations

import io
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from PIL import Image

import yunshang.launch
from tests.conftest import sqlite_settings
from tests.factories import pay_via_provider, register_phones, seed_sale
from yunshang.analytics.seed import seed_history
from yunshang.commerce import DeliveryAddress
from yunshang.delivery import Point
from yunshang.kernel.auth import PLATFORM_TENANT, Role
from yunshang.kernel.pagination import page_request
from yunshang.launch.server import LocalServer, free_port
from yunshang.marketing import AdFormat, LandingKind, Pricing
from yunshang.platform import Platform
from yunshang.qr import TargetKind

CHROMIUM_ENV = "YUNSHANG_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

AXE_JS = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
#: axe impacts that fail a page (minor and moderate ones are reported, not failed)
FAILING_IMPACTS = ("serious", "critical")

#: where the pages' screenshots go (var/ is git-ignored): a test artefact
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "console-screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

TENANT = "meizu"
OTHER_TENANT = "xiaomi"
#: units of the open flash sale (large enough that the tests' orders never sell it out)
SALE_UNITS = 400
MODEL = "Meizu 22"  # seed_sale's product, so the registry's model
APKS = Path(yunshang.launch.__file__).parent / "apks"


def chromium_path() -> tuple[str | None, str]:
    """The chromium binary to launch, or None and why there is none."""
    wanted = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    found = shutil.which(wanted) if not os.path.isabs(wanted) else (
        wanted if os.access(wanted, os.X_OK) else None)
    if found is None:
        return None, (f"no chromium at {wanted} (apt-get install chromium, or set "
                      f"{CHROMIUM_ENV} to a Chromium binary)")
    return found, ""


def axe_violations(page: Any, *,
                   impacts: tuple[str, ...] = FAILING_IMPACTS) -> list[dict[str, Any]]:
    """axe-core's violations on ``page`` (WCAG 2.x A and AA rules, best practices too)
    whose impact is one of ``impacts``."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluated through the DevTools protocol: the console's Content-Security-Policy
        # (script-src 'self') rightly refuses an injected <script> tag
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => ({target: n.target.join(' '),
                                                   summary: n.failureSummary}))}));
    }""")
    return [v for v in result if v["impact"] in impacts]


def describe(violations: list[dict[str, Any]]) -> str:
    """The violations as a reader of a failed test wants them: rule, impact, where."""
    lines = []
    for v in violations:
        lines.append(f"{v['impact']}: {v['id']} ({v['help']})")
        lines.extend(f"    at {n['target']}: {n['summary']}" for n in v["nodes"])
    return "\n".join(lines)


@dataclass
class ConsoleWorld:
    """The seeded platform, its server's URL, and the keys and ids the tests use."""

    platform: Platform
    url: str = ""
    keys: dict[str, str] = field(default_factory=dict)  # who -> API key
    ids: dict[str, str] = field(default_factory=dict)  # what -> id

    def api(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


def seed_world(platform: Platform) -> ConsoleWorld:
    """The tenant ``meizu``'s small launch day (see the module's docstring), and a second
    tenant with objects of its own (for the pages that must not show them)."""
    world = ConsoleWorld(platform)
    keys, svc = platform.keys, platform.commerce
    seeded = seed_sale(platform, quantity=SALE_UNITS, limit=5, stock=SALE_UNITS + 100,
                       tenant=TENANT)
    merchant = seeded.merchant.principal
    world.keys["merchant"] = seeded.merchant.token
    world.keys["admin"] = keys.create(role=Role.ADMIN, tenant=TENANT, label="console admin").token
    world.keys["developer"] = keys.create(role=Role.DEVELOPER, tenant=TENANT).token
    world.keys["channel"] = seeded.channels[0].token
    world.keys["platform"] = keys.create(role=Role.ADMIN, tenant=PLATFORM_TENANT).token
    world.keys["buyer"] = keys.create(role=Role.BUYER, tenant=TENANT, subject="alice").token
    world.ids["sale"] = seeded.sale.id
    world.ids["product"] = seeded.product.id
    world.ids["channel"] = seeded.channels[0].principal.subject or ""
    buyer = keys.authenticate(world.keys["buyer"])

    phones = register_phones(platform, merchant, 6, model=MODEL)
    near_hub = DeliveryAddress(province="Shanghai", city="Shanghai", district=None,
                               street="Century Avenue 100", lat=31.11, lon=121.11)
    orders = [str(svc.place_flash_order(buyer, seeded.sale.id, buyer_id="alice", quantity=1,
                                        channel_id=world.ids["channel"], address=near_hub)
                  .result(10).body["id"]) for _ in range(4)]
    for oid in orders[1:]:
        pay_via_provider(platform, buyer, oid)
    svc.ship_order(merchant, orders[3], imeis=[phones[0]], carrier=None, tracking_number=None)
    svc.deliver_order(merchant, orders[3])
    world.ids["order"] = orders[3]  # delivered: its timeline has placed → paid → shipped → …
    world.ids["unpaid_order"] = orders[0]
    platform.relay.drain()  # the registry marks the shipped phone sold
    device = keys.create(role=Role.DEVICE, tenant=TENANT, subject=phones[0])
    platform.registry.activate(device.principal, imei=phones[0],
                               account_token=world.keys["buyer"])
    world.ids["imei"] = phones[0]

    # an OS update in a staged rollout (active: it can be paused, resumed or halted)
    platform.ota.create_release(merchant, model=MODEL, version="1.0.0", image=b"OS 1.0.0 " * 64)
    release = platform.ota.create_release(merchant, model=MODEL, version="1.1.0",
                                          image=b"OS 1.1.0 " * 64)
    world.ids["rollout"] = platform.ota.create_rollout(merchant, release_id=release.id,
                                                       stages=[10, 50, 100]).id
    # apps in the store: one published, one refused (its signature does not verify)
    world.ids["app"] = "tests.androguard"  # TestActivity.apk's package
    developer = keys.authenticate(world.keys["developer"])
    for apk in ("TestActivity.apk", "Invalid.apk"):
        with platform.appstore.staged_upload() as staged:
            staged.write_bytes((APKS / apk).read_bytes())
            try:
                platform.appstore.upload(developer, staged)
            except Exception:  # the refused one: recorded as the store's refusal
                world.ids.setdefault("refused_apk", apk)

    # a campaign with a banner, and the launch poster's QR code for the Tmall listing
    ads = platform.campaigns
    advertiser = ads.create_advertiser(merchant, name="Meizu", domains=["meizu.com"])
    now = platform.clock.now()
    campaign = ads.create_campaign(merchant, advertiser_id=advertiser.id, name="Launch",
                                   pricing=Pricing.CPM, bid_fen=2_000, total_budget_fen=100_000,
                                   daily_budget_fen=10_000, starts_at=now - timedelta(hours=1),
                                   ends_at=now + timedelta(days=3))
    banner = io.BytesIO()
    Image.new("RGB", (320, 50), (200, 30, 30)).save(banner, "PNG")
    sha256, _ = ads.upload_image(merchant, banner.getvalue(), "image/png")
    ads.create_creative(merchant, campaign_id=campaign.id, format=AdFormat.BANNER,
                        image_sha256=sha256, title="", text="",
                        landing_kind=LandingKind.QR, landing_target="MZ22-poster")
    world.ids["campaign"] = campaign.id
    listing_id = svc.list_listings(merchant, page_request(None, 1)).items[0].id
    world.ids["listing"] = listing_id
    world.ids["qr"] = platform.qr.create(merchant, target_kind=TargetKind.LISTING,
                                         target=listing_id, campaign_id=campaign.id).id

    # a drone hub near the paid orders, and the round that took them
    hub = platform.fleet.create_hub(merchant, name="Pudong hub", location=Point(lat=31.1,
                                    lon=121.1), opens=time(0), closes=time(23, 59))
    platform.fleet.add_drone(merchant, hub_id=hub.id, payload_kg=2, range_km=20,
                             speed_kmh=54, swap_min=3)
    platform.delivery.run_round(merchant, runtime_s=1)

    # 30 days of history (the synthetic generator's) beside today's real events, ingested
    seed_history(platform.db, events=20_000, now=datetime.now(UTC), tenant=TENANT, days=30,
                 seed=14)
    platform.ingestor.drain()

    # another tenant's shop: none of it may show on meizu's pages
    other = seed_sale(platform, quantity=50, tenant=OTHER_TENANT)
    world.keys["other"] = other.merchant.token
    world.ids["other_sale"] = other.sale.id
    other_buyer = keys.create(role=Role.BUYER, tenant=OTHER_TENANT, subject="bob")
    world.ids["other_order"] = str(svc.place_flash_order(
        other_buyer.principal, other.sale.id, buyer_id="bob", quantity=1,
        channel_id=other.channels[0].principal.subject).result(10).body["id"])
    return world


class ConsoleServer:
    """``with ConsoleServer(var_dir) as world:`` the world seeded by one platform, then
    served by another on the same files, started as ``yunshang serve`` starts it (relay,
    sweeper and ingester in the background), on a free port; all stopped at exit."""

    def __init__(self, var_dir: Path) -> None:
        self.port = free_port()
        self.settings = sqlite_settings(var_dir, public_url=f"http://127.0.0.1:{self.port}")
        self.platform: Platform | None = None
        self.server: LocalServer | None = None

    def __enter__(self) -> ConsoleWorld:
        seeding = Platform(self.settings)
        seeding.migrate()
        seeding.start(background=False)
        try:
            world = seed_world(seeding)
        finally:
            seeding.stop()
        self.platform = world.platform = Platform(self.settings)
        self.platform.start(background=True)
        try:
            self.server = LocalServer(self.platform, self.port).__enter__()
        except BaseException:
            self.platform.stop()
            raise
        world.url = self.server.url
        return world

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.__exit__(*exc)
        if self.platform is not None:
            self.platform.stop()
