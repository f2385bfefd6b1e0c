"""Helpers for the OTA tests: makers with devices, OS images, release uploads."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

import httpx

from tests.factories import random_tenant
from tests.http_support import bearer
from yunshang.kernel.auth import Role
from yunshang.kernel.imei import make_imei
from yunshang.platform import Platform

HEADER = "imei,model,serial,os_version,api_level\n"
MODEL = "Meizu 22"
_serials = itertools.count(1)


@dataclass
class Maker:
    tenant: str
    token: str
    headers: dict[str, str]


def new_maker(platform: Platform) -> Maker:
    tenant = random_tenant()
    key = platform.keys.create(role=Role.MERCHANT, tenant=tenant, label="ota maker")
    return Maker(tenant, key.token, bearer(key.token))


def register(platform: Platform, maker: Maker, n: int, *, model: str = MODEL,
             version: str = "1.0.0") -> list[str]:
    """Registers ``n`` phones of ``model`` on ``version``; returns their IMEIs."""
    imeis = [make_imei("86451204", next(_serials)) for _ in range(n)]
    principal = platform.keys.authenticate(maker.token)
    platform.registry.import_batch(principal, HEADER + "".join(
        f"{i},{model},SN{i[-7:]},{version},34\n" for i in imeis))
    return imeis


def device_key(platform: Platform, tenant: str, imei: str) -> str:
    return platform.keys.create(role=Role.DEVICE, tenant=tenant, subject=imei).token


def make_image(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def next_image(image: bytes, *, changed: float = 0.01, seed: int = 2,
               block: int = 4096) -> bytes:
    """``image`` with ``changed`` of its blocks rewritten (a realistic OS update)."""
    rng = random.Random(seed)
    out = bytearray(image)
    blocks = max(1, len(image) // block)
    for b in rng.sample(range(blocks), max(1, int(blocks * changed))):
        out[b * block:(b + 1) * block] = rng.randbytes(len(out[b * block:(b + 1) * block]))
    return bytes(out)


def upload(client: httpx.Client, maker: Maker, version: str, image: bytes, *,
           model: str = MODEL, notes: str = "") -> httpx.Response:
    return client.post("/v1/releases", params={"model": model, "version": version,
                                               "notes": notes},
                       content=image, headers={**maker.headers,
                                               "Content-Type": "application/octet-stream"})


def created(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body
