"""The role matrix: every endpoint × every kind of key, over HTTP, in one seeded world.

Each route of ``create_app()`` must have a row in :data:`MATRIX` naming the
roles that may call it; a new endpoint without one fails
:func:`test_every_route_declares_its_roles`, so it cannot ship without deciding
who may use it. The table is docs/security.md (roles) in code.

A cell is *allowed* when the answer is 2xx or a domain 4xx other than
401/403/404 (a 409 for an order in the wrong state, a 422 for a junk APK: the
request got past the role check and reached the rules), or 404 where the row
says the object is not seeded. It is *refused* with 403, or with 404 for
another tenant's object. Rows run reads before writes, so that an allowed
write cannot change what a later read may see.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import PlatformFactory
from tests.factories import pay_via_provider, random_tenant, seed_sale
from tests.http_support import PROBLEM, TestClient, api_routes, bearer, open_client
from yunshang.app import create_app
from yunshang.commerce import DeliveryAddress
from yunshang.delivery import Point
from yunshang.kernel.auth import Principal, Role
from yunshang.kernel.imei import make_imei
from yunshang.kernel.pagination import page_request
from yunshang.marketing import AdFormat, LandingKind, Pricing
from yunshang.platform import Platform
from yunshang.qr import TargetKind

ROLES = ("admin", "merchant", "channel", "channel_all", "developer", "advertiser", "device",
         "buyer", "exchange", "other_merchant")

MODEL = "Meizu 22"
OK, FORBIDDEN, HIDDEN = "ok", "403", "404"


@dataclass
class World:
    """Tenant A with one of everything, the keys of every role, and tenant B's merchant."""

    platform: Platform
    keys: dict[str, dict[str, str]]
    ids: dict[str, str]
    buyer_token: str
    device: Principal


@dataclass(frozen=True)
class Row:
    """Who may call one operation, and a request for it that passes validation.

    ``allowed`` roles get through (``missing``: 404 is an allowed answer, the
    object is not seeded); everyone else 403. Another tenant's merchant gets
    404 when the merchant may call the route and it names tenant A's object
    (``names_object``), the merchant's answer otherwise (``other`` overrides).
    """

    allowed: frozenset[str]
    path: str = ""  # filled with World.ids; "" = the route's own path
    body: Callable[[World], Any] | None = None
    content: bytes | None = None
    content_type: str | None = None
    missing: bool = False
    names_object: bool = True
    other: str | None = None
    order: int = field(default=0)  # larger runs later
    before: Callable[[World], object] | None = None  # runs before each cell

    def expected(self, role: str) -> str:
        if role == "other_merchant":
            if self.other is not None:
                return self.other
            if "merchant" not in self.allowed:
                return FORBIDDEN
            return HIDDEN if self.names_object else OK
        return OK if role in self.allowed else FORBIDDEN


def roles(*names: str) -> frozenset[str]:
    """Role names; ``channel`` means both channel keys, bound and all-channels."""
    out = set(names)
    if "channel" in out:
        out.add("channel_all")
    return frozenset(out | {"admin"})  # a tenant's admin passes every role check


EVERYONE = frozenset(ROLES)
MERCHANT = roles("merchant")


#: Advertising is managed by the merchant and by the advertiser's own (bound) key.
ADVERTISING = roles("merchant", "advertiser")


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 50), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


_PNG = _png()


def _campaign_body(w: World) -> dict[str, Any]:
    now = w.platform.clock.now()
    return {"advertiser_id": w.ids["advertiser_id"], "name": "Launch", "pricing": "cpm",
            "bid_fen": 2_000, "total_budget_fen": 100_000, "daily_budget_fen": 10_000,
            "starts_at": now.isoformat(), "ends_at": (now + timedelta(days=3)).isoformat()}


def _order_body(w: World) -> dict[str, Any]:
    return {"buyer_id": "alice", "quantity": 1}


def _checkout_body(w: World) -> dict[str, Any]:
    return {"buyer_id": "alice", "channel_id": w.ids["channel_id"],
            "lines": [{"sku_id": w.ids["sku_id"], "quantity": 1}]}


