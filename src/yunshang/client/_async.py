"""The asyncio client: the same operations as :class:`~yunshang.client.Client`, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TypeVar

import httpx

from ._call import Call, PageLike, Retries, outcome
from ._operations import Operations

T = TypeVar("T")


class AsyncClient(Operations):
    """The Yunshang API over HTTP from asyncio. At most ``max_in_flight`` requests are
    on the wire at once, so a crowd of tasks cannot flood the server or run out of
    sockets. The others wait on a semaphore, not in httpx's connection pool: the
    pool rescans its whole queue of waiting requests whenever a connection frees
    up, so thousands of waiting requests made a rush quadratic."""

    def __init__(self, base_url: str, api_key: str | None = None, *,
                 timeout: float = 10.0, retries: Retries | None = None,
                 max_in_flight: int = 100,
                 headers: Mapping[str, str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        sent = dict(headers or {})
        if api_key is not None:
            sent["Authorization"] = f"Bearer {api_key}"
        limits = httpx.Limits(max_connections=max_in_flight,
                              max_keepalive_connections=max_in_flight)
        # a request waiting for a free connection is not late: the pool wait is unbounded
        self.http = httpx.AsyncClient(base_url=base_url, headers=sent, limits=limits,
                                      timeout=httpx.Timeout(timeout, pool=None),
                                      transport=transport)
        self.retries = retries or Retries()
        self._sleep = sleep
        self._slots = asyncio.Semaphore(max_in_flight)

    async def send(self, call: Call[T]) -> T:
        """Sends ``call``, retrying where it is safe (:class:`Retries`)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._slots:
                    response = await self.http.send(call.request(self.http))
            except httpx.TransportError:
                wait = self.retries.wait_after(call, attempt, None)
                if wait is None:
                    raise
            else:
                wait = self.retries.wait_after(call, attempt, response)
                if wait is None:
                    return outcome(call, response)
            await self._sleep(wait)

    async def iterate(self, build: Callable[[str | None], Call[PageLike[T]]],
                      cursor: str | None = None) -> AsyncIterator[T]:
        """Every item of a list, one page at a time."""
        while True:
            page = await self.send(build(cursor))
            for item in page.items:
                yield item
            cursor = page.next_cursor
            if not cursor:
                return

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()
