"""The one exception the client raises for a refusal: :class:`ApiError`.

Every answer outside 2xx becomes an ``ApiError`` carrying the server's RFC 9457
problem document (``status``, ``type``, ``title``, ``detail``, the stable
``code`` and, where one input is at fault, its ``field``). Network failures
stay httpx's own exceptions (``httpx.TransportError``), raised once retries,
where they are safe, are spent.
"""

from __future__ import annotations

import json
from typing import Any

import httpx


class ApiError(Exception):
    """The server refused a request; ``problem`` is its problem document as sent."""

    def __init__(self, problem: dict[str, Any], *, method: str, url: str) -> None:
        self.problem = problem
        self.status: int = int(problem.get("status") or 0)
        self.type: str = str(problem.get("type") or "about:blank")
        self.title: str = str(problem.get("title") or "")
        self.detail: str = str(problem.get("detail") or "")
        self.code: str | None = problem.get("code")
        self.field: str | None = problem.get("field")
        self.method, self.url = method, url
        where = f" ({self.field})" if self.field else ""
        super().__init__(f"{method} {url} → {self.status} {self.code or self.title}{where}: "
                         f"{self.detail}")

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """The problem document of ``response``; a body that is not one (a proxy's error
        page, say) still gives the status, the reason phrase and the start of the text."""
        problem: dict[str, Any] = {}
        try:
            parsed = json.loads(response.content) if response.content else None
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            problem = parsed
        problem.setdefault("status", response.status_code)
        problem.setdefault("title", response.reason_phrase)
        if "detail" not in problem and parsed is None:
            problem["detail"] = response.text[:500]
        request = response.request
        return cls(problem, method=request.method, url=str(request.url))
