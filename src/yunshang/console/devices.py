"""Device pages: the registry (activation state and counts), OTA rollouts with their stage
progress and pause / resume / halt controls, and the OS adoption curve.

Reads and controls are the device services' own use cases with the signed-in principal
(the same calls as ``POST /v1/rollouts/{id}/pause`` and its siblings); the adoption
curve is analytics' ``ota_adoption`` metric, run as ``GET /v1/analytics/ota_adoption``
runs it. Each control is a plain POST form with the session's CSRF token: it works
without JavaScript (303 back, with the result as a message) and, with htmx, swaps the
rollout's panel in place.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from yunshang.analytics import METRICS, MetricParams
from yunshang.devices import DeviceState, Rollout, RolloutState
from yunshang.kernel.auth import Role
from yunshang.kernel.errors import DomainError
from yunshang.kernel.pagination import PageRequest, page_request

from .display import PAGE_SIZE
from .pages import (
    ConsoleUser,
    CsrfChecked,
    NavItem,
    add_nav,
    platform_of,
    redirect,
    render,
    safe_next,
)

router = APIRouter()

add_nav(NavItem("Devices", "/devices", frozenset({Role.MERCHANT}), order=20))
add_nav(NavItem("Rollouts", "/rollouts", frozenset({Role.MERCHANT}), order=21))

Cursor = Annotated[str | None, Query(max_length=200)]
RolloutId = Annotated[str, Path(max_length=40)]
#: What a rollout's buttons do, in the words of the OTA service's use cases.
Action = Literal["pause", "resume", "halt"]
PAST = {"pause": "paused", "resume": "resumed", "halt": "halted"}
#: The adoption chart's ranges (days back from now); the first is the default.
ADOPTION_DAYS = (30, 7, 90)


@router.get("/devices")
async def devices(request: Request, user: ConsoleUser,
                  state: Annotated[str | None, Query(max_length=20)] = None,
                  cursor: Cursor = None) -> Response:
    """The registry a page at a time, by activation state, with the count in each state."""
    registry = platform_of(request).registry
    errors: dict[str, str] = {}
    wanted: DeviceState | None = None
    if state:
        try:
            wanted = DeviceState(state)
        except ValueError:
            errors["state"] = f"“{state}” is not a device state; choose one from the list."
    page = await run_in_threadpool(lambda: registry.list(
        user.principal, _page(cursor), state=wanted))
    counts = await run_in_threadpool(registry.count_by_state, user.principal)
    rows = [{"imei": d.imei, "model": d.model, "state": d.state.value, "os": d.os_version,
             "account": d.account_id, "order": ({"href": f"/orders/{d.order_id}",
                                                 "text": d.order_id} if d.order_id else None),
             "activated": d.activated_at} for d in page.items]
    return render(request, "devices/devices.html", {
        "rows": rows, "counts": counts, "total": sum(counts.values()), "errors": errors,
        "state": state or "", "next_cursor": page.next_cursor,
        "state_options": [("", "Any state"), *((s.value, s.value) for s in DeviceState)],
    }, user, status_code=422 if errors else 200)


@router.get("/rollouts")
async def rollouts(request: Request, user: ConsoleUser, cursor: Cursor = None,
                   days: Annotated[int, Query(ge=1, le=366)] = ADOPTION_DAYS[0]) -> Response:
    """Every rollout, a page at a time, each with its stages and controls; the adoption
    curve over the last ``days``."""
    page = await run_in_threadpool(lambda: platform_of(request).ota.list_rollouts(
        user.principal, _page(cursor)))
    return render(request, "devices/rollouts.html", {
        "rollouts": [rollout_panel(r) for r in page.items], "next_cursor": page.next_cursor,
        "days": days, "days_options": [(d, f"last {d} days") for d in sorted(
            {*ADOPTION_DAYS, days})],
    }, user)


@router.get("/rollouts/{rollout_id}")
async def rollout(request: Request, user: ConsoleUser, rollout_id: RolloutId) -> Response:
    """One rollout: its stages, counts and controls."""
    found = await run_in_threadpool(platform_of(request).ota.get_rollout, user.principal,
                                    rollout_id)
    return render(request, "devices/rollout.html", {"r": rollout_panel(found)}, user)


@router.post("/rollouts/{rollout_id}/{action}")
async def control_rollout(request: Request, user: CsrfChecked, rollout_id: RolloutId,
                          action: Annotated[Action, Path()],
                          back: Annotated[str, Form(max_length=300)] = "/rollouts") -> Response:
    """Pauses, resumes or halts a rollout, as the API's ``POST /v1/rollouts/{id}/{action}``."""
    ota = platform_of(request).ota
    use_case = {"pause": ota.pause, "resume": ota.resume, "halt": ota.halt}[action]
    htmx = request.headers.get("HX-Request") == "true"
    try:
        changed = await run_in_threadpool(use_case, user.principal, rollout_id)
    except DomainError as refusal:
        if not htmx:
            raise  # the error page, with the API's status
        # htmx swaps only 2xx answers: the refusal is shown in the rollout's panel instead
        current = await run_in_threadpool(ota.get_rollout, user.principal, rollout_id)
        return render(request, "devices/_rollout.html",
                      {"r": rollout_panel(current), "message": refusal.message,
                       "refused": True, "back": safe_next(back)}, user)
    message = f"Rollout {changed.id} ({changed.model} {changed.to_version}) {PAST[action]}."
    if htmx:
        return render(request, "devices/_rollout.html",
                      {"r": rollout_panel(changed), "message": message, "refused": False,
                       "back": safe_next(back)}, user)
    return redirect(request, safe_next(back), flash=message)


