"""Airspace geometry: distances, no-fly zones and detours around them (pure, shapely).

Coordinates are projected onto a local plane around one origin (the hubs' centre):
equirectangular, ``x = R·Δlon·cos(lat₀)``, ``y = R·Δlat``, in km. Over a city (tens of
km) it differs from the great-circle distance by well under 0.1 %, and straight lines
in the plane are what shapely tests against the zones, so one metric serves both.

A leg between two points is the straight segment when it does not cross any zone's
interior (running along an edge or touching a corner is allowed). Otherwise it is the
shortest path through the visibility graph of the zones' corners — each zone buffered
outward by :data:`CLEARANCE_KM` so a path may follow an edge without grazing it — found
by Dijkstra (scipy) over the corner pairs that see each other, joined to the endpoints'
visible corners. No such path (an endpoint inside a zone, or walled in): ``None``.
Legs are cached per point pair; the corner graph is built once per airspace.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import shapely
from scipy.sparse.csgraph import dijkstra

from .domain import EARTH_RADIUS_KM, Leg, NoFlyZone, Point

#: How far outside a zone's edges the detour corners lie (km): 10 m.
CLEARANCE_KM = 0.01
_INTERIOR = "T********"  # DE-9IM: the interiors meet


class Airspace:
    """The no-fly zones over one city, projected around ``origin``; answers legs."""

    def __init__(self, zones: Sequence[NoFlyZone], origin: Point) -> None:
        self.origin = origin
        self._cos = math.cos(math.radians(origin.lat))
        polygons = [shapely.Polygon([self.project(p) for p in z.ring]) for z in zones]
        self._zones = shapely.union_all(polygons) if polygons else None
        if self._zones is not None:
            shapely.prepare(self._zones)
        self._cache: dict[tuple[Point, Point], Leg | None] = {}
        self._corners = np.empty((0, 2))
        self._between = np.empty((0, 0))
        self._pred = np.empty((0, 0), dtype=np.int32)
        self._visible: dict[Point, tuple[np.ndarray, np.ndarray]] = {}
        if polygons:
            self._build_graph(polygons)

    # -- projection ---------------------------------------------------------------------
    def project(self, p: Point) -> tuple[float, float]:
        """The point on the local plane, in km east and north of the origin."""
        return (math.radians(p.lon - self.origin.lon) * EARTH_RADIUS_KM * self._cos,
                math.radians(p.lat - self.origin.lat) * EARTH_RADIUS_KM)

    def unproject(self, x: float, y: float) -> Point:
        return Point(lat=self.origin.lat + math.degrees(y / EARTH_RADIUS_KM),
                     lon=self.origin.lon + math.degrees(x / (EARTH_RADIUS_KM * self._cos)))

    # -- questions ----------------------------------------------------------------------
    def inside(self, p: Point) -> bool:
        """Whether ``p`` lies in a zone's interior (no drone may go there)."""
        return self._zones is not None and bool(
            shapely.relate_pattern(shapely.Point(self.project(p)), self._zones, _INTERIOR))

    def crosses(self, path: Iterable[Point]) -> bool:
        """Whether the polyline through ``path`` enters any zone's interior."""
        if self._zones is None:
            return False
        line = shapely.LineString([self.project(p) for p in path])
        return bool(shapely.relate_pattern(line, self._zones, _INTERIOR))

    def leg(self, start: Point, end: Point) -> Leg | None:
        """The shortest leg from ``start`` to ``end`` that crosses no zone, or ``None``."""
        key = (start, end)
        if key not in self._cache:
            if (end, start) in self._cache:
                back = self._cache[(end, start)]
                self._cache[key] = None if back is None else Leg(
                    start=start, end=end, km=back.km, path=tuple(reversed(back.path)))
            else:
                self._cache[key] = self._route(start, end)
        return self._cache[key]

    def legs(self, points: Sequence[Point]) -> list[list[Leg | None]]:
        """Every leg between ``points`` (``[i][j]`` from i to j); straight lines are tested
        against the zones in one vectorised call, only blocked ones search the graph."""
        xy = np.array([self.project(p) for p in points]).reshape(-1, 2)
        n = len(points)
        straight = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
        blocked = np.zeros((n, n), dtype=bool)
        if self._zones is not None and n:
            iu = np.triu_indices(n, k=1)
            coords = np.stack([xy[iu[0]], xy[iu[1]]], axis=1)
            lines = shapely.linestrings(coords)
            hit = shapely.relate_pattern(lines, self._zones, _INTERIOR)
            blocked[iu] = hit
            blocked |= blocked.T
            inside = shapely.relate_pattern(shapely.points(xy), self._zones, _INTERIOR)
            blocked[inside, :] = True
            blocked[:, inside] = True
        out: list[list[Leg | None]] = []
        for i in range(n):
            row: list[Leg | None] = []
            for j in range(n):
                a, b = points[i], points[j]
                if i == j:
                    row.append(Leg(start=a, end=b, km=0.0, path=(a, b)))
                elif not blocked[i, j]:
                    leg = Leg(start=a, end=b, km=float(straight[i, j]), path=(a, b))
                    self._cache.setdefault((a, b), leg)
                    row.append(leg)
                else:
                    row.append(self.leg(a, b))
            out.append(row)
        return out

    # -- the corner graph ----------------------------------------------------------------
    def _build_graph(self, polygons: list[shapely.Polygon]) -> None:
        assert self._zones is not None
        corners: list[tuple[float, float]] = []
        for poly in polygons:
            grown = shapely.buffer(poly, CLEARANCE_KM, join_style="mitre", mitre_limit=10.0)
            for part in getattr(grown, "geoms", [grown]):
                corners.extend(part.exterior.coords[:-1])
        xy = np.array(corners).reshape(-1, 2)
        keep = ~shapely.relate_pattern(shapely.points(xy), self._zones, _INTERIOR)
        self._corners = xy[keep]
        m = len(self._corners)
        seen = np.zeros((m, m), dtype=bool)
        if m > 1:
            iu = np.triu_indices(m, k=1)
            lines = shapely.linestrings(np.stack([self._corners[iu[0]], self._corners[iu[1]]],
                                                 axis=1))
            seen[iu] = ~shapely.relate_pattern(lines, self._zones, _INTERIOR)
            seen |= seen.T
        gaps = np.hypot(self._corners[:, None, 0] - self._corners[None, :, 0],
                        self._corners[:, None, 1] - self._corners[None, :, 1])
        weights = np.where(seen, gaps, 0.0)  # 0 = no edge for csgraph's dense input
        self._between, self._pred = dijkstra(weights, directed=False, return_predecessors=True)

    def _sight(self, p: Point) -> tuple[np.ndarray, np.ndarray]:
        """The corners ``p`` sees, and its distance to each (km)."""
        if p not in self._visible:
            x, y = self.project(p)
            corners = self._corners
            coords = np.stack([np.broadcast_to([x, y], corners.shape), corners], axis=1)
            sees = ~shapely.relate_pattern(shapely.linestrings(coords), self._zones, _INTERIOR)
            self._visible[p] = (np.flatnonzero(sees),
                                np.hypot(corners[:, 0] - x, corners[:, 1] - y))
        return self._visible[p]

    def _route(self, start: Point, end: Point) -> Leg | None:
        if self.inside(start) or self.inside(end):
            return None
        if not self.crosses((start, end)):
            ax, ay = self.project(start)
            bx, by = self.project(end)
            return Leg(start=start, end=end, km=math.hypot(bx - ax, by - ay), path=(start, end))
        from_a, dist_a = self._sight(start)
        from_b, dist_b = self._sight(end)
        if not len(from_a) or not len(from_b):
            return None
        total = (dist_a[from_a][:, None] + self._between[np.ix_(from_a, from_b)]
                 + dist_b[from_b][None, :])
        best = np.unravel_index(int(np.argmin(total)), total.shape)
        km = float(total[best])
        if not math.isfinite(km):
            return None
        i, j = int(from_a[best[0]]), int(from_b[best[1]])
        chain = [j]
        while chain[-1] != i:
            chain.append(int(self._pred[i, chain[-1]]))
        chain.reverse()
        middle = tuple(self.unproject(*self._corners[k]) for k in chain)
        return Leg(start=start, end=end, km=km, path=(start, *middle, end))
