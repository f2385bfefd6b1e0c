"""The route picture: hubs, each drone's routes and the no-fly zones, as PNG and SVG.

Drawn offline with matplotlib's Agg backend (as analytics/charts.py) and no map tiles:
an equirectangular projection around the picture's centre, in kilometres east and north
of it (``x = R·Δλ·cos φ0``, ``y = R·Δφ``), which at a city's scale distorts distances by
well under a percent. One colour per drone, a legend naming hubs, drones and zones.
SVGs are reproducible: a fixed hash salt and no date metadata.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # offline: never a window, never a display
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .domain import Hub, NoFlyZone, Plan, Point, Route

EARTH_RADIUS_KM = 6371.0088
FORMATS = ("png", "svg")
DPI = 100
_ZONE, _HUB = "#e53e3e", "#1a202c"


def project(points: Sequence[Point], centre: Point) -> tuple[list[float], list[float]]:
    """Kilometres east and north of ``centre`` (equirectangular)."""
    k = math.pi / 180 * EARTH_RADIUS_KM
    cos0 = math.cos(math.radians(centre.lat))
    return ([(p.lon - centre.lon) * k * cos0 for p in points],
            [(p.lat - centre.lat) * k for p in points])


def flown_line(route: Route) -> list[Point]:
    """The route's polyline, hub to hub, with its legs' detours."""
    line: list[Point] = []
    for leg in route.legs:
        path = leg.path or (leg.start, leg.end)
        line.extend(path[1:] if line and line[-1] == path[0] else path)
    return line


def _centre(points: Sequence[Point]) -> Point:
    if not points:
        return Point(0.0, 0.0)
    lats, lons = [p.lat for p in points], [p.lon for p in points]
    return Point((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)


def draw_routes(plan: Plan, hubs: Sequence[Hub], zones: Sequence[NoFlyZone], folder: Path,
                *, name: str = "delivery-routes", size_px: tuple[int, int] = (1200, 900),
                title: str = "Drone routes", formats: Sequence[str] = FORMATS) -> list[Path]:
    """Writes ``folder/name.png`` and ``.svg`` (each written whole, then renamed) and
    returns their paths. The PNG is exactly ``size_px`` pixels."""
    everything = [h.location for h in hubs] + [p for z in zones for p in z.ring] + \
        [p for r in plan.routes for p in flown_line(r)]
    centre = _centre(everything)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    # text stays text in the SVG (searchable, selectable), not glyph outlines
    with plt.rc_context({"svg.hashsalt": "yunshang", "svg.fonttype": "none", "font.size": 10}):
        fig = plt.figure(figsize=(size_px[0] / DPI, size_px[1] / DPI), dpi=DPI)
        try:
            _draw(fig.add_subplot(), plan, hubs, zones, centre, title)
            for fmt in formats:
                path = folder / f"{name}.{fmt}"
                tmp = path.with_suffix(f".{fmt}.tmp")
                meta: dict[str, Any] = {"Date": None} if fmt == "svg" else {}
                fig.savefig(tmp, format=fmt, dpi=DPI, metadata=meta)
                tmp.replace(path)
                written.append(path)
        finally:
            plt.close(fig)
    return written


@lru_cache(maxsize=32)
def routes_svg(plan: Plan, hubs: tuple[Hub, ...], zones: tuple[NoFlyZone, ...],
               title: str) -> bytes:
    """The SVG :func:`draw_routes` writes, as bytes. Memoised: the picture is a pure
    function of these frozen values, and drawing it takes matplotlib a few hundred
    milliseconds (a map of the demo's day took 0.5-1 s), so the console's and the API's
    next view of the same round is not drawn again; a changed plan, hub or zone is another
    key, so it is drawn anew."""
    with tempfile.TemporaryDirectory(prefix="yunshang-map-") as tmp:
        [svg] = draw_routes(plan, hubs, zones, Path(tmp), title=title, formats=("svg",))
        return svg.read_bytes()


def _draw(ax: Any, plan: Plan, hubs: Sequence[Hub], zones: Sequence[NoFlyZone],
          centre: Point, title: str) -> None:
    handles: list[Any] = []
    for zone in zones:
        xs, ys = project(zone.ring, centre)
        ax.fill(xs, ys, facecolor=_ZONE, alpha=0.25, edgecolor=_ZONE, hatch="//")
    if zones:
        handles.append(Patch(facecolor=_ZONE, alpha=0.4, edgecolor=_ZONE,
                             label=f"no-fly zone ({', '.join(z.name for z in zones)})"))
    drones = sorted({r.drone_id for r in plan.routes})
    palette = plt.get_cmap("tab20" if len(drones) > 10 else "tab10")
    colour = {d: palette(i % palette.N) for i, d in enumerate(drones)}
    for route in plan.routes:
        xs, ys = project(flown_line(route), centre)
        ax.plot(xs, ys, "-", color=colour[route.drone_id], linewidth=1.4, alpha=0.9)
        sx, sy = project([leg.end for leg in route.legs[:len(route.stops)]], centre)
        ax.plot(sx, sy, "o", color=colour[route.drone_id], markersize=3.5)
    shown = drones[:12]  # a legend of more drones than this is unreadable
    handles += [Line2D([], [], color=colour[d], label=f"drone {d}") for d in shown]
    if len(drones) > len(shown):
        handles.append(Line2D([], [], color="none", label=f"… {len(drones) - len(shown)} more"))
    hx, hy = project([h.location for h in hubs], centre)
    ax.plot(hx, hy, "s", color=_HUB, markersize=9, linestyle="none")
    for x, y, named in zip(hx, hy, hubs, strict=True):
        ax.annotate(named.name, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=9)
    if hubs:
        handles.insert(0, Line2D([], [], marker="s", color=_HUB, linestyle="none",
                                 label="hub"))
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("km east")
    ax.set_ylabel("km north")
    ax.set_title(f"{title} (around {centre.lat:.3f}°N, {centre.lon:.3f}°E)")
    ax.grid(True, color="#edf2f7")
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.figure.tight_layout()
