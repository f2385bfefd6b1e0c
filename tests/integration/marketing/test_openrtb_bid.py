"""``POST /openrtb2/bid`` as an exchange sees it: the IAB's own example requests,
responses valid against the IAB's BidResponse schema, refusals, currencies, deadlines,
and a 400 naming the field for every malformed one."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import orjson
import pytest

from tests.conftest import PlatformFactory, sqlite_settings
from tests.factories import random_tenant
from tests.http_support import TestClient, assert_problem, bearer, open_client
from tests.openrtb_support import ScanDecider, campaign, creative
from yunshang.kernel.auth import Role
from yunshang.marketing import AdFormat, AdSlot, Campaign, Decision
from yunshang.platform import Platform

DATA = Path(__file__).parent / "openrtb"
BID = "/openrtb2/bid"


def _schema() -> dict[str, Any]:
    """The IAB's 2.4 BidResponse schema with the Bid fields 2.5 and 2.6 added."""
    schema: dict[str, Any] = json.loads((DATA / "openrtb-schema_bid-response_v2-4.json")
                                        .read_text())
    props = schema["definitions"]["bid"]["properties"]
    props.update({"burl": {"type": "string"}, "lurl": {"type": "string"},
                  "tactic": {"type": "string"}, "language": {"type": "string"},
                  "wratio": {"type": "integer", "minimum": 0},
                  "hratio": {"type": "integer", "minimum": 0},
                  "mtype": {"type": "integer", "minimum": 1, "maximum": 4},
                  "apis": {"type": "array", "items": {"type": "integer"}},
                  "cattax": {"type": "integer"}, "dur": {"type": "integer"},
                  "slotinpod": {"type": "integer"}})
    return schema


VALIDATOR = jsonschema.Draft4Validator(_schema())


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / f"iab_{name}.json").read_text())
    return loaded


@dataclass
class Exchange:
    platform: Platform
    client: TestClient
    tenant: str
    headers: dict[str, str]
    decider: ScanDecider
    released: list[str]

    def bid(self, body: Any, **headers: str) -> Any:
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        r = self.client.post(BID, content=raw, headers={
            **self.headers, "content-type": "application/json", **headers})
        if r.status_code in (200, 204):
            assert r.headers["x-openrtb-version"] == "2.6"
        if r.status_code == 200:
            VALIDATOR.validate(r.json())  # raises with the failing path
        return r

    def serve(self, *campaigns: Campaign) -> None:
        self.decider.campaigns[:] = campaigns


@pytest.fixture
def exchange(make_platform: PlatformFactory, tmp_path: Path) -> Iterator[Exchange]:
    platform = make_platform(sqlite_settings(tmp_path, ads_exchange_rates={"USD": 7.1,
                                                                          "EUR": 7.7}))
    tenant = random_tenant()
    key = platform.keys.create(role=Role.EXCHANGE, tenant=tenant, label="adx")
    decider, released = ScanDecider([]), []
    platform.openrtb.decider = decider
    platform.openrtb.release = released.append
    with open_client(platform) as client:
        yield Exchange(platform, client, tenant, bearer(key.token), decider, released)


def only_bid(r: Any) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body = r.json()
    assert [s["seat"] for s in body["seatbid"]] == ["yunshang"]
    [bid] = body["seatbid"][0]["bid"]
    return dict(bid)


def _token(url: str, kind: str) -> str:
    path = urlsplit(url).path
    assert path.startswith(f"/t/{kind}/"), url
    return path.rsplit("/", 1)[1]


# ---------------------------------------------------------------- the IAB's examples


