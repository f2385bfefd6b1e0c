"""Fast paths: one self-checking route class for the few routes where FastAPI's
per-request parameter machinery costs more than the work itself.

A :class:`FastRoute` serves a well-formed request — ``Content-Type:
application/json``, path parameters and JSON body valid — by validating them
itself (pydantic straight from the body's bytes), resolving the two
dependencies it knows (:func:`~yunshang.web.get_platform`,
:func:`~yunshang.web.get_principal`) by calling the same functions, and
calling the same endpoint. Anything else (another content type, a parse or
validation failure, an overridden dependency, fast paths switched off by
``YUNSHANG_FAST_PATHS=false``) goes to FastAPI's own handler, so error answers
and the OpenAPI document stay FastAPI's.

It leans on FastAPI's internals (``route.dependant``, ``ModelField.validate``),
so it checks its assumptions when the route is built: an endpoint whose
parameters are not the kinds above gets no fast path, and the route says why in
:attr:`FastRoute.fast_path_refusal` (logged as a warning). The test suite fails
on any refusal (``tests/integration/test_fast_paths.py``), so a FastAPI upgrade
or a new parameter cannot switch a fast path off silently; ``fast_path_hits``
lets it prove that requests really take it. ``bench/`` measures each route
with and without (``docs/benchmarks.md``).
"""

from __future__ import annotations

import inspect
import logging
import types
import typing
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from . import get_platform, get_principal

log = logging.getLogger(__name__)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

#: The dependencies a fast path resolves by calling them as FastAPI would.
_KNOWN_DEPENDENCIES: dict[Callable[..., Any], Callable[[Request], Awaitable[Any]]] = {
    get_platform: get_platform,
    get_principal: lambda request: get_principal(request, request.headers.get("authorization")),
}


@dataclass(frozen=True)
class _Plan:
    path: list[tuple[str, Any]]  # (name, FastAPI's ModelField)
    headers: list[tuple[str, str]]  # (parameter name, lower-case header name)
    dependencies: list[tuple[str, Callable[[Request], Awaitable[Any]]]]
    body_name: str | None
    body_model: type[BaseModel] | None
    body_required: bool
    request_name: str | None


def _body_model(annotation: Any) -> type[BaseModel] | None:
    """``M`` for a body annotated ``M`` or ``M | None``, if ``M`` is a pydantic model."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = members[0] if len(members) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def plan_fast_path(route: APIRoute) -> tuple[_Plan | None, str | None]:
    """What a fast path for ``route`` must do, or why it cannot have one."""
    d = route.dependant
    if not inspect.iscoroutinefunction(route.endpoint):
        return None, "the endpoint is not async (FastAPI would run it in a thread)"
    hints = typing.get_type_hints(route.endpoint)
    returns = hints.get("return")
    if not (isinstance(returns, type) and issubclass(returns, Response)):
        return None, "the endpoint does not return a Response (FastAPI would serialise it)"
    for kind in ("query_params", "cookie_params"):
        if getattr(d, kind):
            return None, f"the endpoint has {kind.replace('_', ' ')}"
    if d.background_tasks_param_name or d.response_param_name or d.websocket_param_name:
        return None, "the endpoint takes background tasks, a response or a websocket"
    if any(h.field_info.annotation not in (str, str | None) for h in d.header_params):
        return None, "a header parameter is not a plain string"
    dependencies = []
    for dep in d.dependencies:
        resolve = _KNOWN_DEPENDENCIES.get(dep.call) if dep.call else None
        if resolve is None or dep.name is None:
            return None, f"unknown dependency {getattr(dep.call, '__name__', dep.call)!r}"
        if dep.call is get_principal and (
                [h.name for h in dep.header_params] != ["authorization"]
                or dep.dependencies or dep.query_params or dep.path_params):
            return None, "get_principal's parameters changed"
        dependencies.append((dep.name, resolve))
    body_model = None
    body_name = None
    body_required = False
    if d.body_params:
        if len(d.body_params) != 1 or route.body_field is None:
            return None, "the endpoint has more than one body parameter"
        body_model = _body_model(route.body_field.field_info.annotation)
        if body_model is None:
            return None, "the body is not a pydantic model"
        body_name = d.body_params[0].name
        body_required = route.body_field.field_info.is_required()
    plan = _Plan(path=[(p.name, p) for p in d.path_params],
                 headers=[(h.name, str(h.alias).lower()) for h in d.header_params],
                 dependencies=dependencies, body_name=body_name, body_model=body_model,
                 body_required=body_required, request_name=d.request_param_name)
    return plan, None


class FastRoute(APIRoute):
    """An ``APIRoute`` whose well-formed JSON requests skip FastAPI's parameter machinery."""

    fast_path_refusal: str | None = None
    fast_path_hits: int = 0

    def get_route_handler(self) -> Handler:
        standard = super().get_route_handler()
        try:
            plan, why = plan_fast_path(self)
        except Exception as exc:  # FastAPI's internals moved: serve, but say so
            plan, why = None, f"cannot read the route ({exc!r})"
        self.fast_path_refusal = why
        if plan is None:
            log.warning("no fast path for %s %s: %s", self.methods, self.path, why)
            return standard
        endpoint = self.endpoint
        route = self

        async def handler(request: Request) -> Response:
            app = request.scope["app"]
            if (request.headers.get("content-type") != "application/json"
                    or not getattr(app.state, "fast_paths", True)
                    or app.dependency_overrides):
                return await standard(request)
            kwargs: dict[str, Any] = {}
            for name, field in plan.path:
                value, errors = field.validate(request.path_params.get(name), {},
                                               loc=("path", name))
                if errors:
                    return await standard(request)
                kwargs[name] = value
            if plan.body_model is not None:
                raw = await request.body()  # kept on the request for the fallback
                if raw:
                    try:
                        kwargs[str(plan.body_name)] = plan.body_model.model_validate_json(raw)
                    except ValidationError:
                        return await standard(request)
                elif plan.body_required:
                    return await standard(request)
                else:
                    kwargs[str(plan.body_name)] = None
            for name, header in plan.headers:
                kwargs[name] = request.headers.get(header)
            for name, resolve in plan.dependencies:
                kwargs[name] = await resolve(request)
            if plan.request_name:
                kwargs[plan.request_name] = request
            route.fast_path_hits += 1
            response: Response = await endpoint(**kwargs)
            return response

        return handler
