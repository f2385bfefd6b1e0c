"""Schemathesis against the ASGI app, once per role: every check it has, none turned off.

A seeded world (a tenant with a product, listings, a flash sale, orders, a phone
with its device key, a release and its rollout, an app in the store, a drone fleet
and a dispatch round that took the paid order) gives the path parameters real ids
as OpenAPI examples, so generated requests reach 2xx answers and not only 404s. Each
role's run is bounded (a few examples per operation, a fixed seed, derandomised) so it
stays lean; the full matrix of roles is ``slow`` (CI runs it) and the default run keeps
two roles.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from PIL import Image
from schemathesis.config import SchemathesisConfig

import yunshang.launch
from tests.conftest import sqlite_settings
from tests.factories import pay_via_provider, random_tenant, seed_sale
from tests.http_support import bearer
from yunshang.app import create_app
from yunshang.commerce import DeliveryAddress
from yunshang.delivery import Point
from yunshang.kernel.auth import PLATFORM_TENANT, Role
from yunshang.kernel.clock import ManualClock
from yunshang.kernel.imei import make_imei
from yunshang.kernel.pagination import page_request
from yunshang.marketing import AdFormat, LandingKind, Pricing
from yunshang.platform import Platform
from yunshang.qr import TargetKind

MODEL = "Meizu 22"
APP = "tests.androguard"  # TestActivity.apk's package
APKS = Path(yunshang.launch.__file__).parent / "apks"

#: Roles the default run covers; the rest run under ``slow`` (CI runs them all).
QUICK = ("merchant", "device")
SLOW = ("admin", "channel", "buyer", "developer", "advertiser", "exchange")


@dataclass
class ContractWorld:
    platform: Platform
    keys: dict[str, str]  # role -> bearer token
    ids: dict[str, str]  # path parameter name -> an existing object's id


def build_world(platform: Platform) -> ContractWorld:
    seeded = seed_sale(platform, quantity=100, limit=50, stock=200)
    svc, keys, merchant = platform.commerce, platform.keys, seeded.merchant.principal
    tenant = seeded.tenant
    channel = seeded.channels[0]
    buyer = keys.create(role=Role.BUYER, tenant=tenant, subject="alice")
    phones = [make_imei("86451207", n) for n in (1, 2)]
    platform.registry.import_batch(merchant, "imei,model,serial,os_version,api_level\n" + "".join(
        f"{i},{MODEL},SN{n},1.0.0,34\n" for n, i in enumerate(phones)))
    # the paid one (orders[1]) goes to an address a drone of the hub below reaches
    near_hub = DeliveryAddress(province="Shanghai", city="Shanghai", district=None,
                               street=None, lat=31.11, lon=121.11)
    orders = [str(svc.place_flash_order(buyer.principal, seeded.sale.id, buyer_id="alice",
                                        quantity=1, channel_id=channel.principal.subject,
                                        address=near_hub if n == 1 else None)
                  .result(10).body["id"]) for n in range(3)]
    pay_via_provider(platform, buyer.principal, orders[1])
    pay_via_provider(platform, buyer.principal, orders[2])
    svc.ship_order(merchant, orders[2], imeis=[phones[0]], carrier=None, tracking_number=None)
    svc.deliver_order(merchant, orders[2])
    returned = svc.request_return(buyer.principal, orders[2], reason="changed my mind")
    payment, _ = svc.start_payment(buyer.principal, orders[0])
    platform.relay.drain()  # the registry marks the phone sold
    device = keys.create(role=Role.DEVICE, tenant=tenant, subject=phones[0])
    platform.registry.activate(device.principal, imei=phones[0], account_token=buyer.token)
    release = platform.ota.create_release(merchant, model=MODEL, version="2.0.0",
                                          image=b"an OS image, version 2")
    rollout = platform.ota.create_rollout(merchant, release_id=release.id)
    developer = keys.create(role=Role.DEVELOPER, tenant=random_tenant())
    with platform.appstore.staged_upload() as staged:
        staged.write_bytes((APKS / "TestActivity.apk").read_bytes())
        platform.appstore.upload(developer.principal, staged)
    ads = platform.campaigns
    advertiser = ads.create_advertiser(merchant, name="Meizu", domains=["meizu.com"])
    now = platform.clock.now()
    campaign = ads.create_campaign(merchant, advertiser_id=advertiser.id, name="Launch",
                                   pricing=Pricing.CPM, bid_fen=2_000, total_budget_fen=100_000,
                                   daily_budget_fen=10_000, starts_at=now,
                                   ends_at=now + timedelta(days=3))
    banner = io.BytesIO()
    Image.new("RGB", (320, 50), (200, 30, 30)).save(banner, "PNG")
    sha256, _ = ads.upload_image(merchant, banner.getvalue(), "image/png")
    creative = ads.create_creative(merchant, campaign_id=campaign.id, format=AdFormat.BANNER,
                                   image_sha256=sha256, title="", text="",
                                   landing_kind=LandingKind.QR, landing_target="MZ22-poster")
    listing_id = svc.list_listings(merchant, page_request(None, 1)).items[0].id
    qr = platform.qr.create(merchant, target_kind=TargetKind.LISTING, target=listing_id,
                            campaign_id=campaign.id)
    hub = platform.fleet.create_hub(merchant, name="Hub", location=Point(lat=31.1, lon=121.1),
                                    opens=time(8), closes=time(20))
    drone = platform.fleet.add_drone(merchant, hub_id=hub.id, payload_kg=2, range_km=20,
                                     speed_kmh=54, swap_min=3)
    zone = platform.fleet.import_zones(merchant, {"type": "Polygon", "coordinates": [
        [[121.5, 31.5], [121.6, 31.5], [121.6, 31.6], [121.5, 31.5]]]})[0]
    # a dispatch round takes the paid order: its parcel is tracked, the round has a map
    dispatched = platform.delivery.run_round(merchant, runtime_s=1)
    assert [r.stops for r in dispatched.plan.routes] == [(orders[1],)]
    issued = {
        "admin": keys.create(role=Role.ADMIN, tenant=PLATFORM_TENANT),
        "merchant": seeded.merchant,
        "channel": channel,
        "buyer": buyer,
        "developer": developer,
        "device": device,
        "advertiser": keys.create(role=Role.ADVERTISER, tenant=tenant, subject=advertiser.id),
        "exchange": keys.create(role=Role.EXCHANGE, tenant=tenant, label="adx"),
    }
    ids = {"product_id": seeded.product.id, "sku_id": seeded.product.skus[0].id,
           "sale_id": seeded.sale.id, "order_id": orders[1], "imei": phones[0],
           "release_id": release.id, "rollout_id": rollout.id, "package": APP,
           "version_code": "1", "provider": "sim", "token": payment.token,
           "name": "timestamp.json", "target": release.image_target, "metric": "sales",
           "parked_id": "pev_unknown", "return_id": returned.id,
           "advertiser_id": advertiser.id, "campaign_id": campaign.id,
           "creative_id": creative.id, "image": f"{sha256}.png",
           "code_id": qr.id, "code": qr.code, "hub_id": hub.id, "drone_id": drone.id,
           "zone_id": zone.id, "round_id": dispatched.id}
    return ContractWorld(platform=platform, keys={r: k.token for r, k in issued.items()},
                         ids=ids)


def with_examples(doc: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """The document with the seeded objects' ids as examples of the path parameters."""
    doc = copy.deepcopy(doc)
    for operations in doc["paths"].values():
        for op in operations.values():
            for param in op.get("parameters", []):
                if param["in"] == "path" and param["name"] in ids:
                    param["example"] = ids[param["name"]]
    return doc


