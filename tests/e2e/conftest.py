"""Fixtures for end-to-end tests: a real server process on either stack.

``stack`` is parametrised over the embedded stack (SQLite + in-process
counters) and the scale stack (PostgreSQL + Redis, markers ``postgres`` and
``redis``). ``make_server`` builds :class:`ServerProcess` objects that are
always killed at teardown, and whose logs are attached to a failed test's
report.

The browser tests (marker ``browser``) get ``browser`` (Playwright's chromium,
the system's binary), ``console_world`` (a seeded platform served in a thread)
and ``browser_page`` (a fresh page at laptop size on the console's origin).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _unavailable
from tests.e2e.browser_support import VIEWPORTS, ConsoleServer, ConsoleWorld
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


# ----------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium (``YUNSHANG_CHROMIUM`` names another): skipped locally when
    missing, a failure with ``CI=true`` (``.ci/run`` installs it)."""
    from tests.e2e.browser_support import chromium_path

    path, why = chromium_path()
    if path is None:
        _unavailable("chromium", RuntimeError(why))
    return str(path)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    """One headless chromium per test module, launched by Playwright through
    ``executable_path`` (Playwright's own browser download is never used). Not for the
    session: Playwright's sync API keeps an event loop running in the main thread until
    it stops, and the e2e tests after the browser's use ``asyncio.run``."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # the dev extra not installed
        _unavailable("Playwright", exc)
    with sync_playwright() as pw:
        try:
            launched = pw.chromium.launch(executable_path=chromium, headless=True)
        except Exception as exc:
            _unavailable(f"chromium ({chromium})", exc)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def console_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleWorld]:
    """The seeded platform served on a free loopback port for a module's browser tests."""
    with ConsoleServer(tmp_path_factory.mktemp("console")) as world:
        yield world


@pytest.fixture
def browser_page(browser: Any, console_world: ConsoleWorld) -> Iterator[Any]:
    """A fresh browser context (no cookies) at laptop size, on the console's origin."""
    context = browser.new_context(base_url=console_world.url, viewport=VIEWPORTS["desktop"])
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
