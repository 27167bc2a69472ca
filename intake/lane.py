"""The alert routes' fast lane: a POST to an alert route goes straight to its handler, past FastAPI's machinery.

In an alert storm the intake answers thousands of POSTs a second, and most of each request's CPU was FastAPI's own
machinery rather than Firebreak's work: matching the path against every route of the app in turn (the people's
API, the board, the webhooks ...), the dependency-injection context and its exit stack, the exception
middleware, Starlette's and FastAPI's outer middlewares, and every level of that stack again each time the request
waits (docs/performance.md, the storm). The alert handlers take the raw `Request` and return a finished `Response`,
so none of that does anything for them.

`IntakeAPI` is the intake's FastAPI app. A POST whose path is exactly an alert route's goes through the app's own
middlewares (`app.add_middleware`: the client's address for the audit log, the metrics, the catch-all that answers
an unexpected failure 503 with Retry-After, the request spans when tracing is on), built a second time around
`AlertLane`, which runs that route's handler, the same function the FastAPI route calls, and answers an
IntakeError as the app's exception handler does. Everything else (another method, a trailing slash, every other
path, the lifespan) goes through FastAPI as before, and the FastAPI routes stay registered, so the OpenAPI
document is unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from intake.errors import IntakeError, error_response

Handler = Callable[[Request], Awaitable[Response]]


class AlertLane:
    """The lane's endpoint: the alert route's handler, its IntakeError answered as the exception handler does."""

    def __init__(self, routes: dict[str, tuple[APIRoute, Handler]]) -> None:
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.routes[route_path(scope)][1]
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except IntakeError as err:
            response = error_response(err, scope["path"])
        await response(scope, receive, send)


class IntakeAPI(FastAPI):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lane_routes: dict[str, tuple[APIRoute, Handler]] = {}
        self._lane: ASGIApp | None = None

    def laned(self, path: str, handler: Handler) -> None:
        """Serve POST `path` in the lane with `handler`, which the route registered last was registered with."""
        route = self.router.routes[-1]
        assert isinstance(route, APIRoute) and route.path == path and route.endpoint is handler
        self.lane_routes[path] = (route, handler)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and route_path(scope) in self.lane_routes:
            if self._lane is None:
                self._lane = self._build_lane()
            scope["app"] = self
            scope["route"] = self.lane_routes[route_path(scope)][0]  # what FastAPI's router sets; metrics read it
            await self._lane(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def _build_lane(self) -> ASGIApp:
        """The app's own middlewares (outermost first, as Starlette builds them) around the lane's endpoint."""
        app: ASGIApp = AlertLane(self.lane_routes)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


def route_path(scope: Scope) -> str:
    """The path as FastAPI's router matches it: without the root path the app is mounted under."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root + "/") else path
