"""The OpenAPI document: every status an operation can answer, derived from the route.

Routes declare only what their context alone knows, with :func:`problems` (the
409 of a state machine, the 415 of an upload); everything the shared plumbing
can answer is derived here from what a route depends on, once for every route:

- a key (:func:`yunshang.web.get_principal`): 401, 403, 429, and the ``bearer``
  security scheme instead of an ``Authorization`` header parameter;
- path parameters, or a body (which names objects: ``sku_id``): 404 (the object
  does not exist for this key's tenant);
- parameters or a body: 422 (a problem document naming the field);
- a JSON body: 400 (unreadable JSON) and 413 (over the body limit); a raw body
  (a ``requestBody`` in ``openapi_extra``) 413, and 411 on an upload path, which
  must declare its length (``app.BodyLimit``);
- the platform (:func:`yunshang.web.get_platform`): 503 (database or Redis down);
- a file download (:class:`~starlette.responses.FileResponse`): 206 with its
  ``Content-Range``, 400 (a malformed ``Range``) and 416.

Every error status is documented as ``application/problem+json`` with the one
``Problem`` schema (:mod:`yunshang.web.problems`), FastAPI's own 422 included.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.responses import FileResponse

from .problems import TITLES

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
BEARER = "bearer"

_ERRORS = (400, 401, 403, 404, 405, 409, 411, 413, 415, 416, 422, 429, 500, 503)

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document: why a request was refused.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code", "instance"],
    "properties": {
        "type": {"type": "string", "description": "/problems/<code>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What was wrong, for a person."},
        "code": {"type": "string", "description": "Stable, for a program."},
        "instance": {"type": "string", "description": "The request's path."},
        "request_id": {"type": "string", "description": "As the X-Request-Id header."},
        "field": {"type": "string", "description": "The failing field, parameter or header."},
        "errors": {"type": "array", "description": "Every failing field (schema refusals).",
                   "items": {"type": "object", "required": ["field", "message", "type"],
                             "properties": {"field": {"type": "string"},
                                            "message": {"type": "string"},
                                            "type": {"type": "string"}}}},
        "kind": {"type": "string", "description": "404: what was not found."},
        "id": {"type": "string", "description": "404: the id that was not found."},
        "limit": {"type": "integer", "description": "413: the limit in bytes."},
        "accepted": {"type": "array", "items": {"type": "string"},
                     "description": "415: the content types the operation takes."},
        "size": {"type": "integer", "description": "416: the resource's length."},
        "retry_after_s": {"type": "integer", "description": "429: as Retry-After."},
    },
    # a context's refusal carries its own facts (the units left, the state it is in)
    "additionalProperties": True,
}

_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Bearer", "required": True,
                               "schema": {"type": "string"}}},
    416: {"Content-Range": {"description": "bytes */<length>", "required": True,
                            "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait.", "required": True,
                          "schema": {"type": "integer"}}},
    503: {"Retry-After": {"description": "Seconds to wait.", "required": True,
                          "schema": {"type": "integer"}}},
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the refusals a route answers beyond the derived ones (its 409s)."""
    return {status: {"description": TITLES.get(status, "Error")} for status in statuses}


@dataclass(frozen=True)
class Plumbing:
    """The shared dependencies whose presence in a route implies statuses (given by the
    composition root, which knows them: this module is imported by :mod:`yunshang.web`)."""

    key: Callable[..., Any]  # the API key check: 401, 403, 429
    platform: Callable[..., Any]  # the platform (database, Redis): 503
    upload_paths: Collection[str] = ()  # must declare a Content-Length: 411


class _Needs:
    """What a route's handler and all its dependencies, recursively, take."""

    def __init__(self, dependant: Dependant) -> None:
        self.calls: set[Any] = set()
        self.path_params = self.params = self.body = False
        stack = [dependant]
        while stack:
            d = stack.pop()
            self.calls.add(d.call)
            self.path_params |= bool(d.path_params)
            self.params |= bool(d.path_params or d.query_params or d.header_params
                                or d.cookie_params)
            self.body |= bool(d.body_params)
            stack.extend(d.dependencies)