def test_simple_banner_example_gets_a_bid_in_dollars(exchange: Exchange) -> None:
    banner = creative(AdFormat.BANNER, 300, 250)
    cmp = campaign(exchange.tenant, banner, bid_fen=5000)  # 50 CNY CPM
    exchange.serve(cmp)
    request = example("banner")
    bid = only_bid(exchange.bid(request))
    body = exchange.bid(request).json()
    assert body["id"] == request["id"] and body["cur"] == "USD"
    assert bid["impid"] == "1" and bid["crid"] == banner.id and bid["adid"] == banner.id
    assert (bid["w"], bid["h"], bid["mtype"]) == (300, 250, 1)
    # first price (at=1): the bid itself, 50 CNY at 7.1 CNY per dollar, rounded up
    assert bid["price"] == pytest.approx(7.0423, abs=1e-4) and bid["price"] >= 50 / 7.1
    assert bid["adomain"] == ["meizu.com"] and bid["cat"] == ["IAB19"]
    assert "dealid" not in bid
    assert bid["nurl"].endswith("?price=${AUCTION_PRICE}")
    assert bid["burl"].endswith("?price=${AUCTION_PRICE}")
    assert bid["lurl"].endswith("?reason=${AUCTION_LOSS}")
    token = _token(bid["nurl"], "win")
    assert _token(bid["burl"], "bill") == _token(bid["lurl"], "loss") == token
    served = exchange.platform.ad_signer.verify(token)
    assert (served.tenant, served.campaign_id, served.creative_id) == (
        exchange.tenant, cmp.id, banner.id)
    assert served.price_cpm_fen == 5000 and served.source == "adx"
    assert served.extra == {"hold": served.extra["hold"], "cur": "USD", "rate": "7.1"}
    # the markup: the image, a click through our signed click URL, an impression pixel
    assert banner.image_url in bid["adm"]
    assert f"http://127.0.0.1:8000/t/c/{token}" in bid["adm"]
    assert f"http://127.0.0.1:8000/t/i/{token}" in bid["adm"]


def test_second_price_example_pays_the_runner_up_plus_one(exchange: Exchange) -> None:
    exchange.serve(campaign(exchange.tenant, bid_fen=9000),
                   campaign(exchange.tenant, bid_fen=6000))
    bid = only_bid(exchange.bid(example("expandable")))  # at=2, floor 0.03 USD
    assert bid["price"] == pytest.approx(60.01 / 7.1, abs=1e-4)


def test_mobile_app_example_reads_the_device_and_honours_bcat_and_badv(
        exchange: Exchange) -> None:
    leaderboard = creative(AdFormat.BANNER, 728, 90)
    blocked_cat = creative(AdFormat.BANNER, 728, 90, categories=("IAB25-3",))
    blocked_adv = creative(AdFormat.BANNER, 728, 90, adomain=("www.apple.com",))
    request = example("mobile_app")
    request["cur"] = ["CNY"]
    request["device"]["geo"] = {"country": "CHN", "region": "GD", "city": "Shenzhen"}
    exchange.serve(campaign(exchange.tenant, blocked_cat, bid_fen=90000))
    assert exchange.bid(request).status_code == 204  # IAB25 blocks IAB25-3
    exchange.serve(campaign(exchange.tenant, blocked_adv, bid_fen=90000))
    assert exchange.bid(request).status_code == 204  # apple.com blocks www.apple.com
    exchange.serve(campaign(exchange.tenant, leaderboard, bid_fen=8000))
    bid = only_bid(exchange.bid(request))
    # second price (at=2) and alone: it pays the floor, 0.5 USD at 7.1 = 3.55 CNY
    assert (bid["crid"], bid["w"], bid["h"], bid["price"]) == (leaderboard.id, 728, 90, 3.55)
    slot = exchange.decider.slots[-1]
    assert (slot.source, slot.tenant, slot.device_model, slot.os_version) == (
        "adx", exchange.tenant, "iPhone", "6.1")
    assert (slot.province, slot.city) == ("GD", "Shenzhen")
    assert slot.user_key == "ffffffd5135596709273b3a1a07e466ea2bf4fff"
    assert "IAB25" in slot.blocked_categories and "apple.com" in slot.blocked_domains
    assert slot.floor_fen == 355  # 0.5 USD CPM at 7.1


def test_video_only_example_gets_no_bid(exchange: Exchange) -> None:
    exchange.serve(campaign(exchange.tenant, bid_fen=90000))
    r = exchange.bid(example("video"))
    assert r.status_code == 204 and r.content == b""
    assert exchange.decider.slots == []  # nothing we could serve: the auction is not asked


