"""No-fly zones from GeoJSON, validated with shapely.

What is accepted: a ``FeatureCollection`` of polygon features, one ``Feature``, or a bare
``Polygon`` or ``MultiPolygon`` geometry (RFC 7946: positions are ``[lon, lat]``, in
degrees). Every polygon becomes one zone; a feature's ``properties.name`` names it. A
polygon's holes are checked with it, but the zone is its whole exterior ring (a drone does
not fly into a hole of a no-fly zone).

Each polygon must be a closed ring (first position repeated last) of at least three
corners, its coordinates finite and in range, and valid in shapely's sense (not
self-intersecting, not of zero area); otherwise :class:`ZoneInvalid` names the
coordinates' field (``features[0].geometry.coordinates``) and says what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from .domain import MAX_NAME, MAX_RING, Hub, NoFlyZone, Point
from .errors import HubInZone, ZoneInvalid

#: The most polygons one import may hold.
MAX_ZONES = 1000


@dataclass(frozen=True, slots=True)
class ZoneShape:
    """One validated polygon: its name, exterior ring, and where it was in the document."""

    name: str
    ring: tuple[Point, ...]
    field: str  # the coordinates' field, for refusals about this zone


def polygon(ring: Sequence[Point]) -> Polygon:
    """The shapely polygon of a ring (x = lon, y = lat)."""
    return Polygon([(p.lon, p.lat) for p in ring])


def covers(zone: NoFlyZone, p: Point) -> bool:
    """Whether ``p`` is inside ``zone`` or on its border."""
    return bool(polygon(zone.ring).covers(ShapelyPoint(p.lon, p.lat)))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _ring(raw: Any, field: str, which: str) -> list[tuple[float, float]]:
    if not isinstance(raw, list):
        raise ZoneInvalid(field, f"{which} must be an array of [lon, lat] positions")
    if len(raw) > MAX_RING:
        raise ZoneInvalid(field, f"{which} has more than {MAX_RING} positions")
    out: list[tuple[float, float]] = []
    for i, pos in enumerate(raw):
        if (not isinstance(pos, list) or not 2 <= len(pos) <= 3
                or not all(_is_number(v) for v in pos)):
            raise ZoneInvalid(field, f"{which}, position {i}: a position is [lon, lat] "
                                     "with finite numbers")
        lon, lat = float(pos[0]), float(pos[1])
        if not -180.0 <= lon <= 180.0:
            raise ZoneInvalid(field, f"{which}, position {i}: longitude {lon:g} is out of "
                                     "range (-180 to 180)")
        if not -90.0 <= lat <= 90.0:
            raise ZoneInvalid(field, f"{which}, position {i}: latitude {lat:g} is out of "
                                     "range (-90 to 90)")
        out.append((lon, lat))
    if len(out) < 4:
        raise ZoneInvalid(field, f"{which} needs at least 4 positions (3 corners, closed)")
    if out[0] != out[-1]:
        raise ZoneInvalid(field, f"{which} is not closed: its last position must repeat "
                                 "its first")
    return out


def _polygon_shape(coords: Any, field: str, name: str, label: str = "polygon") -> ZoneShape:
    if not isinstance(coords, list) or not coords:
        raise ZoneInvalid(field, f"a {label}'s coordinates are an array of rings")
    rings = [_ring(r, field, f"{label} ring {i}" if len(coords) > 1 or i else f"{label} ring")
             for i, r in enumerate(coords)]
    shape = Polygon(rings[0], rings[1:])
    if not shape.is_valid:
        raise ZoneInvalid(field, f"the {label} is not valid: {explain_validity(shape)} "
                                 "(a zone must not intersect itself)")
    if shape.area <= 0:
        raise ZoneInvalid(field, f"the {label} has no area")
    return ZoneShape(name=name, ring=tuple(Point(lat=lat, lon=lon) for lon, lat in rings[0]),
                     field=field)


def _name(raw: Any, field: str, default: str) -> str:
    if raw is None:
        return default
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise ZoneInvalid(field, "a zone's name is a non-empty string (no NUL characters)")
    if len(raw.strip()) > MAX_NAME:
        raise ZoneInvalid(field, f"a zone's name has at most {MAX_NAME} characters")
    return raw.strip()


def _geometry(geo: Any, prefix: str, name: str) -> list[ZoneShape]:
    dot = f"{prefix}." if prefix else ""
    if not isinstance(geo, dict):
        raise ZoneInvalid(prefix or "type", "a geometry is a GeoJSON object")
    kind = geo.get("type")
    coords = geo.get("coordinates")
    field = f"{dot}coordinates"
    if kind == "Polygon":
        return [_polygon_shape(coords, field, name)]
    if kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise ZoneInvalid(field, "a MultiPolygon's coordinates are an array of polygons")
        return [_polygon_shape(c, field, name if len(coords) == 1 else f"{name} ({i + 1})",
                               f"polygon {i}") for i, c in enumerate(coords)]
    raise ZoneInvalid(f"{dot}type", "a zone's geometry is a Polygon or a MultiPolygon")


def _feature(feature: Any, prefix: str, default: str) -> list[ZoneShape]:
    dot = f"{prefix}." if prefix else ""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise ZoneInvalid(f"{dot}type", "a feature is a GeoJSON Feature object")
    props = feature.get("properties")
    if props is not None and not isinstance(props, dict):
        raise ZoneInvalid(f"{dot}properties", "a feature's properties are an object")
    name = _name((props or {}).get("name"), f"{dot}properties.name", default)
    return _geometry(feature.get("geometry"), f"{dot}geometry", name)


def parse_zones(doc: Any, *, default_name: str = "zone") -> list[ZoneShape]:
    """The polygons of a GeoJSON document, validated (:class:`ZoneInvalid` otherwise)."""
    if not isinstance(doc, dict):
        raise ZoneInvalid("type", "a GeoJSON object is expected")
    kind = doc.get("type")
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list) or not features:
            raise ZoneInvalid("features", "a FeatureCollection needs at least one feature")
        if len(features) > MAX_ZONES:
            raise ZoneInvalid("features", f"at most {MAX_ZONES} features per import")
        shapes = [s for i, f in enumerate(features)
                  for s in _feature(f, f"features[{i}]", f"{default_name} {i + 1}")]
    elif kind == "Feature":
        shapes = _feature(doc, "", default_name)
    elif kind in ("Polygon", "MultiPolygon"):
        shapes = _geometry(doc, "", default_name)
    else:
        raise ZoneInvalid("type", "a FeatureCollection, Feature, Polygon or MultiPolygon "
                                  "is expected")
    if len(shapes) > MAX_ZONES:
        raise ZoneInvalid("features", f"at most {MAX_ZONES} polygons per import")
    return shapes


def refuse_hubs_inside(shapes: Iterable[ZoneShape], hubs: Iterable[Hub]) -> None:
    """:class:`HubInZone` (naming the zone's field) if any hub lies in or on a shape."""
    hub_list = list(hubs)
    if not hub_list:
        return
    points = [ShapelyPoint(h.location.lon, h.location.lat) for h in hub_list]
    for shape in shapes:
        poly = polygon(shape.ring)
        shapely.prepare(poly)
        for hub, pt in zip(hub_list, points, strict=True):
            if poly.covers(pt):
                raise HubInZone(shape.field, f"zone {shape.name!r} would contain hub "
                                             f"{hub.name!r} ({hub.id})", hub_id=hub.id,
                                zone_id=None)


def zone_holding(zones: Iterable[NoFlyZone], p: Point) -> NoFlyZone | None:
    """The first zone ``p`` lies in or on, if any."""
    return next((z for z in zones if covers(z, p)), None)


__all__ = ["MAX_ZONES", "ZoneShape", "covers", "parse_zones", "polygon", "refuse_hubs_inside",
           "zone_holding"]
