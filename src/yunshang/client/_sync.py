"""The blocking client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

import httpx

from ._call import Call, PageLike, Retries, outcome
from ._operations import Operations

T = TypeVar("T")


class Client(Operations):
    """The Yunshang API over HTTP: one method per operation, typed answers, refusals
    raised as :class:`~yunshang.client.ApiError`.

    ``api_key`` goes out as ``Authorization: Bearer``; ``transport`` replaces the
    network (an in-process app in tests); ``sleep`` is how a retry waits.
    """

    def __init__(self, base_url: str, api_key: str | None = None, *,
                 timeout: float = 10.0, retries: Retries | None = None,
                 headers: Mapping[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        sent = dict(headers or {})
        if api_key is not None:
            sent["Authorization"] = f"Bearer {api_key}"
        self.http = httpx.Client(base_url=base_url, headers=sent, timeout=timeout,
                                 transport=transport)
        self.retries = retries or Retries()
        self._sleep = sleep

    def send(self, call: Call[T]) -> T:
        """Sends ``call``, retrying where it is safe (:class:`Retries`)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.http.send(call.request(self.http))
            except httpx.TransportError:
                wait = self.retries.wait_after(call, attempt, None)
                if wait is None:
                    raise
            else:
                wait = self.retries.wait_after(call, attempt, response)
                if wait is None:
                    return outcome(call, response)
            self._sleep(wait)

    def iterate(self, build: Callable[[str | None], Call[PageLike[T]]],
                cursor: str | None = None) -> Iterator[T]:
        """Every item of a list, one page at a time."""
        while True:
            page = self.send(build(cursor))
            yield from page.items
            cursor = page.next_cursor
            if not cursor:
                return

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
