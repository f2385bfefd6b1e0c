"""Byte ranges (RFC 9110 §14.1.2): the one parser behind every download that can resume.

A ``Range`` header is checked here before the file is served, so that a bad
one is answered like every other refusal, as a problem document: a header
that is not ``bytes=…`` or does not parse is ``MalformedRequest``
(400 ``invalid_range``), a range that starts past the end is
``RangeNotSatisfiable`` (416, with ``Content-Range: bytes */size``). The bytes
themselves are then served by Starlette's ``FileResponse`` from the same header.
"""

from __future__ import annotations

from enum import StrEnum
from os import stat_result
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse

from yunshang.kernel.errors import MalformedRequest, RangeNotSatisfiable


class RangeCode(StrEnum):
    INVALID_RANGE = "invalid_range"


def _malformed(message: str) -> MalformedRequest:
    return MalformedRequest("range", message, code=RangeCode.INVALID_RANGE)


def _position(text: str) -> int | None:
    """A byte position: ASCII digits only (no sign, no spaces inside); None when empty."""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise _malformed(f"{text!r} is not a byte position")
    return int(text)


def parse_byte_ranges(header: str, size: int) -> list[tuple[int, int]]:
    """The half-open ``(start, end)`` byte ranges a ``Range`` header asks of ``size`` bytes.

    Each range is ``a-b`` (bytes a to b, inclusive; b past the end means the end),
    ``a-`` (from a to the end) or ``-n`` (the last n bytes). Several ranges are
    sorted and overlapping ones merged, as the multipart answer serves them.
    """
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        raise _malformed("only byte ranges are served: Range: bytes=start-end")
    ranges: list[tuple[int, int]] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:  # RFC 9110 lists may have empty elements
            continue
        first_text, dash, last_text = part.partition("-")
        first, last = _position(first_text.strip()), _position(last_text.strip())
        if not dash or (first is None and last is None):
            raise _malformed(f"{part!r} is not a byte range (start-end, start- or -length)")
        if first is None:
            assert last is not None
            ranges.append((max(size - last, 0) if last else size, size))
        elif last is None:
            ranges.append((first, size))
        elif first > last:
            raise _malformed(f"the range {part!r} ends before it starts")
        else:
            ranges.append((first, min(last + 1, size)))
    if not ranges:
        raise _malformed("the Range header names no range")
    if any(start >= size for start, _ in ranges):
        raise RangeNotSatisfiable(size)
    ranges.sort()
    merged = [ranges[0]]
    for start, end in ranges[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def file_response(request: Request, path: Path, *, media_type: str,
                  headers: dict[str, str] | None = None,
                  filename: str | None = None) -> FileResponse:
    """``path`` as a download that honours ``Range`` (206) once the header has been checked.

    A bad ``Range`` is refused here even when an ``If-Range`` would have made the
    server ignore it: a client that sends one is broken either way.
    """
    stat: stat_result = path.stat()
    wanted = request.headers.get("range")
    if wanted is not None and request.method in ("GET", "HEAD"):
        parse_byte_ranges(wanted, stat.st_size)
    return FileResponse(path, media_type=media_type, headers=headers, filename=filename,
                        stat_result=stat)
