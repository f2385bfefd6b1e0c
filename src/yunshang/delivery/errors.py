"""The delivery context's refusals; the rest are the kernel's (NotFound, InvalidInput, Forbidden).

InvalidInput (422)
├── ZoneInvalid   a no-fly zone's GeoJSON is not a closed, valid polygon in range — not
│                 closed, too few corners, self-intersecting, zero area, coordinates out
│                 of range, or not GeoJSON at all (names the field, such as
│                 ``features[0].geometry.coordinates``)
└── HubInZone     a hub would lie inside a no-fly zone: a new hub inside a zone
                  (``location``), or a new zone around a hub (the zone's coordinates);
                  ``hub_id`` and ``zone_id`` say which

Conflict (409), in ``service/rounds.py``
├── NotShippedYet          a round cannot fly before all its orders shipped
├── SimulatedClockNeeded   flights are simulated: only on a simulated clock
└── (ROUND_RACED)          two dispatch rounds took the same orders at the same time
"""

from __future__ import annotations

from enum import StrEnum

from yunshang.kernel.errors import InvalidInput


class DeliveryErrorCode(StrEnum):
    ZONE_INVALID = "delivery_zone_invalid"
    HUB_IN_ZONE = "delivery_hub_in_zone"
    NOT_SHIPPED = "delivery_not_shipped"  # a round flies only once its orders shipped
    SIMULATION_ONLY = "delivery_simulation_only"  # flights need the simulated clock
    ROUND_RACED = "delivery_round_raced"  # two rounds took the same orders at once


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
