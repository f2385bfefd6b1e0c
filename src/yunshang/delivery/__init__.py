"""The delivery context's facade: hubs, drones, no-fly zones, dispatch rounds, flights,
parcel tracking, and the plan types."""

from .dispatch import dispatch, lateness
from .domain import (
    DEFAULT_PARCEL_KG,
    DeliveryStop,
    DispatchRound,
    Drone,
    Fallback,
    FallbackReason,
    Hub,
    Leg,
    NoFlyZone,
    Parcel,
    ParcelStatus,
    ParcelTracking,
    Plan,
    Point,
    RoundStatus,
    Route,
    distance_km,
    offset_km,
)
from .errors import DeliveryErrorCode, HubInZone, ZoneInvalid
from .geometry import Airspace
from .picture import draw_routes
from .service import DispatchService, Fleet, FleetService, FlightReport, NotShippedYet
from .simulation import Courier, FlightEvent, FlightKind, FlightSummary, Wind, flight_timeline

__all__ = [
    "DEFAULT_PARCEL_KG",
    "Airspace",
    "Courier",
    "DeliveryErrorCode",
    "DeliveryStop",
    "DispatchRound",
    "DispatchService",
    "Drone",
    "Fallback",
    "FallbackReason",
    "Fleet",
    "FleetService",
    "FlightEvent",
    "FlightKind",
    "FlightReport",
    "FlightSummary",
    "Hub",
    "HubInZone",
    "Leg",
    "NoFlyZone",
    "NotShippedYet",
    "Parcel",
    "ParcelStatus",
    "ParcelTracking",
    "Plan",
    "Point",
    "RoundStatus",
    "Route",
    "Wind",
    "ZoneInvalid",
    "dispatch",
    "distance_km",
    "draw_routes",
    "flight_timeline",
    "lateness",
    "offset_km",
]
