"""App store pages: a developer's apps with their signing certificates, and each app's
versions (what Android checks on install: SDK levels, signature schemes, certificates).

Reads are the app store service's with the signed-in principal: a developer sees its own
tenant's apps; another developer's app is "not found".
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from yunshang.kernel.auth import Role
from yunshang.kernel.pagination import page_request

from .display import PAGE_SIZE
from .pages import ConsoleUser, NavItem, add_nav, platform_of, render

router = APIRouter()

add_nav(NavItem("Apps", "/apps", frozenset({Role.DEVELOPER}), order=30))

Cursor = Annotated[str | None, Query(max_length=200)]


@router.get("/apps")
async def apps(request: Request, user: ConsoleUser, cursor: Cursor = None) -> Response:
    """The developer's apps, a page at a time."""
    page = await run_in_threadpool(platform_of(request).appstore.list_apps, user.principal,
                                   page_request(cursor, PAGE_SIZE))
    return render(request, "appstore/apps.html",
                  {"apps": page.items, "next_cursor": page.next_cursor}, user)


@router.get("/apps/{package}")
async def app(request: Request, user: ConsoleUser,
              package: Annotated[str, Path(max_length=255)], cursor: Cursor = None) -> Response:
    """One app and its versions, newest first."""
    store = platform_of(request).appstore
    found = await run_in_threadpool(store.get_app, user.principal, package)
    versions = await run_in_threadpool(store.versions, user.principal, package,
                                       page_request(cursor, PAGE_SIZE))
    return render(request, "appstore/app.html",
                  {"app": found, "versions": versions.items,
                   "next_cursor": versions.next_cursor}, user)
