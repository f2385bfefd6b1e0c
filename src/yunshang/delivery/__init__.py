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

__all__ = [
    "DEFAULT_PARCEL_KG",
    "DeliveryStop",
    "Drone",
    "Fallback",
    "FallbackReason",
    "Hub",
    "Leg",
    "NoFlyZone",
    "Parcel",
    "Plan",
    "Point",
    "Route",
    "distance_km",
]