@pytest.fixture(scope="module")
def contract_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContractWorld]:
    from datetime import UTC, datetime

    platform = Platform(sqlite_settings(tmp_path_factory.mktemp("contract")),
                        ManualClock(datetime(2026, 11, 11, 9, 0, tzinfo=UTC)))
    platform.migrate()
    platform.start(background=False)
    try:
        yield build_world(platform)
    finally:
        platform.stop()


CONFIG = {
    "seed": 10,
    "generation": {"max-examples": 3, "deterministic": True},
    "phases": {"stateful": {"enabled": False}},
    # Our 422 also refuses well-formed input that the rules refuse and a schema cannot
    # express: a cursor this API did not return, a sku that does not exist, a channel
    # that does not run the sale, an end before its start, a file that is not an APK.
    # It is still a problem document naming the field; every other status keeps the
    # check's defaults.
    "checks": {"positive_data_acceptance": {"expected-statuses": [
        "2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]}},
    # OpenRTB callers expect 400, not 422, for a malformed bid request, and some of its
    # rules are beyond a schema too (imp ids unique within the request)
    "operations": [{"include-path": "/openrtb2/bid", "checks": {
        "positive_data_acceptance": {"expected-statuses": [
            "2xx", "400", "401", "403", "429", "5xx"]}}}],
}


@pytest.fixture(params=[*QUICK, *(pytest.param(r, marks=pytest.mark.slow) for r in SLOW)])
def api_schema(request: pytest.FixtureRequest, contract_world: ContractWorld) -> Any:
    # schemathesis' lazy schemas rename the test item through ``_nodeid``, which pytest 9
    # items no longer have (they keep ``nodeid``); give it the current one to rename.
    request.node._nodeid = request.node.nodeid
    app = create_app(platform=contract_world.platform)
    doc = with_examples(app.openapi(), contract_world.ids)
    config = SchemathesisConfig.from_dict(
        {**CONFIG, "headers": bearer(contract_world.keys[request.param])})
    schema = schemathesis.openapi.from_dict(doc, config=config)
    schema.app = app
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None, database=None)
def test_the_api_keeps_its_documented_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()