def _activation(w: World) -> dict[str, Any]:
    return {"imei": w.ids["imei"], "account_token": w.buyer_token}


def _sale_body(w: World) -> dict[str, Any]:
    now = w.platform.clock.now()
    return {"sku_id": w.ids["sku_id"], "price": {"amount": 100}, "quantity": 1,
            "starts_at": (now + timedelta(days=1)).isoformat(),
            "ends_at": (now + timedelta(days=2)).isoformat()}


def _reactivate(w: World) -> None:
    """Alice's phone is activated again, so that every allowed key can release it."""
    w.platform.registry.activate(w.device, imei=w.ids["imei"], account_token=w.buyer_token)


def _telemetry(w: World) -> dict[str, Any]:
    return {"events": [{"kind": "app_open", "at": w.platform.clock.now().isoformat(),
                        "package": "com.example"}]}


#: "METHOD /path" → who may call it. Roles: admin, merchant, channel (bound and
#: all-channels), developer, advertiser, device, buyer.
MATRIX: dict[str, Row] = {
    # ---------------------------------------------------------------- commerce
    "POST /v1/products": Row(MERCHANT, body=lambda w: {
        "name": "Meizu 23", "brand": "Meizu",
        "skus": [{"color": "Red", "storage_gb": 128, "price": {"amount": 1}}]},
        names_object=False, order=1),
    "GET /v1/products": Row(roles("merchant", "channel", "buyer"), names_object=False),
    "GET /v1/products/{product_id}": Row(roles("merchant", "channel", "buyer")),
    "POST /v1/skus/{sku_id}/restock": Row(MERCHANT, body=lambda w: {"quantity": 1}, order=1),
    "POST /v1/channels": Row(MERCHANT, body=lambda w: {"name": f"Store {len(w.ids)}"},
                             names_object=False, other=OK, order=1),
    "GET /v1/channels": Row(roles("merchant", "channel"), names_object=False),
    "POST /v1/listings": Row(MERCHANT, body=lambda w: {
        "sku_id": w.ids["sku_id"], "channel_id": w.ids["channel_id"],
        "price": {"amount": 1}}, order=1),
    "GET /v1/listings": Row(roles("merchant", "channel"), names_object=False),
    "POST /v1/flash-sales": Row(MERCHANT, body=_sale_body, order=1),
    "GET /v1/flash-sales": Row(roles("merchant", "channel", "buyer"), names_object=False),
    "GET /v1/flash-sales/{sale_id}": Row(roles("merchant", "channel", "buyer")),
    "POST /v1/flash-sales/{sale_id}/orders": Row(roles("merchant", "channel", "buyer"),
                                                 body=_order_body, order=1),
    "POST /v1/orders": Row(roles("merchant", "channel", "buyer"), body=_checkout_body, order=1),
    "GET /v1/orders": Row(roles("merchant", "channel", "buyer"), names_object=False),
    "GET /v1/orders/{order_id}": Row(roles("merchant", "channel", "buyer")),
    # marking paid by hand is the platform operator's recorded override: no tenant key
    "POST /v1/orders/{order_id}/pay": Row(frozenset(), order=1),
    "POST /v1/orders/{order_id}/payments": Row(frozenset({"channel", "channel_all", "buyer"}),
                                              order=1),
    "GET /v1/payments/notifications": Row(MERCHANT, names_object=False),
    # the provider's side: no API key (a signature, a wallet token); unknown ones are 404
    "POST /v1/payments/notify/{provider}": Row(
        EVERYONE, path="/v1/payments/notify/nosuch", missing=True, names_object=False,
        content=b"out_trade_no=x", content_type="application/x-www-form-urlencoded"),
    "POST /v1/payments/sim/{token}/complete": Row(
        EVERYONE, path="/v1/payments/sim/tok_unknown/complete", missing=True,
        names_object=False),
    "POST /v1/orders/{order_id}/ship": Row(MERCHANT, body=lambda w: {
        "imeis": [make_imei("86451205", 1)]}, order=1),
    "POST /v1/orders/{order_id}/deliver": Row(roles("merchant", "channel"), order=1),
    "POST /v1/orders/{order_id}/confirm": Row(roles("channel", "buyer"), order=1),
    "POST /v1/orders/{order_id}/cancel": Row(roles("merchant", "channel", "buyer"), order=2),
    "POST /v1/orders/{order_id}/refund": Row(roles("merchant", "channel"), order=2),
    "GET /v1/ledger/balances": Row(roles(), names_object=False),
    # the seeded order is shipped, not delivered: an allowed request gets 409 not_returnable
    "POST /v1/orders/{order_id}/returns": Row(roles("channel", "buyer"),
                                             body=lambda w: {"reason": "changed my mind"},
                                             order=1),
    "GET /v1/returns": Row(roles("merchant", "channel", "buyer"), names_object=False),
    "GET /v1/returns/{return_id}": Row(roles("merchant", "channel", "buyer")),
    "POST /v1/returns/{return_id}/receive": Row(MERCHANT, body=lambda w: {
        "units": [{"sku_id": w.ids["sku_id"], "resellable": 1}]}, order=1),
    # ---------------------------------------------------------------- advertising
    "POST /v1/advertisers": Row(MERCHANT, body=lambda w: {"name": "Flyme", "domains": [
        "flyme.cn"]}, names_object=False, other=OK, order=1),
    "GET /v1/advertisers": Row(ADVERTISING, names_object=False),
    "GET /v1/advertisers/{advertiser_id}": Row(ADVERTISING),
    "POST /v1/campaigns": Row(ADVERTISING, body=_campaign_body, order=1),
    "GET /v1/campaigns": Row(ADVERTISING, names_object=False),
    "GET /v1/campaigns/{campaign_id}": Row(ADVERTISING),
    "PATCH /v1/campaigns/{campaign_id}": Row(ADVERTISING, body=lambda w: {"bid_fen": 2_500},
                                             order=1),
    "POST /v1/campaigns/{campaign_id}/activate": Row(ADVERTISING, order=1),
    "POST /v1/campaigns/{campaign_id}/pause": Row(ADVERTISING, order=2),
    "POST /v1/campaigns/{campaign_id}/end": Row(ADVERTISING, order=3),
    "POST /v1/qr/render": Row(ADVERTISING, path="/v1/qr/render?data=https://ys.example/q/m1",
                              names_object=False),
    "POST /v1/creatives/images": Row(ADVERTISING, content=_PNG, content_type="image/png",
                                     names_object=False, other=OK, order=1),
    "GET /v1/creatives/images/{image}": Row(EVERYONE, names_object=False),
    "POST /v1/creatives": Row(ADVERTISING, body=lambda w: {
        "campaign_id": w.ids["campaign_id"], "format": "banner",
        "image_sha256": w.ids["image"].split(".")[0],
        "landing": {"kind": "qr", "target_id": "MZ22-poster"}}, order=1),
    "GET /v1/creatives": Row(ADVERTISING, names_object=False),
    "GET /v1/creatives/{creative_id}": Row(ADVERTISING),
    # an admin key names no phone: a 422 asking for one (the role check let it through)
    "POST /v1/ads/requests": Row(roles("device"), body=lambda w: {
        "slot_id": "home", "formats": [{"format": "banner", "w": 320, "h": 50}]}),
    # ---------------------------------------------------------------- device registry
    "POST /v1/devices/import": Row(MERCHANT, content=b"imei,model,serial,os_version,"
                                   b"api_level\n", content_type="text/csv",
                                   names_object=False, order=1),
    "GET /v1/devices": Row(roles("merchant", "device", "buyer"), names_object=False),
    "GET /v1/devices/{imei}": Row(roles("merchant", "device", "buyer")),
    "POST /v1/devices/activate": Row(roles("device"), body=_activation, order=2),
    "POST /v1/devices/{imei}/release": Row(roles("buyer", "device"), body=lambda w: {
        "account_token": w.buyer_token}, before=_reactivate, order=1),
    "POST /v1/devices/{imei}/telemetry": Row(roles("device"), body=_telemetry, order=1),
    # ---------------------------------------------------------------- OTA
    "POST /v1/releases": Row(MERCHANT, path=f"/v1/releases?model={MODEL}&version=9.0.0",
                             content=b"an OS image", content_type="application/octet-stream",
                             names_object=False, order=1),
    "GET /v1/releases": Row(MERCHANT, names_object=False),
    "GET /v1/releases/{release_id}": Row(MERCHANT),
    "POST /v1/rollouts": Row(MERCHANT, body=lambda w: {"release_id": w.ids["release_id"]},
                             order=1),
    "GET /v1/rollouts": Row(MERCHANT, names_object=False),
    "GET /v1/rollouts/{rollout_id}": Row(MERCHANT),
    "GET /v1/rollouts/{rollout_id}/reports": Row(MERCHANT),
    "POST /v1/rollouts/{rollout_id}/pause": Row(MERCHANT, order=1),
    "POST /v1/rollouts/{rollout_id}/resume": Row(MERCHANT, order=1),
    "POST /v1/rollouts/{rollout_id}/halt": Row(MERCHANT, order=2),
    "POST /v1/devices/{imei}/check-in": Row(roles("device"), body=lambda w: {}, order=1),
    "POST /v1/devices/{imei}/update-reports": Row(roles("device"), body=lambda w: {
        "rollout_id": w.ids["rollout_id"], "success": True}, order=1),
    "GET /v1/tuf/metadata/{name}": Row(EVERYONE, path="/v1/tuf/metadata/timestamp.json",
                                       names_object=False),
    "GET /v1/tuf/targets/{target:path}": Row(EVERYONE, path="/v1/tuf/targets/nothing/here",
                                             missing=True, names_object=False),
    # ---------------------------------------------------------------- app store
    "POST /v1/apps": Row(roles("developer"), content=b"not an APK",
                         content_type="application/vnd.android.package-archive",
                         names_object=False, order=1),
    "GET /v1/apps": Row(roles("developer"), names_object=False),
    "GET /v1/apps/{package}": Row(roles("developer", "device"), path="/v1/apps/com.example",
                                  missing=True),
    "GET /v1/apps/{package}/versions": Row(roles("developer", "device"), missing=True,
                                           path="/v1/apps/com.example/versions"),
    "GET /v1/apps/{package}/versions/{version_code}/apk": Row(
        roles("developer", "device"), path="/v1/apps/com.example/versions/1/apk",
        missing=True),
    "GET /v1/devices/{imei}/apps/available": Row(roles("merchant", "device")),
    "GET /v1/devices/{imei}/apps": Row(roles("merchant", "device")),
    "POST /v1/devices/{imei}/apps/{package}/install": Row(
        roles("device"), path="/v1/devices/{imei}/apps/com.example/install", missing=True,
        order=1),
    "POST /v1/devices/{imei}/apps/{package}/uninstall": Row(
        roles("device"), path="/v1/devices/{imei}/apps/com.example/uninstall", missing=True,
        order=1),
    # ---------------------------------------------------------------- ad tracking
    # the signed token is the credential: no API key; a token we never signed is a 422
    **{f"GET /t/{kind}/{{token}}": Row(EVERYONE, path=f"/t/{kind}/not-a-token",
                                       names_object=False)
       for kind in ("i", "c", "win", "bill", "loss")},
    # the world's advertiser key is bound to no advertiser: 403 until it is
    "GET /v1/campaigns/{campaign_id}/report": Row(ADVERTISING),
    # ---------------------------------------------------------------- QR short codes
    # an advertiser key makes codes of its own campaigns; a scan needs no key (any key is
    # taken, and ignored unless it names a phone or buyer of the code's tenant); the client
    # follows the redirect to the listing's page, which this app does not serve: 404
    "POST /v1/qr-codes": Row(ADVERTISING, body=lambda w: {
        "target_kind": "listing", "target": w.ids["listing_id"],
        "campaign_id": w.ids["campaign_id"]}, order=1),
    "GET /v1/qr-codes": Row(ADVERTISING, names_object=False),
    "GET /v1/qr-codes/{code_id}": Row(ADVERTISING),
    "GET /v1/qr-codes/{code_id}/scans": Row(ADVERTISING),
    "POST /v1/qr-codes/{code_id}/disable": Row(ADVERTISING, order=1),
    "POST /v1/qr-codes/{code_id}/enable": Row(ADVERTISING, order=2),
    "GET /q/{code:path}": Row(EVERYONE, path="/q/{code}", missing=True, names_object=False),
    # ---------------------------------------------------------------- delivery fleet
    "POST /v1/delivery/hubs": Row(MERCHANT, body=lambda w: {
        "name": "Hub 2", "location": {"lat": 30.5, "lon": 120.5}, "opens": "08:00",
        "closes": "20:00"}, names_object=False, order=1),
    "GET /v1/delivery/hubs": Row(MERCHANT, names_object=False),
    "GET /v1/delivery/hubs/{hub_id}": Row(MERCHANT),
    "POST /v1/delivery/drones": Row(MERCHANT, body=lambda w: {
        "hub_id": w.ids["hub_id"], "payload_kg": 1, "range_km": 10, "speed_kmh": 40},
        order=1),
    "GET /v1/delivery/drones": Row(MERCHANT, names_object=False),
    "GET /v1/delivery/drones/{drone_id}": Row(MERCHANT),
    "POST /v1/delivery/zones": Row(MERCHANT, body=lambda w: {
        "name": "port", "geometry": {"type": "Polygon", "coordinates": [
            [[122.0, 32.0], [122.1, 32.0], [122.1, 32.1], [122.0, 32.0]]]}},
        names_object=False, order=1),
    "POST /v1/delivery/zones/import": Row(MERCHANT, body=lambda w: {
        "type": "Polygon", "coordinates": [
            [[123.0, 32.0], [123.1, 32.0], [123.1, 32.1], [123.0, 32.0]]]},
        names_object=False, order=1),
    "GET /v1/delivery/zones": Row(MERCHANT, names_object=False),
    "GET /v1/delivery/zones/{zone_id}": Row(MERCHANT),
    # ---------------------------------------------------------------- dispatch, tracking
    # another tenant's merchant runs a round over its own (empty) orders: allowed
    "POST /v1/delivery/rounds": Row(MERCHANT, body=lambda w: {"runtime_s": 1},
                                    names_object=False, order=1),
    "GET /v1/delivery/rounds": Row(MERCHANT, names_object=False),
    "GET /v1/delivery/rounds/{round_id}": Row(MERCHANT),
    "GET /v1/delivery/rounds/{round_id}/map.svg": Row(MERCHANT),
    # the seeded round took the seeded order: whoever may read the order tracks its parcel
    "GET /v1/orders/{order_id}/delivery": Row(roles("merchant", "channel", "buyer")),
    # ---------------------------------------------------------------- analytics, ops
    "GET /v1/analytics": Row(MERCHANT, names_object=False),
    "GET /v1/analytics/{metric}": Row(MERCHANT, path="/v1/analytics/sales",
                                      names_object=False),
    # ---------------------------------------------------------------- marketing
    "POST /openrtb2/bid": Row(roles("exchange"), body=lambda w: {
        "id": "rq1", "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}]},
        names_object=False),
    "GET /healthz": Row(EVERYONE, names_object=False),
    "GET /livez": Row(EVERYONE, names_object=False),
    "GET /readyz": Row(EVERYONE, names_object=False),
    # the platform operator's (admin key of the platform tenant): no tenant's key
    "GET /metrics": Row(frozenset(), names_object=False),
    "GET /v1/admin/parked-events": Row(frozenset(), names_object=False),
    "POST /v1/admin/parked-events/{parked_id}/replay": Row(
        frozenset(), path="/v1/admin/parked-events/prk_unknown/replay", names_object=False),
}


def operations() -> Iterator[str]:
    for route in api_routes(create_app()):
        if route.endpoint.__module__.startswith("yunshang.console"):
            # the web console's pages: signed in with a session, not a bearer key; what each
            # role sees there is the services' own checks (tests/integration/console)
            continue
        for method in sorted(route.methods - {"HEAD"}):
            yield f"{method} {route.path}"


def test_every_route_declares_its_roles() -> None:
    ops = set(operations())
    assert not ops - MATRIX.keys(), (
        "routes missing from the role matrix (declare who may call them here and in "
        f"docs/security.md (roles)): {sorted(ops - MATRIX.keys())}")
    assert not MATRIX.keys() - ops, f"rows for routes that are gone: {sorted(MATRIX.keys() - ops)}"


def _world(platform: Platform) -> World:
    seeded = seed_sale(platform, quantity=100, limit=50, stock=200)
    svc, keys, merchant = platform.commerce, platform.keys, seeded.merchant.principal
    tenant = seeded.tenant
    channel_x = seeded.channels[0].principal.subject
    assert channel_x is not None
    buyer = keys.create(role=Role.BUYER, tenant=tenant, subject="alice")
    imei, returned = make_imei("86451206", 1), make_imei("86451206", 2)
    platform.registry.import_batch(merchant, "imei,model,serial,os_version,api_level\n"
                                   f"{imei},{MODEL},SN1,1.0.0,34\n"
                                   f"{returned},{MODEL},SN2,1.0.0,34\n")
    hub = platform.fleet.create_hub(merchant, name="Hub", location=Point(lat=31.1, lon=121.1),
                                    opens=time(8), closes=time(20))
    drone = platform.fleet.add_drone(merchant, hub_id=hub.id, payload_kg=2, range_km=20,
                                     speed_kmh=54, swap_min=3)
    zone = platform.fleet.import_zones(merchant, {"type": "Polygon", "coordinates": [
        [[121.5, 31.5], [121.6, 31.5], [121.6, 31.6], [121.5, 31.5]]]})[0]
    order = svc.place_flash_order(buyer.principal, seeded.sale.id, buyer_id="alice",
                                  quantity=1, channel_id=channel_x, address=DeliveryAddress(
                                      province="Shanghai", city="Shanghai", district=None,
                                      street=None, lat=31.11, lon=121.11)).result(10)
    order_id = str(order.body["id"])
    pay_via_provider(platform, buyer.principal, order_id)
    # a dispatch round takes the paid order: a drone flies it
    dispatched = platform.delivery.run_round(merchant, runtime_s=1)
    assert [r.stops for r in dispatched.plan.routes] == [(order_id,)]
    svc.ship_order(merchant, order_id, imeis=[imei], carrier=None, tracking_number=None)
    # a delivered order of alice's whose return waits for the merchant
    second = str(svc.place_flash_order(buyer.principal, seeded.sale.id, buyer_id="alice",
                                       quantity=1, channel_id=channel_x).result(10).body["id"])
    pay_via_provider(platform, buyer.principal, second)
    svc.ship_order(merchant, second, imeis=[returned], carrier=None, tracking_number=None)
    svc.deliver_order(merchant, second)
    return_id = svc.request_return(buyer.principal, second, reason="does not fit").id
    platform.relay.drain()  # the registry marks the phone sold
    device = keys.create(role=Role.DEVICE, tenant=tenant, subject=imei)
    platform.registry.activate(device.principal, imei=imei, account_token=buyer.token)
    release = platform.ota.create_release(merchant, model=MODEL, version="2.0.0",
                                          image=b"an OS image, version 2")
    rollout = platform.ota.create_rollout(merchant, release_id=release.id)
    other = keys.create(role=Role.MERCHANT, tenant=random_tenant())
    ads = platform.campaigns
    advertiser = ads.create_advertiser(merchant, name="Meizu", domains=["meizu.com"])
    now = platform.clock.now()
    campaign = ads.create_campaign(merchant, advertiser_id=advertiser.id, name="Launch",
                                   pricing=Pricing.CPM, bid_fen=2_000, total_budget_fen=100_000,
                                   daily_budget_fen=10_000, starts_at=now,
                                   ends_at=now + timedelta(days=3))
    sha256, _ = ads.upload_image(merchant, _PNG, "image/png")
    creative = ads.create_creative(merchant, campaign_id=campaign.id, format=AdFormat.BANNER,
                                   image_sha256=sha256, title="", text="",
                                   landing_kind=LandingKind.QR, landing_target="MZ22-poster")
    listing_id = svc.list_listings(merchant, page_request(None, 1)).items[0].id
    qr = platform.qr.create(merchant, target_kind=TargetKind.LISTING, target=listing_id,
                            campaign_id=campaign.id)
    issued = {
        "admin": keys.create(role=Role.ADMIN, tenant=tenant),
        "merchant": seeded.merchant,
        "channel": seeded.channels[0],
        "channel_all": keys.create(role=Role.CHANNEL, tenant=tenant, all_channels=True),
        "developer": keys.create(role=Role.DEVELOPER, tenant=tenant),
        "advertiser": keys.create(role=Role.ADVERTISER, tenant=tenant, subject=advertiser.id),
        "device": device,
        "buyer": buyer,
        "exchange": keys.create(role=Role.EXCHANGE, tenant=tenant, label="adx"),
        "other_merchant": other,
    }
    ids = {"product_id": seeded.product.id, "sku_id": seeded.product.skus[0].id,
           "sale_id": seeded.sale.id, "order_id": order_id, "imei": imei,
           "channel_id": channel_x, "release_id": release.id, "rollout_id": rollout.id,
           "return_id": return_id, "advertiser_id": advertiser.id,
           "campaign_id": campaign.id, "creative_id": creative.id, "image": f"{sha256}.png",
           "listing_id": listing_id, "code_id": qr.id, "code": qr.code,
           "hub_id": hub.id, "drone_id": drone.id, "zone_id": zone.id,
           "round_id": dispatched.id}
    return World(platform=platform, keys={r: bearer(k.token) for r, k in issued.items()},
                 ids=ids, buyer_token=buyer.token, device=device.principal)


def _send(client: TestClient, w: World, op: str, row: Row, role: str) -> httpx.Response:
    method, template = op.split(" ", 1)
    path = row.path or template
    for name, value in w.ids.items():
        path = path.replace(f"{{{name}}}", value)
    headers = dict(w.keys[role])
    if row.content is not None:
        headers["Content-Type"] = row.content_type or "application/octet-stream"
        return client.request(method, path, content=row.content, headers=headers)
    body = row.body(w) if row.body else None
    return client.request(method, path, json=body, headers=headers)


def _verdict(r: httpx.Response, row: Row) -> str:
    if r.status_code == 403:
        return FORBIDDEN
    if r.status_code == 404 and not row.missing:
        return HIDDEN
    if r.status_code < 500 and r.status_code not in (401, 403):
        return OK
    return f"status {r.status_code}"


@pytest.fixture
def world(make_platform: PlatformFactory) -> Iterator[tuple[World, TestClient]]:
    platform = make_platform()
    with open_client(platform) as client:
        yield _world(platform), client


def test_role_matrix(world: tuple[World, TestClient]) -> None:
    """Every endpoint × every role answers as the matrix says (all cells, then one report)."""
    w, client = world
    wrong: list[str] = []
    for op, row in sorted(MATRIX.items(), key=lambda kv: (kv[1].order, kv[0])):
        for role in ROLES:
            if row.before is not None:
                row.before(w)
            r = _send(client, w, op, row, role)
            got, want = _verdict(r, row), row.expected(role)
            if got != want:
                wrong.append(f"{op} as {role}: want {want}, got {r.status_code} {r.text[:160]}")
            elif want != OK:
                assert r.headers["content-type"].startswith(PROBLEM), (op, role, r.text)
    assert not wrong, "\n".join(wrong)
