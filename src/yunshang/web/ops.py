"""Operations endpoints: is the process alive, are its dependencies reachable.

``/livez`` answers while the process can serve at all (an orchestrator restarts it
otherwise); ``/readyz`` asks the database (and Redis) now and answers 503
``database_unavailable`` / ``redis_unavailable`` when one is down (send no traffic,
do not restart); ``/healthz`` reports what this process last saw of each
dependency without asking (cheap: the benchmarks' baseline route).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from yunshang.kernel.outages import unavailable

from .problems import JsonResponse

router = APIRouter(tags=["ops"])

State = Literal["up", "down"]


class LiveRead(BaseModel):
    ok: bool


class HealthRead(BaseModel):
    ok: bool
    dependencies: dict[str, State]


@router.get("/livez", response_model=LiveRead)
async def livez() -> JsonResponse:
    """The process is alive (no dependency is asked)."""
    return JsonResponse({"ok": True})


@router.get("/healthz", response_model=HealthRead)
async def healthz(request: Request) -> JsonResponse:
    """Each dependency as this process last saw it (a request or the once-a-second probe)."""
    states = request.app.state.platform.dependencies.snapshot()
    return JsonResponse({"ok": all(v == "up" for v in states.values()), "dependencies": states})


@router.get("/readyz", response_model=HealthRead,
            responses={503: {"description": "a dependency is down (problem document)"}})
async def readyz(request: Request) -> JsonResponse:
    """Asks each dependency now: 200 when all answer, else 503 naming the one that is down."""
    states = await run_in_threadpool(request.app.state.platform.probe_dependencies)
    down = [name for name, state in states.items() if state == "down"]
    if down:
        refusal = unavailable(down[0])
        refusal.data["dependencies"] = states
        raise refusal
    return JsonResponse({"ok": True, "dependencies": states})
