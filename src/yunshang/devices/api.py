"""The device cloud over HTTP: the registry's, OTA's and the app store's routes, in one router."""

from __future__ import annotations

from fastapi import APIRouter

from .appstore.api import UPLOAD_PATHS as APK_UPLOADS
from .appstore.api import router as appstore_router
from .ota.api import UPLOAD_PATHS as IMAGE_UPLOADS
from .ota.api import router as ota_router
from .registry.api import router as registry_router

router = APIRouter()
# The order app.py mounted them in, one by one: route order decides between paths that
# overlap (/v1/devices/activate before any /v1/devices/{imei}…).
router.include_router(registry_router)
router.include_router(ota_router)
router.include_router(appstore_router)

#: Routes whose bodies are uploads (OS images, APKs): ``max_upload_bytes``, streamed.
UPLOAD_PATHS = (*IMAGE_UPLOADS, *APK_UPLOADS)

__all__ = ["UPLOAD_PATHS", "router"]
