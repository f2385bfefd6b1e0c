"""Fixtures for end-to-end tests: a real server process on either stack.

``stack`` is parametrised over the embedded stack (SQLite + in-process
counters) and the scale stack (PostgreSQL + Redis, markers ``postgres`` and
``redis``). ``make_server`` builds :class:`ServerProcess` objects that are
always killed at teardown, and whose logs are attached to a failed test's
report.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess, Stack

_SERVERS = pytest.StashKey[list[ServerProcess]]()

#: Settings the e2e servers run with on the scale stack: claims admitted in Redis
#: whose orders never reached the database are settled after 2 s instead of 60 s.
SCALE_ENV = {"YUNSHANG_REDIS_STALE_AFTER_S": "2"}


@pytest.fixture(params=[
    pytest.param("embedded"),
    pytest.param("redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Stack:
    """Embedded (SQLite file under tmp_path) or scale (PostgreSQL + Redis) storage."""
    if request.param == "embedded":
        return Stack.embedded(tmp_path)
    pg = request.getfixturevalue("pg_url")
    rd = request.getfixturevalue("redis_url")
    return Stack.scale(tmp_path, pg, rd, **SCALE_ENV)


@pytest.fixture
def make_server(request: pytest.FixtureRequest,
                tmp_path: Path) -> Iterator[Callable[[Stack], ServerProcess]]:
    """Builds (not starts) server processes; none outlives the test."""
    made: list[ServerProcess] = []
    request.node.stash[_SERVERS] = made

    def build(stack: Stack) -> ServerProcess:
        server = ServerProcess(stack, tmp_path, name=f"server{len(made) + 1}")
        made.append(server)
        return server

    yield build
    for server in made:
        server.kill()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    report = yield
    if isinstance(report, pytest.TestReport) and report.failed:
        for server in item.stash.get(_SERVERS, []):
            report.sections.append((f"{server.name} log", server.log_text()))
    return report
