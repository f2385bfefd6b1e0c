"""yunshang.client's drone delivery operations against the real app over HTTP: the
merchant runs a dispatch round over a buyer's paid order, reads it back and draws its
map; the buyer tracks the parcel, which answers 404 until a round took it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import time

import pytest

from tests.factories import seed_shop
from yunshang.client import ApiError, Client
from yunshang.client.models import AddressCreate, DeliveryRead, RoundRead
from yunshang.delivery import Point
from yunshang.launch.server import LocalServer
from yunshang.platform import Platform

HUB = Point(22.2710, 113.5767)  # Zhuhai


@pytest.fixture
def served(make_platform) -> Iterator[tuple[Platform, str]]:
    platform = make_platform()
    with LocalServer(platform) as server:
        yield platform, server.url


def test_a_round_takes_the_buyers_paid_order_and_the_buyer_tracks_its_drone(served) -> None:
    platform, url = served
    shop = seed_shop(platform, shared=3)
    merchant = shop.merchant.principal
    hub = platform.fleet.create_hub(merchant, name="Zhuhai Xiangzhou", location=HUB,
                                    opens=time(0), closes=time(23, 59, 59))
    drone = platform.fleet.add_drone(merchant, hub_id=hub.id, payload_kg=1.0, range_km=20,
                                     speed_kmh=54, swap_min=5)
    near = AddressCreate(province="广东", city="珠海", lat=22.2620, lon=113.5867)
    with Client(url, shop.buyer(platform, "alice").token) as buyer, \
            Client(url, shop.merchant.token) as shop_client:
        order = buyer.checkout("alice", [(shop.shared_sku, 1)], channel_id=shop.channel_id,
                               address=near)
        buyer.pay_with_sim_wallet(buyer.start_payment(order.id).token)
        with pytest.raises(ApiError) as untaken:  # no round has taken it yet
            buyer.track_order(order.id)
        assert untaken.value.status == 404

        planned = shop_client.run_delivery_round(runtime_s=1, seed=7)
        assert isinstance(planned, RoundRead) and planned.status == "planned"
        [route] = planned.routes
        assert (route.drone_id, route.hub_id, route.stops) == (drone.id, hub.id, [order.id])
        assert planned.couriers == [] and planned.waiting == []
        assert shop_client.get_delivery_round(planned.id) == planned
        assert [r.id for r in shop_client.iter_delivery_rounds()] == [planned.id]
        assert shop_client.list_delivery_rounds(limit=1).items == [planned]

        svg = shop_client.delivery_round_map(planned.id)
        assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg
        assert b"Zhuhai Xiangzhou" in svg
        assert b"Zhuhai Xiangzhou" in shop_client.delivery_round_map(planned.id, hub_id=hub.id)
        with pytest.raises(ApiError) as nowhere:
            shop_client.delivery_round_map(planned.id, hub_id="hub_unknown")
        assert (nowhere.value.status, nowhere.value.field) == (404, "hub_id")

        tracked = buyer.track_order(order.id)
        assert isinstance(tracked, DeliveryRead)
        assert (tracked.status, tracked.carrier, tracked.round_id) == (
            "planned", "drone", planned.id)
        assert (tracked.hub_id, tracked.drone_id) == (hub.id, drone.id)
        assert tracked.eta == route.arrivals[0] and tracked.delivered_at is None
        assert shop_client.track_order(order.id) == tracked
        # the buyer's key runs no rounds
        with pytest.raises(ApiError) as refused:
            buyer.run_delivery_round()
        assert refused.value.status == 403
