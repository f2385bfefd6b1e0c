"""How one description of an operation serves both clients.

An operation is written once, as a function that builds a :class:`~._call.Call`
from typed arguments. :class:`Operation` (one answer) and :class:`Paginated`
(every item of a list, page after page) are descriptors: read on a
:class:`~yunshang.client.Client` they are methods that return the result, read
on an :class:`~yunshang.client.AsyncClient` methods that return an awaitable
(or an async iterator), with the builder's own signature either way.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from ._call import Call, PageLike

if TYPE_CHECKING:
    from ._async import AsyncClient
    from ._sync import Client

P = ParamSpec("P")
T = TypeVar("T")


class Operation(Generic[P, T]):
    """One request, one typed answer."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, client: None, owner: type) -> Operation[P, T]: ...

    @overload
    def __get__(self, client: Client, owner: type) -> Callable[P, T]: ...

    @overload
    def __get__(self, client: AsyncClient, owner: type) -> Callable[P, Awaitable[T]]: ...

    def __get__(self, client: Any, owner: type) -> Any:
        if client is None:
            return self
        build = self.build

        @functools.wraps(build)
        def method(*args: P.args, **kwargs: P.kwargs) -> Any:
            return client.send(build(*args, **kwargs))

        return method


class Paginated(Generic[P, T]):
    """Every item of a list, following ``next_cursor`` until the last page. The builder
    takes ``cursor``; the iterator starts from the one given (the first page if none)."""

    def __init__(self, build: Callable[P, Call[PageLike[T]]]) -> None:
        self.build = build
        self.__doc__ = f"Every item, page after page: {build.__doc__}"

    @overload
    def __get__(self, client: None, owner: type) -> Paginated[P, T]: ...

    @overload
    def __get__(self, client: Client, owner: type) -> Callable[P, Iterator[T]]: ...

    @overload
    def __get__(self, client: AsyncClient,
                owner: type) -> Callable[P, AsyncIterator[T]]: ...

    def __get__(self, client: Any, owner: type) -> Any:
        if client is None:
            return self
        build: Callable[..., Call[PageLike[T]]] = self.build

        @functools.wraps(build)
        def method(*args: P.args, **kwargs: P.kwargs) -> Any:
            first = kwargs.pop("cursor", None)
            return client.iterate(lambda cursor: build(*args, **kwargs, cursor=cursor), first)

        return method