def test_private_deal_example_without_our_seat_gets_no_bid(exchange: Exchange) -> None:
    exchange.serve(campaign(exchange.tenant, bid_fen=90000))
    assert exchange.bid(example("pmp_deal")).status_code == 204  # seats Agency1/Agency2


def test_private_deal_for_our_seat_is_bid_at_or_over_its_floor(exchange: Exchange) -> None:
    request = example("pmp_deal")
    deals = request["imp"][0]["pmp"]["deals"]
    deals[1]["wseat"] = ["yunshang"]  # XY-Agency2-0001: second price, floor 2 USD
    exchange.serve(campaign(exchange.tenant, bid_fen=1000))  # 10 CNY < 14.2 CNY
    assert exchange.bid(request).status_code == 204
    exchange.serve(campaign(exchange.tenant, bid_fen=3000))
    bid = only_bid(exchange.bid(request))
    assert bid["dealid"] == "XY-Agency2-0001"
    assert bid["price"] >= 2.0
    served = exchange.platform.ad_signer.verify(_token(bid["nurl"], "win"))
    assert served.deal_id == "XY-Agency2-0001"


def test_open_auction_with_deals_may_still_be_bid_outside_them(exchange: Exchange) -> None:
    request = example("pmp_deal")
    request["imp"][0]["pmp"]["private_auction"] = 0
    exchange.serve(campaign(exchange.tenant, bid_fen=1000))
    bid = only_bid(exchange.bid(request))
    assert "dealid" not in bid


def test_native_imp_is_answered_with_native_markup(exchange: Exchange) -> None:
    native = creative(AdFormat.NATIVE, 1200, 627,
                      title="Meizu 22: the launch-day pre-order is open")
    exchange.serve(campaign(exchange.tenant, native, bid_fen=4000))
    request = copy.deepcopy(example("mobile_app"))
    request["cur"] = ["CNY"]
    request["imp"][0].pop("banner")
    request["imp"][0]["native"] = {"ver": "1.2",
                                   "request": (DATA / "native_request.json").read_text()}
    bid = only_bid(exchange.bid(request))
    assert (bid["mtype"], bid["w"], bid["h"]) == (4, 1200, 627)
    markup = json.loads(bid["adm"])["native"]
    token = _token(bid["nurl"], "win")
    assert markup["link"] == {"url": f"http://127.0.0.1:8000/t/c/{token}"}
    assert markup["eventtrackers"] == [{"event": 1, "method": 1,
                                        "url": f"http://127.0.0.1:8000/t/i/{token}"}]
    by_id = {a["id"]: a for a in markup["assets"]}
    assert by_id[1]["title"]["text"] == native.title[:25]  # the request's len
    assert by_id[2]["img"] == {"url": native.image_url, "w": 1200, "h": 627}
    assert by_id[3]["data"]["value"] == native.text
    assert 4 not in by_id  # an optional icon we have none for


def test_native_request_requiring_an_asset_we_lack_gets_no_bid(exchange: Exchange) -> None:
    exchange.serve(campaign(exchange.tenant, creative(AdFormat.NATIVE, 1200, 627)))
    native = json.loads((DATA / "native_request.json").read_text())
    native["assets"][3]["required"] = 1  # the icon
    request = {"id": "n1", "imp": [{"id": "1", "native": {"request": json.dumps(native)}}],
               "app": {"id": "a"}}
    assert exchange.bid(request).status_code == 204


@pytest.mark.parametrize("native", ["not json", '{"ver": "1.2"}', '{"assets": [{"id": "x"}]}'])
def test_an_unreadable_native_request_is_a_format_we_cannot_serve(exchange: Exchange,
                                                                  native: str) -> None:
    exchange.serve(campaign(exchange.tenant, creative(AdFormat.NATIVE, 1200, 627)),
                   campaign(exchange.tenant, creative(AdFormat.BANNER, 300, 250)))
    request = {"id": "n2", "imp": [{"id": "1", "native": {"request": native}}]}
    assert exchange.bid(request).status_code == 204
    request["imp"][0]["banner"] = {"w": 300, "h": 250}  # the imp's other format still bids
    assert only_bid(exchange.bid(request))["mtype"] == 1


