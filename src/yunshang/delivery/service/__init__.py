"""The delivery context's use cases: the fleet (hubs, drones, zones, parcel weights), and
dispatch rounds with their flights and parcel tracking."""

from .fleet import MANAGERS, Fleet, FleetService
from .rounds import (
    DispatchService,
    FlightReport,
    NotShippedYet,
    OrderDesk,
    SimulatedClockNeeded,
)

__all__ = ["MANAGERS", "DispatchService", "Fleet", "FleetService", "FlightReport",
           "NotShippedYet", "OrderDesk", "SimulatedClockNeeded"]
