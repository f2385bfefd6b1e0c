"""Device registry, activation and telemetry over HTTP (/v1/devices…)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel, Field, StrictInt

from yunshang.kernel.errors import InvalidInput
from yunshang.web import (
    Imei,
    PageDep,
    PageRead,
    PlatformDep,
    PrincipalDep,
    Schema,
    page_view,
    problems,
)
from yunshang.web.problems import JsonResponse

from .domain import MAX_ATTRS, MAX_BATCH, MAX_FIELD, Device, DeviceState

router = APIRouter(prefix="/v1", tags=["devices"])

Token = Annotated[str, Field(min_length=8, max_length=200)]
#: The phone-model filter of the device cloud's lists (devices, rollouts, releases).
ModelFilter = Annotated[str | None, Query(max_length=100)]


class DeviceRead(BaseModel):
    id: str
    imei: str
    model: str
    serial: str
    os_version: str
    api_level: int
    state: DeviceState
    account_id: str | None
    order_id: str | None
    sku_id: str | None
    registered_at: datetime
    sold_at: datetime | None
    activated_at: datetime | None


class ImportRead(BaseModel):
    imported: int
    models: dict[str, int]


class ActivationCreate(Schema):
    imei: Annotated[str, Field(min_length=1, max_length=32)]
    account_token: Token


class ReleaseCreate(Schema):
    account_token: Token | None = None


class UsageEventIn(Schema):
    kind: Annotated[str, Field(max_length=32)]
    at: AwareDatetime
    package: Annotated[str, Field(max_length=MAX_FIELD)] | None = None
    duration_ms: StrictInt | None = Field(default=None, ge=0, le=86_400_000)
    attrs: dict[Annotated[str, Field(max_length=64)],
                Annotated[str, Field(max_length=MAX_FIELD)]] = Field(
        default_factory=dict, max_length=MAX_ATTRS)


class TelemetryCreate(Schema):
    events: list[UsageEventIn] = Field(min_length=1, max_length=MAX_BATCH)


class TelemetryRead(BaseModel):
    accepted: int


def device_view(d: Device) -> dict[str, Any]:
    return {
        "id": d.id, "imei": d.imei, "model": d.model, "serial": d.serial,
        "os_version": d.os_version, "api_level": d.api_level, "state": d.state.value,
        "account_id": d.account_id, "order_id": d.order_id, "sku_id": d.sku_id,
        "registered_at": d.registered_at.isoformat(),
        "sold_at": d.sold_at.isoformat() if d.sold_at else None,
        "activated_at": d.activated_at.isoformat() if d.activated_at else None,
    }


@router.post(
    "/devices/import", status_code=201, response_model=ImportRead,
    openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}},
                                   "required": True}},
    description="A manufacturing batch as CSV (header `imei,model,serial,os_version,api_level`). "
                "All rows or none: any bad row refuses the batch with every error listed.",
)
async def import_devices(request: Request, platform: PlatformDep,
                         who: PrincipalDep) -> JsonResponse:
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("body", "the CSV must be UTF-8") from None
    result = await run_in_threadpool(platform.registry.import_batch, who, text)
    return JsonResponse({"imported": result.imported, "models": result.model_counts},
                        status_code=201)


@router.get("/devices", response_model=PageRead[DeviceRead])
def list_devices(platform: PlatformDep, who: PrincipalDep, page: PageDep,
                 model: ModelFilter = None,
                 state: DeviceState | None = None) -> JsonResponse:
    result = platform.registry.list(who, page, model=model, state=state)
    return JsonResponse(page_view(result, device_view))


@router.post("/devices/activate", response_model=DeviceRead, responses=problems(409))
def activate(body: ActivationCreate, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    """The phone (device key) activates itself for its buyer's account (the account token)."""
    device = platform.registry.activate(who, imei=body.imei, account_token=body.account_token)
    return JsonResponse(device_view(device))


@router.get("/devices/{imei}", response_model=DeviceRead)
def get_device(imei: Imei, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(device_view(platform.registry.get(who, imei)))


@router.post("/devices/{imei}/release", response_model=DeviceRead,
             responses=problems(409))
def release(imei: Imei, platform: PlatformDep, who: PrincipalDep,
            body: ReleaseCreate | None = None) -> JsonResponse:
    """The owner lifts the activation lock."""
    device = platform.registry.release(who, imei=imei,
                                       account_token=body.account_token if body else None)
    return JsonResponse(device_view(device))


@router.post("/devices/{imei}/telemetry", status_code=202, response_model=TelemetryRead)
def telemetry(imei: Imei, body: TelemetryCreate, platform: PlatformDep,
              who: PrincipalDep) -> JsonResponse:
    """A batch of usage events; a malformed batch is refused whole, naming the field."""
    raw = [e.model_dump() for e in body.events]
    accepted = platform.telemetry.ingest(who, imei, raw)
    return JsonResponse({"accepted": accepted}, status_code=202)
