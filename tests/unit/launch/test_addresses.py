"""The launch day's buyers live around five real city centres, each at a fixed address."""

from __future__ import annotations

import math
from collections import Counter

from yunshang.launch.addresses import CITIES, SPREAD_KM, buyer_address


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def test_every_buyer_lives_near_their_citys_centre() -> None:
    centres = {c.name: c for c in CITIES}
    seen: Counter[str] = Counter()
    farthest = 0.0
    for i in range(600):
        address = buyer_address(f"buyer-{i}")
        city = centres[address.city]
        assert address.province == city.province
        assert address.district is not None and address.district.root in city.districts
        distance = _km(address.lat, address.lon, city.lat, city.lon)
        assert distance <= SPREAD_KM * 1.01, (address, distance)
        farthest = max(farthest, distance)
        seen[city.name] += 1
    assert set(seen) == {"Zhuhai", "Shenzhen", "Hangzhou", "Shanghai", "Beijing"}
    assert seen.most_common(1)[0][0] == "Zhuhai"  # Meizu's home has the most buyers
    assert farthest > SPREAD_KM / 2  # spread around the centre, not piled on it


def test_a_buyers_address_is_the_same_on_every_run() -> None:
    assert buyer_address("shopper-0007") == buyer_address("shopper-0007")
    assert buyer_address("shopper-0007") != buyer_address("shopper-0008")
