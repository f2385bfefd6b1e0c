"""The visual code route: `POST /v1/qr/render` (an image, verified by two decoders)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from yunshang.web import PlatformDep, PrincipalDep, problems

from .render import render_request

router = APIRouter(prefix="/v1", tags=["qr"])


# ---------------------------------------------------------------- visual codes (part 2)

_RENDER_DOC = (
    "Draws a QR code for `data`, verified before it is answered: zxing-cpp and OpenCV must "
    "both read it on the clean render and after a blur (σ = ⅓ module), a downscale to half "
    "and a JPEG at quality 50; otherwise it is strengthened (more contrast, bigger module "
    "centres, higher error correction, next version) and tried again. The optional "
    "**raw request body** is "
    "the picture to show through the code (`image/png`, `image/jpeg`, `image/webp`, "
    "`image/gif`; 415 otherwise; at most `YUNSHANG_QR_IMAGE_MAX_BYTES`, 413 above; at most "
    "4096×4096 px, 422 `qr_image_invalid` above, for a corrupt image or a decompression "
    "bomb). No body: a plain code. Answers `image/png` or `image/svg+xml` (`format`) with "
    "headers `X-QR-Version`, `X-QR-ECC`, `X-QR-Attempts` and `X-QR-Decoders` "
    "(`decoder/render=ok|fail`, comma-separated). 422 `qr_payload_too_long` (field `data`) "
    "when no version holds the payload, `qr_unscannable` (field `image`) when no "
    "strengthening made every decoder read it."
)

_IMAGE_BODY = {"schema": {"type": "string", "format": "binary"}}


@router.post("/qr/render", description=_RENDER_DOC, response_class=Response,
             responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}},
                        **problems(415)},
             openapi_extra={"requestBody": {"required": False, "content": dict.fromkeys(
                 ("image/gif", "image/jpeg", "image/png", "image/webp"), _IMAGE_BODY)}})
async def render_qr(
    request: Request, platform: PlatformDep, who: PrincipalDep,
    data: Annotated[str, Query(min_length=1, max_length=4296,
                               description="The payload (a URL, usually).")],
    format: Annotated[Literal["png", "svg"], Query()] = "png",
    ecc: Annotated[Literal["L", "M", "Q", "H"], Query(
        description="Lowest error correction to start at (it may be raised).")] = "M",
    size_px: Annotated[int | None, Query(ge=21, le=4096,
                                         description="Smallest side of the PNG.")] = None,
    dark: Annotated[str, Query(pattern=r"^#?[0-9a-fA-F]{6}$")] = "#000000",
    light: Annotated[str, Query(pattern=r"^#?[0-9a-fA-F]{6}$")] = "#ffffff",
) -> Response:
    body = await request.body()
    media_type = request.headers.get("content-type", "")
    rendered = await run_in_threadpool(
        render_request, who, data, body, media_type, fmt=format, ecc=ecc, size_px=size_px,
        dark=dark, light=light, max_bytes=platform.settings.qr_image_max_bytes)
    return Response(rendered.content, media_type=rendered.media_type,
                    headers=rendered.headers)
