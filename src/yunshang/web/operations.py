"""The platform operator's endpoints: parked events (list, replay) and the metrics.

Only the platform operator's admin keys (tenant ``platform``) reach them: a parked
event can belong to any tenant, and the metrics describe the whole platform.
``/metrics`` speaks Prometheus' text format; a scraper sends the key as a bearer
token (``authorization`` in its scrape config).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from yunshang.kernel.errors import Forbidden
from yunshang.kernel.parking import ParkedEvent
from yunshang.kernel.relay import RelayHealth

from . import ID_PATTERN, PageDep, PageRead, PlatformDep, PrincipalDep, page_view, problems
from .problems import JsonResponse

router = APIRouter(tags=["operations"])

ParkedId = Annotated[str, Path(pattern=ID_PATTERN, max_length=40,
                               description="The parked event's id (pev_…).")]


class ParkedEventRead(BaseModel):
    id: str
    subscriber: str
    event_id: str
    event_name: str
    tenant: str
    position: list[int]
    error: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    replayed_at: datetime | None


def parked_view(p: ParkedEvent) -> dict[str, object]:
    return {"id": p.id, "subscriber": p.subscriber, "event_id": p.event_id,
            "event_name": p.event_name, "tenant": p.tenant, "position": list(p.position),
            "error": p.error, "attempts": p.attempts,
            "first_failed_at": p.first_failed_at.isoformat(),
            "last_failed_at": p.last_failed_at.isoformat(),
            "replayed_at": p.replayed_at.isoformat() if p.replayed_at else None}


@router.get("/v1/admin/parked-events", response_model=PageRead[ParkedEventRead])
def list_parked_events(
    platform: PlatformDep, who: PrincipalDep, page: PageDep,
    subscriber: Annotated[str | None, Query(max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")] = None,
    include_replayed: bool = False,
) -> JsonResponse:
    """Events the relay gave up on, oldest first (platform admin only)."""
    result = platform.relay.parked(who, page, subscriber=subscriber,
                                   include_replayed=include_replayed)
    return JsonResponse(page_view(result, parked_view))


@router.post("/v1/admin/parked-events/{parked_id}/replay", response_model=ParkedEventRead,
             responses=problems(409))
def replay_parked_event(parked_id: ParkedId, platform: PlatformDep,
                        who: PrincipalDep) -> JsonResponse:
    """Re-runs the subscriber's handler on the event; 409 ``replay_failed`` keeps it parked
    with the new error."""
    return JsonResponse(parked_view(platform.relay.replay(who, parked_id)))


PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {PROMETHEUS_TEXT: {}}}})
def metrics(platform: PlatformDep, who: PrincipalDep) -> Response:
    """Prometheus text: parked events and relay lag per subscriber (platform admin only)."""
    if not who.is_platform_admin:
        raise Forbidden("only the platform operator's admin keys read the metrics")
    return Response(prometheus_text(platform.relay.health()), media_type=PROMETHEUS_TEXT)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(health: RelayHealth) -> str:
    """The relay's health in Prometheus' text exposition format."""
    lines = ["# HELP yunshang_parked_events Events the relay parked after their retries, "
             "not yet replayed.",
             "# TYPE yunshang_parked_events gauge"]
    lines += [f'yunshang_parked_events{{subscriber="{_label(name)}"}} {n}'
              for name, n in sorted(health.parked.items())]
    lines += ["# HELP yunshang_relay_lag_events Committed outbox events a subscriber has not "
              "been delivered yet.",
              "# TYPE yunshang_relay_lag_events gauge"]
    lines += [f'yunshang_relay_lag_events{{subscriber="{_label(name)}"}} {n}'
              for name, n in sorted(health.lag.items())]
    return "\n".join(lines) + "\n"
