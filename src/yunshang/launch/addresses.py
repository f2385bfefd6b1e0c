"""Where the launch day's buyers live: a delivery address for each, so the delivery
stage has somewhere to fly.

Five cities with their real centres (WGS-84) — Zhuhai, Meizu's home, first — and
buyers spread around each centre, up to ``SPREAD_KM`` out. A buyer's address comes
from their id alone (its own seeded generator), so it is the same on every run and
drawing it changes nothing else the demo draws.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from yunshang.client.models import AddressCreate

#: How far from its city's centre a buyer may live.
SPREAD_KM = 6.0
_KM_PER_DEGREE = 111.32


@dataclass(frozen=True, slots=True)
class City:
    province: str
    name: str
    lat: float
    lon: float
    districts: tuple[str, ...]
    weight: float  # share of the buyers


CITIES = (
    City("Guangdong", "Zhuhai", 22.2710, 113.5767, ("Xiangzhou", "Jinwan", "Doumen"), 0.30),
    City("Guangdong", "Shenzhen", 22.5431, 114.0579, ("Futian", "Nanshan", "Luohu"), 0.20),
    City("Zhejiang", "Hangzhou", 30.2741, 120.1551, ("Xihu", "Shangcheng", "Binjiang"), 0.20),
    City("Shanghai", "Shanghai", 31.2304, 121.4737, ("Huangpu", "Pudong", "Xuhui"), 0.15),
    City("Beijing", "Beijing", 39.9042, 116.4074, ("Dongcheng", "Chaoyang", "Haidian"), 0.15),
)


def buyer_address(buyer_id: str) -> AddressCreate:
    """The buyer's delivery address: a city by the shares above, a point spread evenly
    over the disc of ``SPREAD_KM`` around its centre, a district and a street line."""
    rng = random.Random(f"address:{buyer_id}")
    city = rng.choices(CITIES, weights=[c.weight for c in CITIES])[0]
    distance = SPREAD_KM * math.sqrt(rng.random())  # even over the disc, not the centre
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = distance * math.cos(bearing) / _KM_PER_DEGREE
    dlon = distance * math.sin(bearing) / (_KM_PER_DEGREE * math.cos(math.radians(city.lat)))
    return AddressCreate.model_validate({
        "province": city.province, "city": city.name, "district": rng.choice(city.districts),
        "street": f"{rng.randint(1, 399)} {rng.choice(_STREETS)} Road",
        "lat": round(city.lat + dlat, 6), "lon": round(city.lon + dlon, 6)})


_STREETS = ("Renmin", "Jiefang", "Zhongshan", "Huanhu", "Binhai", "Keji", "Wenhua")
