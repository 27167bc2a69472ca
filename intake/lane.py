"""The alert routes' fast lane: a POST to an alert route goes straight to its handler, past FastAPI's routing.

In an alert storm the intake answers thousands of POSTs a second, and most of each request's CPU was FastAPI's own
machinery rather than Firebreak's work: matching the path against every route of the app in turn (the people's
API, the board, the webhooks ... ), building the dependency-injection context and its exit stack, and the
exception middleware's wrapping (docs/performance.md, the storm). The alert handlers take the raw `Request` and
return a finished `Response`, so none of that does anything for them.

This ASGI middleware sits inside the metrics and catch-all middlewares (so /metrics counts every answer and an
unexpected failure is still a 503 with Retry-After) and in front of FastAPI's exception middleware and router. A
POST whose path is exactly an alert route's runs that route's own handler, the same function the FastAPI route
calls; an IntakeError becomes the same JSON answer the app's exception handler gives. Everything else (another
method, a trailing slash, every other path) goes to FastAPI as before, and the FastAPI routes stay registered, so
the OpenAPI document and any other dispatch are unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from intake.errors import IntakeError, error_response

Handler = Callable[[Request], Awaitable[Response]]


class AlertLane:
    def __init__(self, app: ASGIApp, routes: dict[str, tuple[APIRoute, Handler]]) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.routes.get(_route_path(scope)) if scope["type"] == "http" and scope["method"] == "POST" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        route, handler = found
        scope["route"] = route  # what the metrics middleware labels the request with, as FastAPI's router sets it
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except IntakeError as err:
            response = error_response(err, scope["path"])
        await response(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path as FastAPI's router matches it: without the root path the app is mounted under."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root + "/") else path
