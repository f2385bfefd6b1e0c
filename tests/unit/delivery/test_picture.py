"""The route picture is written as PNG and SVG, of the asked size, naming what it draws."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from yunshang.delivery import picture
from yunshang.delivery.domain import Hub, Leg, NoFlyZone, Plan, Point, Route
from yunshang.delivery.picture import draw_routes, flown_line, project, routes_svg

from .world import AIRPORT, D1, D2, HUB, HUB2, T0, route


def _plan() -> Plan:
    detour = (HUB2.location, Point(31.21, 121.55), Point(31.20, 121.56))
    out = Route(D2.id, HUB2.id, ("o2",), (Leg(HUB2.location, detour[-1], 2.0, detour),
                                          Leg(detour[-1], HUB2.location, 1.5,
                                              (detour[-1], HUB2.location))),
                3.5, T0, (T0 + timedelta(minutes=2),))
    return Plan((route(D1, T0, ["o1"]), out), (), T0)


def _world() -> tuple[Plan, list[Hub], list[NoFlyZone]]:
    return _plan(), [HUB, HUB2], [AIRPORT]


def test_the_picture_is_written_as_png_and_svg_of_the_asked_size(tmp_path: Path) -> None:
    plan, hubs, zones = _world()
    written = draw_routes(plan, hubs, zones, tmp_path / "report", size_px=(1000, 700))
    assert [p.name for p in written] == ["delivery-routes.png", "delivery-routes.svg"]
    assert all(p.stat().st_size > 10_000 for p in written)
    with Image.open(written[0]) as png:
        assert png.size == (1000, 700)
        assert len(png.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 20  # drawn
    svg = written[1].read_text()
    for label in ("Jing'an hub", "Pudong hub", "Hongqiao airport", "drone drn_1", "drone drn_2",
                  "km east"):
        assert label in svg
    again = draw_routes(plan, hubs, zones, tmp_path / "again", size_px=(1000, 700))
    assert again[1].read_text() == svg  # reproducible


def test_a_rounds_map_is_drawn_once_and_again_when_its_zones_change(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A map takes matplotlib hundreds of ms: the next view of the same round is not drawn
    again (bench/console.py), but a new zone is never left off a remembered picture."""
    routes_svg.cache_clear()
    drawn: list[int] = []
    real = picture.draw_routes

    def counting(*args: object, **kwargs: object) -> list[Path]:
        drawn.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(picture, "draw_routes", counting)
    plan, hubs, zones = _world()
    first = routes_svg(plan, tuple(hubs), tuple(zones), "Drone routes of round r1")
    # equal values, not the same objects: as each request reads the round anew
    again = routes_svg(_plan(), (HUB, HUB2), (AIRPORT,), "Drone routes of round r1")
    assert again == first and len(drawn) == 1
    assert b"Hongqiao airport" in first and b"Lujiazui ban" not in first
    ban = NoFlyZone("nfz_2", AIRPORT.tenant, "Lujiazui ban",
                    tuple(Point(p.lat + 0.05, p.lon + 0.05) for p in AIRPORT.ring))
    changed = routes_svg(plan, tuple(hubs), (AIRPORT, ban), "Drone routes of round r1")
    assert b"Lujiazui ban" in changed and len(drawn) == 2


def test_an_empty_day_still_draws_a_picture(tmp_path: Path) -> None:
    written = draw_routes(Plan((), (), T0), [], [], tmp_path)
    assert all(p.stat().st_size > 0 for p in written)


def test_the_projection_is_in_kilometres_around_the_centre() -> None:
    xs, ys = project([Point(31.0, 121.0), Point(32.0, 121.0), Point(31.0, 122.0)],
                     Point(31.0, 121.0))
    assert (xs[0], ys[0]) == (0.0, 0.0)
    assert abs(ys[1] - 111.2) < 0.1  # a degree of latitude
    assert abs(xs[2] - 111.2 * 0.857) < 0.2  # a degree of longitude at 31°N


def test_a_route_is_drawn_along_its_detours_hub_to_hub() -> None:
    line = flown_line(_plan().routes[1])
    assert line == [HUB2.location, Point(31.21, 121.55), Point(31.20, 121.56), HUB2.location]
