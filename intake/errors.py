"""The one error type the intake answers with (an HTTP status, the field at fault and a sentence saying what to do),
and how every failure becomes a JSON answer: handlers, and a catch-all that says 503, never 500."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("firebreak.intake")


class IntakeError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers or {}

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "field": self.field} if self.field else {"message": self.message}


def loc_to_field(loc: tuple[int | str, ...] | list[int | str], prefix: str = "") -> str:
    """('alerts', 0, 'labels') -> 'alerts[0].labels'."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part:
            out += f".{part}" if out else str(part)
    return out or "body"


def from_validation(err: ValidationError, prefix: str = "", status: int = 422, skip: int = 0) -> IntakeError:
    """The first problem pydantic found, as a message naming the field (and how many more there are); `skip`
    leaves out the first parts of its location (the index within a chunk that `prefix` names instead)."""
    first = err.errors(include_url=False)[0]
    loc = list(first["loc"])[skip:]
    field = loc_to_field([p for p in loc if not (isinstance(p, str) and p.startswith("function-"))], prefix)
    more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
    got = ""
    if first["type"] not in ("missing", "extra_forbidden") and "input" in first:
        shown = repr(first["input"])
        got = f"; got {shown[:80]}{'...' if len(shown) > 80 else ''}"
    return IntakeError(status, f"{field}: {first['msg']}{got}{more}", field)


@asynccontextmanager
async def within(seconds: float, retry_after: int) -> AsyncIterator[None]:
    """Temporal calls bounded in time: past `seconds`, 503 with Retry-After (Temporal frozen or unreachable)."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as err:
        raise IntakeError(503, f"Temporal did not answer within {seconds:g} s; retry", None,
                          {"Retry-After": str(retry_after)}) from err


class CatchAll:
    """ASGI middleware, innermost: an unexpected exception is answered 503 with Retry-After, never 500 (it may not
    have recorded anything, so the sender should retry). Inside the metrics middleware, so /metrics counts the
    503 actually sent."""

    def __init__(self, app: ASGIApp, retry_after: int) -> None:
        self.app, self.retry_after = app, retry_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as err:
            if started:
                raise
            log.exception("unexpected intake failure")
            answer = JSONResponse({"message": f"the intake failed unexpectedly ({type(err).__name__}); retry"},
                                  status_code=503, headers={"Retry-After": str(self.retry_after)})
            await answer(scope, receive, send)


def error_response(err: IntakeError, path: str) -> Response:
    """The answer to an IntakeError on `path` (the app's exception handler and the alert lane, intake/lane.py)."""
    body = err.body()
    if path == "/v2/enqueue" and 400 <= err.status < 500 and err.status != 429:
        body.update(status="invalid event", errors=[err.message])  # PagerDuty's own error shape, plus ours
    return JSONResponse(body, status_code=err.status, headers=err.headers)


def install_handlers(app: FastAPI, retry_after: int) -> None:
    """IntakeError, FastAPI's validation errors and Starlette's HTTP errors as JSON with a message."""

    @app.exception_handler(IntakeError)
    async def intake_error(request: Request, err: IntakeError) -> Response:
        return error_response(err, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, err: RequestValidationError) -> Response:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first.get("loc", ())) or "body"
        return JSONResponse({"message": f"{field}: {first.get('msg')}", "field": field}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> Response:
        return JSONResponse({"message": str(err.detail)}, status_code=err.status_code, headers=err.headers)

    app.add_middleware(CatchAll, retry_after=retry_after)  # before the metrics middleware: inside it
