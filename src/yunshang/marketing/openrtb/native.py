"""OpenRTB Native Ads (1.0–1.2): which assets an imp asks for, and the markup we answer.

A native creative of ours has a title, a main image and a body text; we can fill
a request's title assets, main-image assets (``img.type`` 3, or no type) and
description data assets (``data.type`` 2). A request that *requires* any other
asset (an icon, a rating, a call-to-action text, a video) cannot be served, so
its imp does not offer the native format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..domain import AdFormat, Creative, SlotFormat
from .domain import field_path

IMAGE_MAIN = 3
DATA_DESC = 2
EVENT_IMPRESSION = 1
METHOD_IMG = 1


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class _Title(_Part):
    len: Annotated[int, Field(ge=0)] | None = None


class _Image(_Part):
    type: int | None = None
    w: Annotated[int, Field(ge=0)] | None = None
    h: Annotated[int, Field(ge=0)] | None = None
    wmin: Annotated[int, Field(ge=0)] | None = None
    hmin: Annotated[int, Field(ge=0)] | None = None


class _Data(_Part):
    type: int
    len: Annotated[int, Field(ge=0)] | None = None


class _Asset(_Part):
    id: int
    required: Annotated[int, Field(ge=0, le=1)] = 0
    title: _Title | None = None
    img: _Image | None = None
    data: _Data | None = None


class _NativeRequest(_Part):
    ver: str | None = None
    assets: Annotated[list[_Asset], Field(min_length=1, max_length=100)]


class _Wrapped(_Part):
    native: _NativeRequest


class NativeRequestInvalid(ValueError):
    """The native request string is not a Native Ads request (``field`` names where)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class NativeSpec:
    """What one imp's native request asks for, as far as we can fill it."""

    version: str
    title: tuple[int, int | None] | None  # (asset id, max length)
    image: tuple[int, int, int] | None  # (asset id, w, h); 0 = any size
    text: tuple[int, int | None] | None
    servable: bool  # False: a required asset we have nothing for

    @property
    def slot_format(self) -> SlotFormat:
        _, w, h = self.image or (0, 0, 0)
        return SlotFormat(AdFormat.NATIVE, w, h)


def parse_native(request: str | dict[str, Any], field: str) -> NativeSpec:
    """The spec of a native request (a JSON string, or the object itself)."""
    raw: Any = request
    if isinstance(request, str):
        try:
            raw = orjson.loads(request)
        except orjson.JSONDecodeError as exc:
            raise NativeRequestInvalid(field, f"not JSON: {exc}") from None
    # Native 1.0 wraps the request in {"native": ...}; 1.1 and later do not
    model: type[_Part] = _Wrapped if isinstance(raw, dict) and "native" in raw else _NativeRequest
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = field_path(tuple(first["loc"]))
        raise NativeRequestInvalid(f"{field}.{where}" if where != "body" else field,
                                   first["msg"]) from None
    native = parsed.native if isinstance(parsed, _Wrapped) else parsed
    assert isinstance(native, _NativeRequest)
    return _spec(native)


def _spec(native: _NativeRequest) -> NativeSpec:
    title = image = text = None
    servable = True
    for asset in native.assets:
        if asset.title is not None and title is None:
            title = (asset.id, asset.title.len or None)
        elif asset.img is not None and asset.img.type in (None, IMAGE_MAIN) and image is None:
            img = asset.img
            image = (asset.id, img.w or img.wmin or 0, img.h or img.hmin or 0)
        elif asset.data is not None and asset.data.type == DATA_DESC and text is None:
            text = (asset.id, asset.data.len or None)
        elif asset.required:
            servable = False
    return NativeSpec(version=native.ver or "1.2", title=title, image=image, text=text,
                      servable=servable)


def native_markup(spec: NativeSpec, creative: Creative, click_url: str,
                  impression_url: str) -> str:
    """The Native Ads response (JSON text) for ``adm``: the assets asked for, the click
    link and the impression tracker."""
    assets: list[dict[str, Any]] = []
    if spec.title is not None:
        asset_id, length = spec.title
        assets.append({"id": asset_id, "title": {"text": creative.title[:length]
                                                 if length else creative.title}})
    if spec.image is not None:
        assets.append({"id": spec.image[0], "img": {"url": creative.image_url,
                                                    "w": creative.width,
                                                    "h": creative.height}})
    if spec.text is not None and creative.text:
        asset_id, length = spec.text
        assets.append({"id": asset_id, "data": {"value": creative.text[:length]
                                                if length else creative.text}})
    body: dict[str, Any] = {"ver": spec.version, "assets": assets, "link": {"url": click_url}}
    if spec.version >= "1.2":  # 1.2 replaced imptrackers with event trackers
        body["eventtrackers"] = [{"event": EVENT_IMPRESSION, "method": METHOD_IMG,
                                  "url": impression_url}]
    else:
        body["imptrackers"] = [impression_url]
    return orjson.dumps({"native": body}).decode()