def derived_statuses(route: APIRoute, plumbing: Plumbing) -> set[int]:
    """The error statuses the shared plumbing can answer for ``route``."""
    flat = _Needs(route.dependant)
    raw_body = "requestBody" in (route.openapi_extra or {})
    out: set[int] = set()
    if plumbing.key in flat.calls:
        out |= {401, 403, 429}
    if flat.path_params or flat.body:
        out.add(404)
    if flat.params or flat.body:
        out.add(422)
    if flat.body:
        out |= {400, 413}
    if raw_body:
        out.add(413)
    if route.path in plumbing.upload_paths:
        out.add(411)
    if plumbing.platform in flat.calls:
        out.add(503)
    if _serves_files(route):
        out |= {400, 416}
    return out


def _serves_files(route: APIRoute) -> bool:
    cls = route.response_class
    return isinstance(cls, type) and issubclass(cls, FileResponse)


def _problem_response(status: int, description: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description or TITLES.get(status, "Error"),
                           "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}}
    if status in _HEADERS:
        out["headers"] = _HEADERS[status]
    return out


def _without_auth_header(params: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in params if not (p.get("in") == "header"
                                      and p.get("name", "").lower() == "authorization")]


def _complete(op: dict[str, Any], route: APIRoute, plumbing: Plumbing) -> None:
    responses: dict[str, Any] = op.setdefault("responses", {})
    secured = plumbing.key in _Needs(route.dependant).calls
    statuses = derived_statuses(route, plumbing) | {int(s) for s in responses if s.isdigit()
                                          and int(s) >= 400}
    for status in sorted(statuses):
        given = responses.get(str(status), {})
        if set(given.get("content", ())) - {PROBLEM_MEDIA_TYPE, "application/json"}:
            continue  # the route answers this status with its own page (an HTML 404)
        responses[str(status)] = _problem_response(status, given.get("description")
                                                   if given.get("description") !=
                                                   "Validation Error" else None)
    if _serves_files(route):
        _document_ranges(responses)
    if secured:
        op["security"] = [{BEARER: []}]
        op["parameters"] = _without_auth_header(op.get("parameters", []))
        if not op["parameters"]:
            del op["parameters"]
    op["responses"] = dict(sorted(responses.items()))


def _document_ranges(responses: dict[str, Any]) -> None:
    ok = responses.setdefault("200", {"description": "The file."})
    types = [t for t in ok.get("content", {}) if t != "application/json"] or [
        "application/octet-stream"]
    binary = {"schema": {"type": "string", "format": "binary"}}
    ok["content"] = dict.fromkeys(types, binary)
    part = {"description": "The requested byte range(s) (Range: bytes=…).",
            "headers": {"Content-Range": {"description": "bytes <first>-<last>/<length>",
                                          "schema": {"type": "string"}}},
            "content": {**dict.fromkeys(types, binary), "multipart/byteranges": binary}}
    responses["206"] = {**part, "description": responses.get("206", {}).get(
        "description", part["description"])}


def build_openapi(app: FastAPI, plumbing: Plumbing) -> dict[str, Any]:
    """The document ``app`` serves at ``/openapi.json``: FastAPI's, completed."""
    doc = get_openapi(title=app.title, version=app.version, summary=app.summary,
                      description=app.description, routes=app.routes)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = {BEARER: {
        "type": "http", "scheme": "bearer",
        "description": "An API key: Authorization: Bearer ys_…"}}
    by_id = {op.get("operationId"): op for ops in doc["paths"].values() for op in ops.values()}
    for route in api_routes(app):
        if route.include_in_schema and route.unique_id in by_id:
            _complete(by_id[route.unique_id], route, plumbing)
    if not schemas:
        del components["schemas"]
    return doc


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every API route of ``app``, those of included routers too."""
    return [c.original_route for c in iter_route_contexts(app.routes)
            if isinstance(c.original_route, APIRoute)]


def install_openapi(app: FastAPI, plumbing: Plumbing) -> None:
    """Makes ``app.openapi()`` (and ``/openapi.json``) serve :func:`build_openapi`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, plumbing)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def openapi_json(app: FastAPI) -> bytes:
    """The document as JSON with sorted keys: the same bytes for the same app."""
    return orjson.dumps(app.openapi(), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
