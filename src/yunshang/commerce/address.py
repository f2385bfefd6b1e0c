"""A delivery address: where an order's parcel goes (plain Python, no framework).

Province, city and district are names as a buyer writes them (``浙江`` or
``Zhejiang``); the street line is free text; ``lat``/``lon`` are WGS-84 degrees,
the point a courier or a drone flies to. Every refusal names its field under
``address.`` (``address.lat``), as the API's validation does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from yunshang.kernel.errors import InvalidInput

#: The longest province, city and district names; the longest street line.
MAX_REGION = 60
MAX_STREET = 200


@dataclass(frozen=True, slots=True)
class DeliveryAddress:
    province: str
    city: str
    district: str | None
    street: str | None
    lat: float
    lon: float

    def __post_init__(self) -> None:
        for name in ("province", "city"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput(f"address.{name}", f"{name} must not be empty")
        for name, most in (("province", MAX_REGION), ("city", MAX_REGION),
                           ("district", MAX_REGION), ("street", MAX_STREET)):
            value = getattr(self, name)
            if value is not None and len(value) > most:
                raise InvalidInput(f"address.{name}", f"{name} is at most {most} characters")
        for name, bound in (("lat", 90.0), ("lon", 180.0)):
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value) or not -bound <= value <= bound):
                raise InvalidInput(f"address.{name}",
                                   f"{name} must be a number of degrees in [-{bound:g}, "
                                   f"{bound:g}]")

    def view(self) -> dict[str, Any]:
        """The public shape (API responses, event payloads' ``address``)."""
        return {"province": self.province, "city": self.city, "district": self.district,
                "street": self.street, "lat": self.lat, "lon": self.lon}


def address_fields(address: DeliveryAddress | None) -> dict[str, Any]:
    """The flat fields an order event carries for analytics (docs/events.md): province,
    city, district, lat and lon; all None for an order without an address."""
    if address is None:
        return {"province": None, "city": None, "district": None, "lat": None, "lon": None}
    return {"province": address.province, "city": address.city,
            "district": address.district, "lat": address.lat, "lon": address.lon}
