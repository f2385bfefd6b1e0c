"""The TUF target layout both sides of an update agree on: ``<tenant>/<model>/<ver>/<file>``.

The server publishes OS images and patches under these paths; the phone
(:mod:`yunshang.agent`) accepts only targets under its own tenant and model.
Like :mod:`yunshang.os_versions`, it lives outside every context because the
phone imports it, and the phone imports nothing server-side: standard library only.
"""

from __future__ import annotations

import hashlib
import re

_MODEL_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def model_key(model: str) -> str:
    """The model as one URL- and glob-safe TUF path segment (distinct models stay distinct)."""
    slug = _MODEL_SAFE.sub("-", model).strip("-.")
    if slug == model:
        return slug
    return f"{slug or 'model'}~{hashlib.sha256(model.encode()).hexdigest()[:8]}"


def image_target(tenant: str, model: str, version: str) -> str:
    return f"{tenant}/{model_key(model)}/{version}/image.bin"


def delta_target(tenant: str, model: str, from_version: str, to_version: str) -> str:
    return f"{tenant}/{model_key(model)}/{from_version}-{to_version}/delta.bsdiff"


def is_target_of(path: str, *, tenant: str, model: str) -> bool:
    """Whether ``path`` lies under ``tenant``'s ``model`` (by its first two segments)."""
    parts = path.split("/")
    return len(parts) == 4 and parts[0] == tenant and parts[1] == model_key(model)
