"""The app store over HTTP (/v1/apps…, /v1/devices/{imei}/apps…). Thin: parse, call, shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import anyio
from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable

from yunshang.kernel.auth import Role
from yunshang.web import JsonResponse, PageDep, PlatformDep, PrincipalDep, page_body

from .apk import MAX_VERSION_CODE
from .appstore_store import App, AppVersion, Install

router = APIRouter(prefix="/v1", tags=["app store"])

#: Routes whose bodies are APKs: the body limit middleware applies the upload limit.
UPLOAD_PATHS = ("/v1/apps",)

APK_MEDIA_TYPE = "application/vnd.android.package-archive"
_UPLOAD_TYPES = frozenset({APK_MEDIA_TYPE, "application/octet-stream"})

Package = Annotated[str, Path(min_length=3, max_length=255,
                              pattern=r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$",
                              description="Android application id, e.g. com.example.app")]
VersionCode = Annotated[int, Path(ge=1, le=MAX_VERSION_CODE)]
Imei = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9]+$")]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


class AppRead(BaseModel):
    id: str
    package: str
    label: str | None
    developer: str
    latest_version_code: int
    certificates: list[str]
    created_at: datetime
    updated_at: datetime


class VersionRead(BaseModel):
    id: str
    package: str
    version_code: int
    version_name: str | None
    min_sdk: int
    target_sdk: int
    effective_min_api: int
    permissions: list[str]
    certificates: list[str]
    schemes: list[str]
    sha256: str
    size: int
    download_url: str
    created_at: datetime


class PublishedRead(BaseModel):
    app: AppRead
    version: VersionRead


class AvailableRead(BaseModel):
    app: AppRead
    version: VersionRead


class InstallRead(BaseModel):
    id: str
    package: str
    version_code: int
    installed_at: datetime
    uninstalled_at: datetime | None


# ---------------------------------------------------------------- views


def app_view(a: App) -> dict[str, Any]:
    return {"id": a.id, "package": a.package, "label": a.label, "developer": a.tenant,
            "latest_version_code": a.latest_version_code, "certificates": list(a.certificates),
            "created_at": a.created_at.isoformat(), "updated_at": a.updated_at.isoformat()}


def version_view(v: AppVersion) -> dict[str, Any]:
    return {"id": v.id, "package": v.package, "version_code": v.version_code,
            "version_name": v.version_name, "min_sdk": v.min_sdk, "target_sdk": v.target_sdk,
            "effective_min_api": v.effective_min_api, "permissions": list(v.permissions),
            "certificates": list(v.certificates), "schemes": list(v.schemes),
            "sha256": v.blob_sha256, "size": v.size,
            "download_url": f"/v1/apps/{v.package}/versions/{v.version_code}/apk",
            "created_at": v.created_at.isoformat()}


def install_view(i: Install) -> dict[str, Any]:
    return {"id": i.id, "package": i.package, "version_code": i.version_code,
            "installed_at": i.installed_at.isoformat(),
            "uninstalled_at": i.uninstalled_at.isoformat() if i.uninstalled_at else None}


def _problem(request: Request, status: int, code: str, detail: str,
             headers: dict[str, str] | None = None, **extra: Any) -> Response:
    # (replaced by typed errors in the devices split)
    from yunshang.web.problems import problem

    response = problem(status, code, detail, request.url.path, **extra)
    response.headers.update(headers or {})
    return response


# ---------------------------------------------------------------- developers


@router.post(
    "/apps", status_code=201, response_model=PublishedRead,
    openapi_extra={"requestBody": {"required": True, "content": {
        APK_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
    description=(
        "Publishes an APK (developer key). Send the APK file itself as the request body "
        f"with `Content-Type: {APK_MEDIA_TYPE}` (`application/octet-stream` is accepted "
        "too); no multipart. The first upload of a package makes the caller's tenant its "
        "owner; later uploads are updates and must be signed by the same certificates and "
        "carry a greater versionCode. The signature is verified with apksigner; refusals: "
        "`apk_invalid`, `apk_unsigned`, `apk_bad_signature` (422), "
        "`package_owned_by_another_developer`, `apk_certificate_mismatch`, "
        "`apk_version_not_newer` (409), `body_too_large` (413), `apk_verifier_unavailable` "
        "(503)."),
)
async def upload_app(request: Request, platform: PlatformDep, who: PrincipalDep) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _UPLOAD_TYPES:
        return _problem(request, 415, "unsupported_media_type",
                        f"send the APK as the raw body with Content-Type {APK_MEDIA_TYPE}",
                        field="content-type")
    who.require(Role.DEVELOPER)  # before receiving megabytes the service would refuse
    limit = platform.settings.max_upload_bytes
    with platform.appstore.staged_upload() as staged:
        # streamed to disk: an APK can be hundreds of megabytes
        received = 0
        async with await anyio.open_file(staged, "wb") as out:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    return _problem(request, 413, "body_too_large",
                                    f"APK uploads are limited to {limit} bytes", field="body")
                await out.write(chunk)
        app, version = await run_in_threadpool(platform.appstore.upload, who, staged)
    return JsonResponse({"app": app_view(app), "version": version_view(version)},
                        status_code=201,
                        headers={"Location": version_view(version)["download_url"]})


@router.get("/apps", response_model=Page[AppRead])
def list_apps(platform: PlatformDep, who: PrincipalDep, page: PageDep) -> JsonResponse:
    """The caller's apps (developer key)."""
    result = platform.appstore.list_apps(who, page)
    return JsonResponse(page_body([app_view(a) for a in result.items], result.next_cursor))


