"""STAND-IN (part 4, simulation): the minimal shape of the fleet engineer's domain types
that simulation.py and picture.py read. At merge, take the fleet branch's domain.py and
drop this file's version; the names read here are Point, Hub, NoFlyZone, Stop, Route,
Fallback, FallbackReason and Plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float


@dataclass(frozen=True)
class Hub:
    id: str
    name: str
    at: Point


@dataclass(frozen=True)
class NoFlyZone:
    id: str
    name: str
    polygon: tuple[Point, ...]


@dataclass(frozen=True)
class Stop:
    order_id: str
    at: Point
    planned_at: datetime
    due_at: datetime


@dataclass(frozen=True)
class Route:
    drone_id: str
    hub_id: str
    departs_at: datetime
    returns_at: datetime
    stops: tuple[Stop, ...]
    #: the flown polyline, hub to hub, detours included
    path: tuple[Point, ...] = ()


class FallbackReason(StrEnum):
    TOO_HEAVY = "too_heavy"
    TOO_FAR = "too_far"
    UNREACHABLE = "unreachable"
    NO_DRONE = "no_drone"


@dataclass(frozen=True)
class Fallback:
    order_id: str
    reason: FallbackReason


@dataclass(frozen=True)
class Plan:
    routes: tuple[Route, ...] = ()
    fallbacks: tuple[Fallback, ...] = field(default_factory=tuple)
