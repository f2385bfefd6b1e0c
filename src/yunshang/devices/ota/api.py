"""OTA over HTTP: releases, rollouts, device check-ins and reports, and the TUF mirror.

The TUF file endpoints (``/v1/tuf/…``) are public, like any TUF mirror: every
byte they serve is verified by the device against signed metadata.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from yunshang.kernel.errors import InvalidInput, NotFound
from yunshang.os_versions import OS_VERSION_PATTERN
from yunshang.web import (
    ID_PATTERN,
    Imei,
    PageDep,
    PageRead,
    PlatformDep,
    PrincipalDep,
    Schema,
    page_view,
)
from yunshang.web.fastpath import FastRoute
from yunshang.web.problems import JsonResponse
from yunshang.web.ranges import file_response
from yunshang.web.uploads import receive_to_file

from ..registry.api import ModelFilter
from .domain import (
    DEFAULT_STAGES,
    MAX_DETAIL,
    MAX_NOTES,
    Offer,
    OsRelease,
    Rollout,
    RolloutState,
    UpdateReport,
)

router = APIRouter(prefix="/v1", tags=["ota"])

#: Routes whose bodies are OS images: ``max_upload_bytes``, streamed (see ``app.BodyLimit``).
UPLOAD_PATHS = ("/v1/releases",)

Id = Annotated[str, Path(min_length=3, max_length=40, pattern=ID_PATTERN)]
Model = Annotated[str, Query(min_length=1, max_length=100, description="The phone model, as "
                                                                       "in the registry.")]
Version = Annotated[str, Query(max_length=40, pattern=OS_VERSION_PATTERN,
                               description="Dot-separated numbers, newer than the model's "
                                           "latest release.")]
VersionText = Annotated[str, Field(max_length=40)]

# ---------------------------------------------------------------- schemas


class ImageRead(BaseModel):
    target: str
    sha256: str
    length: int


class DeltaRead(BaseModel):
    from_version: str
    target: str
    sha256: str
    length: int


class ReleaseRead(BaseModel):
    id: str
    model: str
    version: str
    image: ImageRead
    delta: DeltaRead | None
    notes: str
    created_at: datetime


class RolloutCreate(Schema):
    release_id: Annotated[str, Field(min_length=3, max_length=40, pattern=ID_PATTERN)]
    stages: list[StrictInt] = Field(default=list(DEFAULT_STAGES), min_length=1, max_length=20,
                                    description="Percent of the model's devices per stage, "
                                                "increasing, ending at 100.")
    success_threshold: StrictFloat = Field(
        default=0.95, description="Share of a stage's reports that must be successes to "
                                  "advance (0-1].")
    failure_threshold: StrictFloat = Field(
        default=0.2, description="The rollout halts once its failure rate passes this (0-1].")
    min_reports: StrictInt = Field(default=10, ge=1, le=1_000_000,
                                   description="Reports needed before either rule applies.")


class RolloutRead(BaseModel):
    id: str
    release_id: str
    model: str
    to_version: str
    stages: list[int]
    stage: int
    percent: int
    state: RolloutState
    success_threshold: float
    failure_threshold: float
    min_reports: int
    stage_successes: int
    stage_failures: int
    successes: int
    failures: int
    created_at: datetime


class ReportRead(BaseModel):
    rollout_id: str
    device_id: str
    imei: str
    success: bool
    detail: str
    reported_at: datetime


class CheckInCreate(Schema):
    current_version: VersionText | None = Field(
        default=None, description="The OS version the phone runs (default: the registry's).")


class FileRead(BaseModel):
    target: str
    length: int


class DeltaFileRead(FileRead):
    from_version: str


class UpdateOffer(BaseModel):
    rollout_id: str
    release_id: str
    version: str
    image: FileRead
    delta: DeltaFileRead | None


class CheckInRead(BaseModel):
    update: UpdateOffer | None


class ReportCreate(Schema):
    rollout_id: Annotated[str, Field(min_length=3, max_length=40, pattern=ID_PATTERN)]
    success: StrictBool
    detail: Annotated[str, Field(max_length=MAX_DETAIL)] = ""


class ReportOutcomeRead(BaseModel):
    report: ReportRead
    rollout: RolloutRead


# ---------------------------------------------------------------- views


def release_view(r: OsRelease) -> dict[str, Any]:
    delta = None
    if r.delta_target is not None:
        delta = {"from_version": r.delta_from, "target": r.delta_target,
                 "sha256": r.delta_sha256, "length": r.delta_length}
    return {"id": r.id, "model": r.model, "version": r.version,
            "image": {"target": r.image_target, "sha256": r.image_sha256,
                      "length": r.image_length},
            "delta": delta, "notes": r.notes, "created_at": r.created_at.isoformat()}


def rollout_view(r: Rollout) -> dict[str, Any]:
    return {"id": r.id, "release_id": r.release_id, "model": r.model,
            "to_version": r.to_version, "stages": list(r.stages), "stage": r.stage,
            "percent": r.percent, "state": r.state.value,
            "success_threshold": r.success_threshold, "failure_threshold": r.failure_threshold,
            "min_reports": r.min_reports, "stage_successes": r.stage_successes,
            "stage_failures": r.stage_failures, "successes": r.successes,
            "failures": r.failures,
            "created_at": r.created_at.isoformat() if r.created_at else None}


def report_view(r: UpdateReport) -> dict[str, Any]:
    return {"rollout_id": r.rollout_id, "device_id": r.device_id, "imei": r.imei,
            "success": r.success, "detail": r.detail, "reported_at": r.reported_at.isoformat()}


def offer_view(o: Offer | None) -> dict[str, Any]:
    if o is None:
        return {"update": None}
    delta = None
    if o.delta_target is not None:
        delta = {"target": o.delta_target, "length": o.delta_length,
                 "from_version": o.delta_from}
    return {"update": {"rollout_id": o.rollout_id, "release_id": o.release_id,
                       "version": o.version,
                       "image": {"target": o.image_target, "length": o.image_length},
                       "delta": delta}}


# ---------------------------------------------------------------- releases

_UPLOAD_DOC = (
    "Uploads an OS image as the **raw request body** (`Content-Type: "
    "application/octet-stream`; multipart is not accepted) with `model`, `version` "
    "and `notes` as query parameters. The body must declare a `Content-Length` (411 "
    "otherwise) of at most `YUNSHANG_MAX_UPLOAD_BYTES` (512 MiB by default; 413 above). "
    "The platform stores the image, computes a bsdiff4 delta from the model's previous "
    "release and publishes both as TUF targets."
)


@router.post(
    "/releases", status_code=201, response_model=ReleaseRead, description=_UPLOAD_DOC,
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
    responses={409: {"description": "version_exists"}, 411: {"description": "length_required"},
               413: {"description": "body_too_large"}},
)
async def create_release(request: Request, platform: PlatformDep, who: PrincipalDep,
                         model: Model, version: Version,
                         notes: Annotated[str, Query(max_length=MAX_NOTES)] = "") -> JsonResponse:
    # Refuse a release that cannot be created before reading a possibly huge body.
    await run_in_threadpool(platform.ota.check_new_release, who, model=model, version=version)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/", "application/x-www-form-urlencoded")):
        raise InvalidInput("body", "send the image as the raw request body "
                                   "(application/octet-stream), not as a form")
    image = await _receive_image(request, platform.blobs.root,
                                 platform.settings.max_upload_bytes)
    try:
        release = await run_in_threadpool(platform.ota.create_release, who, model=model,
                                          version=version, image=image, notes=notes)
    finally:
        image.unlink(missing_ok=True)
    return JsonResponse(release_view(release), status_code=201)


async def _receive_image(request: Request, directory: FsPath, limit: int) -> FsPath:
    fd, name = tempfile.mkstemp(dir=directory, prefix=".upload-")
    os.close(fd)
    path = FsPath(name)
    try:
        received = await receive_to_file(request, path, limit=limit, what="the image")
    except ClientDisconnect:
        path.unlink(missing_ok=True)
        raise InvalidInput("body", "the upload was cut off before its end") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if received == 0:
        path.unlink(missing_ok=True)
        raise InvalidInput("body", "the image is empty")
    return path


@router.get("/releases", response_model=PageRead[ReleaseRead])
def list_releases(platform: PlatformDep, who: PrincipalDep, page: PageDep,
                  model: ModelFilter = None) -> JsonResponse:
    result = platform.ota.list_releases(who, page, model=model)
    return JsonResponse(page_view(result, release_view))


@router.get("/releases/{release_id}", response_model=ReleaseRead)
def get_release(release_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(release_view(platform.ota.get_release(who, release_id)))


# ---------------------------------------------------------------- rollouts


@router.post("/rollouts", status_code=201, response_model=RolloutRead,
             responses={409: {"description": "rollout_active"}})
def create_rollout(body: RolloutCreate, platform: PlatformDep,
                   who: PrincipalDep) -> JsonResponse:
    """Starts a staged rollout: each stage is a share of the model's devices, chosen by a
    stable hash of the IMEI; stages advance on the success threshold, and the rollout
    halts by itself when the failure rate passes the failure threshold."""
    rollout = platform.ota.create_rollout(
        who, release_id=body.release_id, stages=body.stages,
        success_threshold=body.success_threshold, failure_threshold=body.failure_threshold,
        min_reports=body.min_reports)
    return JsonResponse(rollout_view(rollout), status_code=201)


@router.get("/rollouts", response_model=PageRead[RolloutRead])
def list_rollouts(platform: PlatformDep, who: PrincipalDep, page: PageDep,
                  model: ModelFilter = None,
                  state: RolloutState | None = None) -> JsonResponse:
    result = platform.ota.list_rollouts(who, page, model=model, state=state)
    return JsonResponse(page_view(result, rollout_view))


@router.get("/rollouts/{rollout_id}", response_model=RolloutRead)
def get_rollout(rollout_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(rollout_view(platform.ota.get_rollout(who, rollout_id)))


@router.get("/rollouts/{rollout_id}/reports", response_model=PageRead[ReportRead])
def list_reports(rollout_id: Id, platform: PlatformDep, who: PrincipalDep,
                 page: PageDep) -> JsonResponse:
    """What the devices reported, failures with their reason."""
    result = platform.ota.list_reports(who, rollout_id, page)
    return JsonResponse(page_view(result, report_view))


@router.post("/rollouts/{rollout_id}/pause", response_model=RolloutRead,
             responses={409: {"description": "rollout_state"}})
def pause_rollout(rollout_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(rollout_view(platform.ota.pause(who, rollout_id)))


@router.post("/rollouts/{rollout_id}/resume", response_model=RolloutRead,
             responses={409: {"description": "rollout_state"}})
def resume_rollout(rollout_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(rollout_view(platform.ota.resume(who, rollout_id)))


@router.post("/rollouts/{rollout_id}/halt", response_model=RolloutRead,
             responses={409: {"description": "rollout_state"}})
def halt_rollout(rollout_id: Id, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    return JsonResponse(rollout_view(platform.ota.halt(who, rollout_id)))


# ---------------------------------------------------------------- devices


async def check_in(imei: Imei, platform: PlatformDep, who: PrincipalDep,
                   body: CheckInCreate | None = None) -> JsonResponse:
    """The phone (its device key) asks whether an update is offered to it now."""
    current = body.current_version if body else None
    if platform.db.is_sqlite:
        # The hot path: mostly memory, at most a couple of indexed reads of a local file
        # (WAL readers never wait for writers); cheaper here than a hop to a thread.
        offer = platform.ota.check_in(who, imei=imei, current_version=current)
    else:
        offer = await run_in_threadpool(platform.ota.check_in, who, imei=imei,
                                        current_version=current)
    return JsonResponse(offer_view(offer))


router.add_api_route("/devices/{imei}/check-in", check_in, methods=["POST"],
                     response_model=CheckInRead, route_class_override=FastRoute)


@router.post("/devices/{imei}/update-reports", status_code=201,
             response_model=ReportOutcomeRead,
             responses={200: {"description": "the device had reported already (no change)"},
                        409: {"description": "not_in_rollout"}})
def report_update(imei: Imei, body: ReportCreate, platform: PlatformDep,
                  who: PrincipalDep) -> JsonResponse:
    """The phone reports how its update went: once per rollout (a repeat changes nothing)."""
    outcome = platform.ota.report(who, imei=imei, rollout_id=body.rollout_id,
                                  success=body.success, detail=body.detail)
    return JsonResponse({"report": report_view(outcome.report),
                         "rollout": rollout_view(outcome.rollout)},
                        status_code=201 if outcome.created else 200)


# ---------------------------------------------------------------- TUF mirror

_IMMUTABLE = "public, max-age=31536000, immutable"


@router.get("/tuf/metadata/{name}", tags=["tuf"], response_class=Response,
            responses={200: {"content": {"application/json": {}}}})
def tuf_metadata(name: Annotated[str, Path(max_length=120)], platform: PlatformDep) -> Response:
    """TUF metadata: ``N.root.json``, ``timestamp.json``, ``N.snapshot.json``,
    ``N.targets.json``, ``N.tenant-<tenant>.json``. Public."""
    path = platform.tuf.metadata_file(name)
    if path is None:
        raise NotFound("tuf metadata", name, field="name")
    try:
        # Read whole (a few KB): timestamp.json is replaced, never rewritten in place, so
        # the bytes read are one version, whatever the length a stat said a moment ago.
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound("tuf metadata", name, field="name") from None
    # Versioned files never change (consistent snapshots); only the timestamp does.
    cache = "no-cache" if name == "timestamp.json" else _IMMUTABLE
    return Response(data, media_type="application/json", headers={"Cache-Control": cache})


@router.get("/tuf/targets/{target:path}", tags=["tuf"], response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}},
                       206: {"description": "a byte range (Range: bytes=…)"},
                       416: {"description": "range_not_satisfiable"}})
def tuf_target(target: Annotated[str, Path(max_length=400)], request: Request,
               platform: PlatformDep) -> FileResponse:
    """A target file, as ``<dir>/<sha256>.<name>``: an OS image or delta. Public; supports
    HTTP range requests, so an interrupted download can resume."""
    digest = platform.tuf.target_blob(target)
    if digest is None or not platform.blobs.exists(digest):
        raise NotFound("tuf target", target, field="target")
    return file_response(request, platform.blobs.path(digest),
                         media_type="application/octet-stream",
                         headers={"Cache-Control": _IMMUTABLE})


__all__ = ["UPLOAD_PATHS", "router"]
