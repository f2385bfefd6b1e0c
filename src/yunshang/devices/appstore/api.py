"""The app store over HTTP (/v1/apps…, /v1/devices/{imei}/apps…). Thin: parse, call, shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from yunshang.kernel.auth import Role
from yunshang.kernel.errors import UnsupportedMedia
from yunshang.web import (
    Imei,
    PageDep,
    PageRead,
    PlatformDep,
    PrincipalDep,
    page_view,
    problems,
)
from yunshang.web.problems import JsonResponse
from yunshang.web.ranges import file_response
from yunshang.web.uploads import receive_to_file

from .apk import MAX_VERSION_CODE
from .domain import App, AppVersion, Install

router = APIRouter(prefix="/v1", tags=["app store"])

#: Routes whose bodies are APKs: the body limit middleware applies the upload limit.
UPLOAD_PATHS = ("/v1/apps",)

APK_MEDIA_TYPE = "application/vnd.android.package-archive"
_UPLOAD_TYPES = frozenset({APK_MEDIA_TYPE, "application/octet-stream"})

Package = Annotated[str, Path(min_length=3, max_length=255,
                              pattern=r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$",
                              description="Android application id, e.g. com.example.app")]
VersionCode = Annotated[int, Path(ge=1, le=MAX_VERSION_CODE)]


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


def available_view(pair: tuple[App, AppVersion]) -> dict[str, Any]:
    app, version = pair
    return {"app": app_view(app), "version": version_view(version)}


def install_view(i: Install) -> dict[str, Any]:
    return {"id": i.id, "package": i.package, "version_code": i.version_code,
            "installed_at": i.installed_at.isoformat(),
            "uninstalled_at": i.uninstalled_at.isoformat() if i.uninstalled_at else None}


# ---------------------------------------------------------------- developers


@router.post(
    "/apps", status_code=201, response_model=PublishedRead, responses=problems(409, 415),
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
        raise UnsupportedMedia(f"send the APK as the raw body with Content-Type {APK_MEDIA_TYPE}",
                               accepted=sorted(_UPLOAD_TYPES))
    who.require(Role.DEVELOPER)  # before receiving megabytes the service would refuse
    with platform.appstore.staged_upload() as staged:
        # streamed to disk: an APK can be hundreds of megabytes
        await receive_to_file(request, staged, limit=platform.settings.max_upload_bytes,
                              what="the APK")
        app, version = await run_in_threadpool(platform.appstore.upload, who, staged)
    return JsonResponse({"app": app_view(app), "version": version_view(version)},
                        status_code=201,
                        headers={"Location": version_view(version)["download_url"]})


@router.get("/apps", response_model=PageRead[AppRead])
def list_apps(platform: PlatformDep, who: PrincipalDep, page: PageDep) -> JsonResponse:
    """The caller's apps (developer key)."""
    result = platform.appstore.list_apps(who, page)
    return JsonResponse(page_view(result, app_view))


@router.get("/apps/{package}", response_model=AppRead)
def get_app(package: Package, platform: PlatformDep, who: PrincipalDep) -> JsonResponse:
    """One app: to its developer, or to any device (the catalogue is public to devices)."""
    return JsonResponse(app_view(platform.appstore.get_app(who, package)))


@router.get("/apps/{package}/versions", response_model=PageRead[VersionRead])
def list_versions(package: Package, platform: PlatformDep, who: PrincipalDep,
                  page: PageDep) -> JsonResponse:
    """The app's versions, newest first."""
    result = platform.appstore.versions(who, package, page)
    return JsonResponse(page_view(result, version_view))


@router.get(
    "/apps/{package}/versions/{version_code}/apk", response_class=FileResponse,
    responses={200: {"content": {APK_MEDIA_TYPE: {}}}, 206: {"description": "Partial content"},
               416: {"description": "Range not satisfiable"}},
)
def download_apk(package: Package, version_code: VersionCode, request: Request,
                 platform: PlatformDep, who: PrincipalDep) -> Response:
    """The APK file. Supports `Range` (206 Partial Content) and `If-Range` to resume."""
    version, path = platform.appstore.apk_file(who, package, version_code)
    return file_response(request, path, media_type=APK_MEDIA_TYPE,
                         filename=f"{package}-{version_code}.apk",
                         headers={"ETag": f'"{version.blob_sha256}"'})


# HEAD too, for download managers (one OpenAPI operation is enough)
router.add_api_route("/apps/{package}/versions/{version_code}/apk", download_apk,
                     methods=["HEAD"], include_in_schema=False)


# ---------------------------------------------------------------- devices


@router.get("/devices/{imei}/apps/available", response_model=PageRead[AvailableRead])
def available_apps(imei: Imei, platform: PlatformDep, who: PrincipalDep,
                   page: PageDep) -> JsonResponse:
    """Apps this device can run, each with the newest version its API level allows."""
    result = platform.appstore.compatible_apps(who, imei, page)
    return JsonResponse(page_view(result, available_view))


@router.get("/devices/{imei}/apps", response_model=PageRead[InstallRead])
def installed_apps(imei: Imei, platform: PlatformDep, who: PrincipalDep,
                   page: PageDep) -> JsonResponse:
    """The apps installed on the device now."""
    result = platform.appstore.installed(who, imei, page)
    return JsonResponse(page_view(result, install_view))


@router.post("/devices/{imei}/apps/{package}/install", response_model=InstallRead,
             responses=problems(409))
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
