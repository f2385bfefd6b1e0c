"""The route picture is written as PNG and SVG, of the asked size, naming what it draws."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image

from yunshang.delivery.domain import Hub, NoFlyZone, Plan, Point, Route, Stop
from yunshang.delivery.picture import draw_routes, project

T0 = datetime(2026, 11, 11, 10, 0, tzinfo=UTC)


def _world() -> tuple[Plan, list[Hub], list[NoFlyZone]]:
    hubs = [Hub("h1", "Jing'an hub", Point(31.23, 121.45)),
            Hub("h2", "Pudong hub", Point(31.22, 121.54))]
    zone = NoFlyZone("z1", "Hongqiao airport", (Point(31.18, 121.32), Point(31.18, 121.36),
                                                Point(31.21, 121.36), Point(31.21, 121.32),
                                                Point(31.18, 121.32)))
    stop = Stop("o1", Point(31.25, 121.47), T0 + timedelta(minutes=5), T0 + timedelta(hours=1))
    plan = Plan(routes=(
        Route("d1", "h1", T0, T0 + timedelta(minutes=10), (stop,)),
        Route("d2", "h2", T0, T0 + timedelta(minutes=12),
              (Stop("o2", Point(31.20, 121.56), T0 + timedelta(minutes=6),
                    T0 + timedelta(hours=1)),),
              path=(Point(31.22, 121.54), Point(31.21, 121.55), Point(31.20, 121.56),
                    Point(31.22, 121.54)))))
    return plan, hubs, [zone]


def test_the_picture_is_written_as_png_and_svg_of_the_asked_size(tmp_path: Path) -> None:
    plan, hubs, zones = _world()
    written = draw_routes(plan, hubs, zones, tmp_path / "report", size_px=(1000, 700))
    assert [p.name for p in written] == ["delivery-routes.png", "delivery-routes.svg"]
    assert all(p.stat().st_size > 10_000 for p in written)
    with Image.open(written[0]) as png:
        assert png.size == (1000, 700)
        assert len(png.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 20  # drawn
    svg = written[1].read_text()
    for label in ("Jing'an hub", "Pudong hub", "Hongqiao airport", "drone d1", "drone d2",
                  "km east"):
        assert label in svg
    again = draw_routes(plan, hubs, zones, tmp_path / "again", size_px=(1000, 700))
    assert again[1].read_text() == svg  # reproducible


def test_an_empty_day_still_draws_a_picture(tmp_path: Path) -> None:
    written = draw_routes(Plan(), [], [], tmp_path)
    assert all(p.stat().st_size > 0 for p in written)


def test_the_projection_is_in_kilometres_around_the_centre() -> None:
    xs, ys = project([Point(31.0, 121.0), Point(32.0, 121.0), Point(31.0, 122.0)],
                     Point(31.0, 121.0))
    assert (xs[0], ys[0]) == (0.0, 0.0)
    assert abs(ys[1] - 111.2) < 0.1  # a degree of latitude
    assert abs(xs[2] - 111.2 * 0.857) < 0.2  # a degree of longitude at 31°N
