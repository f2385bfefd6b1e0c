"""The fleet's pure rules: coordinates, opening hours, drone figures, and GeoJSON zones."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from yunshang.delivery import Hub, Point
from yunshang.delivery.domain import Drone, distance_km
from yunshang.delivery.errors import HubInZone, ZoneInvalid
from yunshang.delivery.zones import parse_zones, refuse_hubs_inside
from yunshang.kernel.errors import InvalidInput

SQUARE = [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]]


def test_coordinates_out_of_range_name_the_field() -> None:
    with pytest.raises(InvalidInput) as exc:
        Point(lat=95.0, lon=0.0)
    assert exc.value.field == "location.lat"
    with pytest.raises(InvalidInput):
        Point(lat=0.0, lon=float("nan"))


def test_a_hub_closes_after_it_opens_and_is_open_between() -> None:
    with pytest.raises(InvalidInput) as exc:
        Hub("hub_1", "t", "h", Point(0, 0), opens=time(20), closes=time(8))
    assert exc.value.field == "closes"
    hub = Hub("hub_1", "t", "h", Point(0, 0), opens=time(8), closes=time(20))
    assert hub.is_open(datetime(2026, 1, 1, 9, tzinfo=UTC))
    assert not hub.is_open(datetime(2026, 1, 1, 21, tzinfo=UTC))


@pytest.mark.parametrize("field", ["payload_kg", "range_km", "speed_kmh"])
def test_a_drone_with_a_zero_figure_is_refused(field: str) -> None:
    figures = {"payload_kg": 1.0, "range_km": 10.0, "speed_kmh": 40.0, field: 0.0}
    with pytest.raises(InvalidInput) as exc:
        Drone("drn_1", "t", "hub_1", swap_min=0.0, **figures)
    assert exc.value.field == field


def test_distance_is_great_circle() -> None:
    assert distance_km(Point(0, 0), Point(0, 1)) == pytest.approx(111.2, abs=0.1)


def test_geojson_zones_are_validated_and_named() -> None:
    doc = {"type": "MultiPolygon", "coordinates": [SQUARE, [[[2.0, 0.0], [3.0, 0.0],
                                                             [3.0, 1.0], [2.0, 0.0]]]]}
    shapes = parse_zones(doc, default_name="airport")
    assert [s.name for s in shapes] == ["airport (1)", "airport (2)"]
    assert shapes[0].ring[1] == Point(lat=0.0, lon=1.0)
    bowtie = [[[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]]
    for coords, words in ((bowtie, "Self-intersection"), ([SQUARE[0][:-1]], "not closed"),
                          ([[[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 0.0]]], "not valid"),
                          ([[[0.0, 0.0], [1.0, 0.0], [1.0, 99.0], [0.0, 0.0]]], "latitude")):
        with pytest.raises(ZoneInvalid) as exc:
            parse_zones({"type": "FeatureCollection", "features": [
                {"type": "Feature", "properties": {},
                 "geometry": {"type": "Polygon", "coordinates": coords}}]})
        assert exc.value.field == "features[0].geometry.coordinates"
        assert words in exc.value.message


def test_a_zone_around_a_hub_is_refused() -> None:
    shapes = parse_zones({"type": "Polygon", "coordinates": SQUARE})
    refuse_hubs_inside(shapes, [Hub("hub_o", "t", "out", Point(5, 5), time(0), time(23))])
    with pytest.raises(HubInZone) as exc:
        refuse_hubs_inside(shapes, [Hub("hub_i", "t", "in", Point(0.5, 0.5), time(0),
                                        time(23))])
    assert exc.value.field == "coordinates" and exc.value.data["hub_id"] == "hub_i"