@router.get("/console-data/ota-adoption")
async def adoption_spec(request: Request, user: ConsoleUser,
                        days: Annotated[int, Query(ge=1, le=366)] = ADOPTION_DAYS[0]) -> Response:
    """The adoption curve's chart spec: each OS version's share of the reporting devices,
    per day (analytics' ``ota_adoption``, ``view=versions``) over the last ``days``."""
    principal = user.principal
    principal.require(Role.MERCHANT)  # as GET /v1/analytics/{metric} requires
    platform = platform_of(request)
    params = MetricParams(tenant=principal.tenant,
                          start=platform.clock.now() - timedelta(days=days), view="versions")
    runner = METRICS["ota_adoption"]
    rows = await run_in_threadpool(lambda: runner.run(platform.analytics, params))
    return JSONResponse(adoption_chart(rows))


def adoption_chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``ota_adoption`` rows (day, os_version, devices, share) as a line per OS version of
    its share (in %) of the devices reporting each day."""
    days = sorted({str(r["day"]) for r in rows})
    versions = sorted({str(r["os_version"]) for r in rows})
    share = {(str(r["day"]), str(r["os_version"])): round(float(r["share"]) * 100, 1)
             for r in rows}
    return {"type": "line", "labels": days, "x_label": "Day (UTC)",
            "y_label": "Share of reporting devices (%)",
            "datasets": [{"label": f"OS {v}", "data": [share.get((d, v), 0.0) for d in days]}
                         for v in versions]}


def rollout_panel(r: Rollout) -> dict[str, Any]:
    """What a rollout's panel shows: its stages with their progress, and which controls
    its state allows."""
    stages = []
    for i, percent in enumerate(r.stages):
        if r.state is RolloutState.COMPLETED or i < r.stage:
            progress = "done"
        elif i == r.stage:
            progress = (f"current: {r.stage_successes} succeeded, {r.stage_failures} failed "
                        f"(advances after {r.min_reports} reports, "
                        f"{r.success_threshold:.0%} succeeding)")
        else:
            progress = "waiting"
        stages.append({"stage": i + 1, "percent": f"{percent}%", "progress": progress})
    return {"id": r.id, "model": r.model, "to_version": r.to_version, "state": r.state.value,
            "successes": r.successes, "failures": r.failures, "created_at": r.created_at,
            "stages": stages,
            "actions": [a for a, allowed in (
                ("pause", r.state is RolloutState.RUNNING),
                ("resume", r.state is RolloutState.PAUSED),
                ("halt", r.state in (RolloutState.RUNNING, RolloutState.PAUSED))) if allowed]}


def _page(cursor: str | None) -> PageRequest:
    return page_request(cursor, PAGE_SIZE)
