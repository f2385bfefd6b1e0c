"""The delivery context's refusals; the rest are the kernel's (NotFound, InvalidInput, Forbidden).

InvalidInput (422)
├── ZoneInvalid   a no-fly zone's GeoJSON is not a closed, valid polygon in range — not
│                 closed, too few corners, self-intersecting, zero area, coordinates out
│                 of range, or not GeoJSON at all (names the field, such as
│                 ``features[0].geometry.coordinates``)
└── HubInZone     a hub would lie inside a no-fly zone: a new hub inside a zone
                  (``location``), or a new zone around a hub (the zone's coordinates);
                  ``hub_id`` and ``zone_id`` say which
"""

from __future__ import annotations

from enum import StrEnum

from yunshang.kernel.errors import InvalidInput


class DeliveryErrorCode(StrEnum):
    ZONE_INVALID = "delivery_zone_invalid"
    HUB_IN_ZONE = "delivery_hub_in_zone"


class ZoneInvalid(InvalidInput):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message, code=DeliveryErrorCode.ZONE_INVALID)


class HubInZone(InvalidInput):
    def __init__(self, field: str, message: str, *, hub_id: str | None,
                 zone_id: str | None) -> None:
        super().__init__(field, message, code=DeliveryErrorCode.HUB_IN_ZONE)
        self.data["hub_id"] = hub_id
        self.data["zone_id"] = zone_id


__all__ = ["DeliveryErrorCode", "HubInZone", "ZoneInvalid"]
