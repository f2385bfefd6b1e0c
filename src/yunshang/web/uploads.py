"""Large request bodies (OS images, APKs) streamed to a file instead of memory."""

from __future__ import annotations

from pathlib import Path

import anyio
from fastapi import Request

from yunshang.kernel.errors import TooLarge


async def receive_to_file(request: Request, path: Path, *, limit: int, what: str) -> int:
    """Writes the request body to ``path``; returns its length in bytes.

    Refuses (TooLarge, 413 ``body_too_large``) as soon as it passes ``limit``
    bytes: a body the client declared smaller than it is never fills the disk.
    A client that goes away mid-body raises Starlette's ``ClientDisconnect``.
    """
    received = 0
    async with await anyio.open_file(path, "wb") as out:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise TooLarge("body", f"{what} is larger than {limit} bytes", limit=limit)
            await out.write(chunk)
    return received