# ---------------------------------------------------------------- currencies and seats


def _request(floor: float = 0.0, floorcur: str = "USD", cur: list[str] | None = None,
             **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "r1", "imp": [{"id": "1", "banner": {"w": 300, "h": 250},
                                                 "bidfloor": floor, "bidfloorcur": floorcur}],
                            "site": {"id": "s"}, "at": 1, **extra}
    if cur is not None:
        body["cur"] = cur
    return body


def test_a_floor_in_euros_is_converted_before_the_auction(exchange: Exchange) -> None:
    exchange.serve(campaign(exchange.tenant, bid_fen=700))  # 7 CNY < 1 EUR (7.7 CNY)
    assert exchange.bid(_request(1.0, "EUR", ["EUR"])).status_code == 204
    exchange.serve(campaign(exchange.tenant, bid_fen=800))
    r = exchange.bid(_request(1.0, "EUR", ["EUR"]))
    bid = only_bid(r)
    assert r.json()["cur"] == "EUR" and bid["price"] >= 1.0
    assert bid["price"] == pytest.approx(8 / 7.7, abs=1e-4)


def test_a_floor_in_an_unknown_currency_gets_no_bid(exchange: Exchange) -> None:
    exchange.serve(campaign(exchange.tenant, bid_fen=10**6))
    assert exchange.bid(_request(0.01, "GBP")).status_code == 204
    assert exchange.decider.slots == []  # never a guessed rate


def test_only_currencies_we_cannot_answer_in_gets_no_bid(exchange: Exchange) -> None:
    exchange.serve(campaign(exchange.tenant, bid_fen=1000))
    assert exchange.bid(_request(cur=["JPY"])).status_code == 204
    r = exchange.bid(_request(cur=["JPY", "EUR"]))
    assert r.status_code == 200 and r.json()["cur"] == "EUR"
    r = exchange.bid(_request())  # no cur: ours
    assert r.json()["cur"] == "CNY" and only_bid(r)["price"] == 10.0


def test_seat_lists_decide_whether_we_bid_at_all(exchange: Exchange) -> None:
    exchange.serve(campaign(exchange.tenant, bid_fen=1000))
    assert exchange.bid(_request(wseat=["someone"])).status_code == 204
    assert exchange.bid(_request(bseat=["yunshang"])).status_code == 204
    assert exchange.bid(_request(wseat=["someone", "yunshang"])).status_code == 200


def test_a_creative_of_another_size_is_not_bid(exchange: Exchange) -> None:
    exchange.serve(campaign(exchange.tenant, creative(AdFormat.BANNER, 320, 50)))
    assert exchange.bid(_request()).status_code == 204
    request = _request()
    request["imp"][0]["banner"]["format"] = [{"w": 320, "h": 50}]
    assert only_bid(exchange.bid(request))["w"] == 320


def test_each_imp_is_answered_on_its_own(exchange: Exchange) -> None:
    exchange.serve(campaign(exchange.tenant, bid_fen=1000))
    request = _request()
    request["imp"].append({"id": "v", "video": {"mimes": ["video/mp4"], "w": 640, "h": 480}})
    request["imp"].append({"id": "2", "banner": {"w": 300, "h": 250}})
    body = exchange.bid(request).json()
    assert [b["impid"] for b in body["seatbid"][0]["bid"]] == ["1", "2"]


def test_other_tenants_campaigns_do_not_bid(exchange: Exchange) -> None:
    exchange.serve(campaign(random_tenant(), bid_fen=10**6))
    assert exchange.bid(_request()).status_code == 204


# ---------------------------------------------------------------- the deadline


class SlowDecider(ScanDecider):
    def decide(self, slot: AdSlot, now: datetime) -> Decision | None:
        time.sleep(0.08)
        return super().decide(slot, now)