@router.get("/apps/{package}", response_model=AppRead)
def get_app(package: Package, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    """One app: to its developer, or to any device (the catalogue is public to devices)."""
    return JsonResponse(app_view(platform.appstore.get_app(who, package)))


@router.get("/apps/{package}/versions", response_model=Page[VersionRead])
def list_versions(package: Package, platform: PlatformDep, who: PrincipalDep,
                  page: PageDep) -> JsonResponse:
    """The app's versions, newest first."""
    result = platform.appstore.versions(who, package, page)
    return JsonResponse(page_body([version_view(v) for v in result.items], result.next_cursor))


@router.get(
    "/apps/{package}/versions/{version_code}/apk", response_class=FileResponse,
    responses={200: {"content": {APK_MEDIA_TYPE: {}}}, 206: {"description": "Partial content"},
               416: {"description": "Range not satisfiable"}},
)
def download_apk(package: Package, version_code: VersionCode, request: Request,
                 platform: PlatformDep, who: PrincipalDep) -> Response:
    """The APK file. Supports `Range` (206 Partial Content) and `If-Range` to resume."""
    version, path = platform.appstore.apk_file(who, package, version_code)
    etag = f'"{version.blob_sha256}"'
    wanted = request.headers.get("range")
    if wanted is not None and request.headers.get("if-range") is None:
        try:  # answer bad ranges as problems, not as plain text
            FileResponse._parse_range_header(wanted, version.size)
        except MalformedRangeHeader as exc:
            return _problem(request, 400, "invalid_range", exc.content, field="range")
        except RangeNotSatisfiable:
            return _problem(request, 416, "range_not_satisfiable",
                            f"the APK has {version.size} bytes", field="range",
                            headers={"Content-Range": f"bytes */{version.size}"})
    return FileResponse(path, media_type=APK_MEDIA_TYPE,
                        filename=f"{package}-{version_code}.apk", headers={"ETag": etag})


# HEAD too, for download managers (one OpenAPI operation is enough)
router.add_api_route("/apps/{package}/versions/{version_code}/apk", download_apk,
                     methods=["HEAD"], include_in_schema=False)


# ---------------------------------------------------------------- devices


@router.get("/devices/{imei}/apps/available", response_model=Page[AvailableRead])
def available_apps(imei: Imei, platform: PlatformDep, who: PrincipalDep,
                   page: PageDep) -> JsonResponse:
    """Apps this device can run, each with the newest version its API level allows."""
    result = platform.appstore.compatible_apps(who, imei, page)
    return JsonResponse(page_body([{"app": app_view(a), "version": version_view(v)}
                                   for a, v in result.items], result.next_cursor))


@router.get("/devices/{imei}/apps", response_model=Page[InstallRead])
def installed_apps(imei: Imei, platform: PlatformDep, who: PrincipalDep,
                   page: PageDep) -> JsonResponse:
    """The apps installed on the device now."""
    result = platform.appstore.installed(who, imei, page)
    return JsonResponse(page_body([install_view(i) for i in result.items], result.next_cursor))


@router.post("/devices/{imei}/apps/{package}/install", response_model=InstallRead)
def install_app(imei: Imei, package: Package, platform: PlatformDep,
                who: PrincipalDep) -> JsonResponse:
    """Records that the device installed the newest version it can run (device key).

    Installing what is already installed changes nothing; a newer compatible
    version replaces the installed one. `incompatible` (409) when no version
    supports the device's API level.
    """
    return JsonResponse(install_view(platform.appstore.install(who, imei, package)))


@router.post("/devices/{imei}/apps/{package}/uninstall", response_model=InstallRead)
def uninstall_app(imei: Imei, package: Package, platform: PlatformDep,
                  who: PrincipalDep) -> JsonResponse:
    """Records that the app was removed from the device (device key)."""
    return JsonResponse(install_view(platform.appstore.uninstall(who, imei, package)))
