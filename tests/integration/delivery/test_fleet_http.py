"""The drone fleet over HTTP: hubs, drones and no-fly zones (GeoJSON import) made and read
by the tenant's merchant, refusals naming their field, nothing half-written, other roles
refused and other tenants' objects not found."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PlatformFactory
from tests.http_support import assert_problem, assert_validation, bearer, open_client
from yunshang.kernel.auth import Role
from yunshang.platform import Platform

TENANT = "meizu"
#: A square no-fly zone around (31.00–31.02 N, 121.00–121.02 E): [lon, lat] positions.
SQUARE = [[[121.00, 31.00], [121.02, 31.00], [121.02, 31.02], [121.00, 31.02], [121.00, 31.00]]]
BOWTIE = [[[121.00, 31.00], [121.02, 31.02], [121.02, 31.00], [121.00, 31.02], [121.00, 31.00]]]


def feature(coords: Any, name: str | None = None) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"name": name} if name else {},
            "geometry": {"type": "Polygon", "coordinates": coords}}


def shifted(coords: Any, dlon: float) -> Any:
    return [[[lon + dlon, lat] for lon, lat in ring] for ring in coords]


@pytest.fixture
def http(platform: Platform) -> Iterator[tuple[Platform, TestClient, dict[str, str]]]:
    with open_client(platform) as client:
        yield platform, client, bearer(platform.keys.create(role=Role.MERCHANT,
                                                            tenant=TENANT).token)


@pytest.fixture
def lite(make_platform: PlatformFactory) -> Iterator[tuple[Platform, TestClient, dict[str, str]]]:
    platform = make_platform()
    with open_client(platform) as client:
        yield platform, client, bearer(platform.keys.create(role=Role.MERCHANT,
                                                            tenant=TENANT).token)


HUB = {"name": "Pudong hub", "location": {"lat": 31.1, "lon": 121.1}, "opens": "08:00",
       "closes": "20:00"}


def test_a_merchant_builds_a_fleet_and_reads_it_back(
        http: tuple[Platform, TestClient, dict[str, str]]) -> None:
    platform, client, merchant = http
    r = client.post("/v1/delivery/hubs", headers=merchant, json=HUB)
    assert r.status_code == 201, r.text
    hub = r.json()
    assert hub["id"].startswith("hub_") and hub["opens"] == "08:00:00"
    assert hub["location"] == {"lat": 31.1, "lon": 121.1}
    r = client.post("/v1/delivery/drones", headers=merchant, json={
        "hub_id": hub["id"], "payload_kg": 2.5, "range_km": 20, "speed_kmh": 54,
        "swap_min": 3})
    assert r.status_code == 201, r.text
    drone = r.json()
    assert drone["hub_id"] == hub["id"] and drone["range_km"] == 20
    r = client.post("/v1/delivery/zones", headers=merchant,
                    json={"name": "airport", "geometry": {"type": "Polygon",
                                                          "coordinates": SQUARE}})
    assert r.status_code == 201, r.text
    zone = r.json()
    assert zone["geometry"]["coordinates"] == SQUARE
    r = client.post("/v1/delivery/zones/import", headers=merchant, json={
        "type": "FeatureCollection",
        "features": [feature(shifted(SQUARE, 0.05), "stadium"),
                     feature(shifted(SQUARE, 0.10))]})
    assert r.status_code == 201, r.text
    assert [z["name"] for z in r.json()["items"]] == ["stadium", "zone 2"]

    assert client.get(f"/v1/delivery/hubs/{hub['id']}", headers=merchant).json() == hub
    assert client.get(f"/v1/delivery/drones/{drone['id']}", headers=merchant).json() == drone
    assert client.get(f"/v1/delivery/zones/{zone['id']}", headers=merchant).json() == zone
    assert [h["id"] for h in client.get("/v1/delivery/hubs", headers=merchant).json()["items"]
            ] == [hub["id"]]
    listed = client.get("/v1/delivery/drones", headers=merchant,
                        params={"hub_id": hub["id"]}).json()["items"]
    assert [d["id"] for d in listed] == [drone["id"]]
    zones = client.get("/v1/delivery/zones", headers=merchant, params={"limit": 2}).json()
    assert len(zones["items"]) == 2 and zones["next_cursor"]
    fleet = platform.fleet.fleet(TENANT)
    assert len(fleet.hubs) == 1 and len(fleet.drones) == 1 and len(fleet.zones) == 3


def test_bad_fleet_input_is_refused_naming_the_field(
        lite: tuple[Platform, TestClient, dict[str, str]]) -> None:
    platform, client, merchant = lite
    late = {**HUB, "opens": "20:00", "closes": "08:00"}
    assert_problem(client.post("/v1/delivery/hubs", headers=merchant, json=late), 422,
                   "invalid_input", "closes")
    far = {**HUB, "location": {"lat": 91, "lon": 121}}
    assert_validation(client.post("/v1/delivery/hubs", headers=merchant, json=far),
                      "location.lat")
    hub = client.post("/v1/delivery/hubs", headers=merchant, json=HUB).json()
    for field in ("payload_kg", "range_km", "speed_kmh"):
        body = {"hub_id": hub["id"], "payload_kg": 1, "range_km": 10, "speed_kmh": 40,
                field: 0}
        assert_validation(client.post("/v1/delivery/drones", headers=merchant, json=body),
                          field)
    assert_problem(client.post("/v1/delivery/drones", headers=merchant, json={
        "hub_id": "hub_nope", "payload_kg": 1, "range_km": 10, "speed_kmh": 40}),
        404, "not_found", "hub_id")

    def imported(doc: Any) -> Any:
        return client.post("/v1/delivery/zones/import", headers=merchant, json=doc)

    bowtie = {"type": "FeatureCollection", "features": [feature(SQUARE), feature(BOWTIE)]}
    body = assert_problem(imported(bowtie), 422, "delivery_zone_invalid",
                          "features[1].geometry.coordinates")
    assert "Self-intersection" in body["detail"]
    open_ring = [SQUARE[0][:-1]]
    assert_problem(imported({"type": "FeatureCollection", "features": [feature(open_ring)]}),
                   422, "delivery_zone_invalid", "features[0].geometry.coordinates")
    out = [[[200.0, 31.0], [121.02, 31.0], [121.02, 31.02], [200.0, 31.0]]]
    body = assert_problem(imported({"type": "Polygon", "coordinates": out}), 422,
                          "delivery_zone_invalid", "coordinates")
    assert "longitude 200" in body["detail"]
    assert_problem(imported({"type": "Point", "coordinates": [1, 2]}), 422,
                   "delivery_zone_invalid", "type")
    around_hub = [[[121.0, 31.0], [121.2, 31.0], [121.2, 31.2], [121.0, 31.2], [121.0, 31.0]]]
    body = assert_problem(imported({"type": "FeatureCollection", "features": [
        feature(SQUARE), feature(around_hub)]}), 422, "delivery_hub_in_zone",
        "features[1].geometry.coordinates")
    assert body["hub_id"] == hub["id"]
    # all or none: the valid first feature of every refused import was not saved
    assert client.get("/v1/delivery/zones", headers=merchant).json()["items"] == []

    client.post("/v1/delivery/zones", headers=merchant, json={
        "name": "port", "geometry": {"type": "Polygon", "coordinates": SQUARE}})
    inside = {**HUB, "location": {"lat": 31.01, "lon": 121.01}}
    assert_problem(client.post("/v1/delivery/hubs", headers=merchant, json=inside), 422,
                   "delivery_hub_in_zone", "location")
    assert len(platform.fleet.fleet(TENANT).hubs) == 1


def test_only_the_tenants_merchant_manages_its_fleet(
        lite: tuple[Platform, TestClient, dict[str, str]]) -> None:
    platform, client, merchant = lite
    hub = client.post("/v1/delivery/hubs", headers=merchant, json=HUB).json()
    other = bearer(platform.keys.create(role=Role.MERCHANT, tenant="xiaomi").token)
    assert_problem(client.get(f"/v1/delivery/hubs/{hub['id']}", headers=other), 404,
                   "not_found")
    assert client.get("/v1/delivery/hubs", headers=other).json()["items"] == []
    assert_problem(client.post("/v1/delivery/drones", headers=other, json={
        "hub_id": hub["id"], "payload_kg": 1, "range_km": 10, "speed_kmh": 40}),
        404, "not_found", "hub_id")
    developer = bearer(platform.keys.create(role=Role.DEVELOPER, tenant=TENANT).token)
    assert_problem(client.get("/v1/delivery/zones", headers=developer), 403, "forbidden")
    assert_problem(client.post("/v1/delivery/hubs", headers=developer, json=HUB), 403,
                   "forbidden")