def test_no_time_left_is_no_bid_not_a_late_one(exchange: Exchange) -> None:
    exchange.serve(campaign(exchange.tenant, bid_fen=1000))
    # tmax within our margin (15 ms): the auction is not even asked
    assert exchange.bid(_request(tmax=10)).status_code == 204
    assert exchange.decider.slots == []
    slow = SlowDecider(exchange.decider.campaigns)
    exchange.platform.openrtb.decider = slow
    # the auction answered after the deadline: no bid, and its spend hold is given back
    assert exchange.bid(_request(tmax=50)).status_code == 204
    assert slow.held and exchange.released == slow.held
    assert exchange.bid(_request(tmax=2000)).status_code == 200


# ---------------------------------------------------------------- malformed requests

BANNER_IMP = {"id": "1", "banner": {"w": 300, "h": 250}}


def _with(path: str, value: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "r1", "imp": [copy.deepcopy(BANNER_IMP)],
                            "site": {"id": "s"}}
    *parents, last = path.split(".")
    node: Any = body
    for p in parents:
        node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
    if value is DROP:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return body


DROP = object()

MALFORMED: list[tuple[str, Any, str]] = [
    ("unreadable JSON", b'{"id": "r1", "imp": [', "body"),
    ("not an object", b"[]", "body"),
    ("no id", _with("id", DROP), "id"),
    ("id not a string", _with("id", 5), "id"),
    ("no imp", _with("imp", DROP), "imp"),
    ("empty imp", _with("imp", []), "imp"),
    ("imp not an object", _with("imp", ["1"]), "imp[0]"),
    ("imp without id", _with("imp.0.id", DROP), "imp[0].id"),
    ("imp without any format", _with("imp.0.banner", DROP), "imp[0]"),
    ("banner width a string", _with("imp.0.banner.w", "300"), "imp[0].banner.w"),
    ("banner width negative", _with("imp.0.banner.w", -1), "imp[0].banner.w"),
    ("format height a float", _with("imp.0.banner.format", [{"w": 1, "h": 2.5}]),
     "imp[0].banner.format[0].h"),
    ("negative floor", _with("imp.0.bidfloor", -0.5), "imp[0].bidfloor"),
    ("floor a string", _with("imp.0.bidfloor", "0.5"), "imp[0].bidfloor"),
    ("floor currency not ISO", _with("imp.0.bidfloorcur", "US"), "imp[0].bidfloorcur"),
    ("site and app", _with("app", {"id": "a"}), "app"),
    ("duplicated imp ids", _with("imp", [BANNER_IMP, BANNER_IMP]), "imp[1].id"),
    ("at a string", _with("at", "2"), "at"),
    ("tmax zero", _with("tmax", 0), "tmax"),
    ("cur not a list", _with("cur", "USD"), "cur"),
    ("bcat entry a number", _with("bcat", [1]), "bcat[0]"),
    ("badv not a list", _with("badv", "apple.com"), "badv"),
    ("deal without id", _with("imp.0.pmp", {"deals": [{"bidfloor": 1}]}),
     "imp[0].pmp.deals[0].id"),
    ("deal floor negative", _with("imp.0.pmp", {"deals": [{"id": "d", "bidfloor": -1}]}),
     "imp[0].pmp.deals[0].bidfloor"),
    ("private_auction 2", _with("imp.0.pmp", {"private_auction": 2}),
     "imp[0].pmp.private_auction"),
    ("latitude out of range", _with("device", {"geo": {"lat": 200}}), "device.geo.lat"),
    ("user id a number", _with("user", {"id": 7}), "user.id"),
    ("native without request", _with("imp", [{"id": "1", "native": {}}]),
     "imp[0].native.request"),
]


@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in MALFORMED],
                         ids=[name for name, _, _ in MALFORMED])
def test_every_malformed_field_is_a_400_naming_it(exchange: Exchange, body: Any,
                                                  field: str) -> None:
    exchange.serve(campaign(exchange.tenant, bid_fen=1000))
    r = exchange.bid(body)
    problem = assert_problem(r, 400, "malformed_bid_request", field)
    assert problem["errors"] and problem["errors"][0]["field"] == field


def test_only_exchange_keys_may_bid(exchange: Exchange) -> None:
    merchant = exchange.platform.keys.create(role=Role.MERCHANT, tenant=exchange.tenant)
    r = exchange.client.post(BID, json=_request(), headers=bearer(merchant.token))
    assert_problem(r, 403, "forbidden")
