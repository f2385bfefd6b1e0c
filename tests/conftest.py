"""Shared fixtures: platforms on SQLite, PostgreSQL and Redis; factories for keys.

Service-backed tests carry the ``postgres`` / ``redis`` markers. Locally they
skip with a reason when the binaries are missing; with ``CI=true`` a missing
service fails the run instead.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.services import PostgresServer, RedisServer
from yunshang.kernel.clock import ManualClock
from yunshang.kernel.settings import Settings
from yunshang.platform import Platform

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(what: str, why: Exception) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI but could not start: {why}")
    pytest.skip(f"{what} not available here: {why}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer.start()
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    yield server
    server.stop()


_db_counter = itertools.count()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server."""
    name = f"ys_test_{os.getpid()}_{next(_db_counter)}"
    admin = create_engine(pg_server.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield pg_server.url(name)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer.start()
    except Exception as exc:
        _unavailable("Redis", exc)
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 11, 9, 0, tzinfo=UTC))


def sqlite_settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(var_dir=tmp_path, database_url=None, redis_url=None,
                    reservation_engine="embedded", **extra)


PlatformFactory = Callable[..., Platform]


@pytest.fixture
def make_platform(tmp_path: Path, clock: ManualClock) -> Iterator[PlatformFactory]:
    """Builds started platforms; every one is stopped at teardown."""
    made: list[Platform] = []

    def build(settings: Settings | None = None, *, start: bool = True) -> Platform:
        platform = Platform(settings or sqlite_settings(tmp_path), clock)
        platform.migrate()
        if start:
            platform.start(background=False)
        made.append(platform)
        return platform

    yield build
    for p in made:
        p.stop()


@pytest.fixture(params=["sqlite", "postgres+redis"])
def platform(request: pytest.FixtureRequest, tmp_path: Path,
             make_platform: PlatformFactory) -> Platform:
    """The same platform on both stacks: embedded (SQLite) and scale (PostgreSQL + Redis)."""
    if request.param == "sqlite":
        return make_platform(sqlite_settings(tmp_path))
    pg = request.getfixturevalue("pg_url")
    rd = request.getfixturevalue("redis_url")
    return make_platform(Settings(var_dir=tmp_path, database_url=pg, redis_url=rd,
                                  reservation_engine="redis"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Parametrised stacks get the service markers their fixtures need.
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec and "postgres+redis" in str(callspec.params.values()):
            item.add_marker(pytest.mark.postgres)
            item.add_marker(pytest.mark.redis)


def _whole_suite(session: pytest.Session) -> bool:
    """Whether this run is the whole suite (``make test``), not a selection."""
    opt = session.config.option
    # ``lf`` is the cache provider's option: absent under ``-p no:cacheprovider``.
    return (not opt.keyword and not opt.markexpr and not getattr(opt, "lf", False)
            and not opt.deselect
            and [Path(a).resolve() for a in session.config.args] in (
                [], [Path(session.config.rootpath, "tests").resolve()]))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A whole-suite run fails if some documented operation never had an answer
    checked against its response model (tests/http_support.py): drift there
    would go unnoticed."""
    if exitstatus != 0 or not _whole_suite(session):
        return
    from tests.http_support import CHECKED, documented_operations
    from yunshang.app import create_app

    missing = documented_operations(create_app(settings=sqlite_settings(
        Path(session.config.rootpath, "var", "contract")))) - CHECKED
    if missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("operations whose answers no test checked against their "
                                "response model:\n  " + "\n  ".join(sorted(missing)), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
