"""The delivery context's facade: hubs, drones, no-fly zones, and the plan types."""

from .domain import (
    DEFAULT_PARCEL_KG,
    DeliveryStop,
    Drone,
    Fallback,
    FallbackReason,
    Hub,
    Leg,
    NoFlyZone,
    Parcel,
    Plan,
    Point,
    Route,
    distance_km,
)
from .errors import DeliveryErrorCode, HubInZone, ZoneInvalid
from .service import Fleet, FleetService

__all__ = [
    "DEFAULT_PARCEL_KG",
    "DeliveryErrorCode",
    "DeliveryStop",
    "Drone",
    "Fallback",
    "FallbackReason",
    "Fleet",
    "FleetService",
    "Hub",
    "HubInZone",
    "Leg",
    "NoFlyZone",
    "Parcel",
    "Plan",
    "Point",
    "Route",
    "ZoneInvalid",
    "distance_km",
]
