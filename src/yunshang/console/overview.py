"""The overview page: today's sales, escrow, parked events, live flash-sale counters."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from .pages import ConsoleUser, NavItem, add_nav, render

router = APIRouter()

add_nav(NavItem("Overview", "/", order=0))


@router.get("/")
async def overview(request: Request, user: ConsoleUser) -> Response:
    """The signed-in tenant's day at a glance."""
    return render(request, "overview.html", {}, user)
