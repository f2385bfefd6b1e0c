"""Fixtures of the HTTP contract tests: two seeded tenants behind a TestClient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import PlatformFactory
from tests.http_support import open_client
from tests.integration.commerce.api_support import World, build_world
from yunshang.platform import Platform


@pytest.fixture
def world(make_platform: PlatformFactory) -> Iterator[World]:
    """Two seeded tenants on SQLite, and a client."""
    platform = make_platform()
    with open_client(platform) as client:
        yield build_world(platform, client)


@pytest.fixture
def world_any(platform: Platform) -> Iterator[World]:
    """Two seeded tenants on each stack (SQLite; PostgreSQL + Redis), and a client."""
    with open_client(platform) as client:
        yield build_world(platform, client)
