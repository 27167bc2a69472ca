"""Request bodies, read and parsed the same way on every route (docs/intake-limits.md lists the limits).

Reading: the content type first (415), the declared length (413), then the body under a size limit (413) and a
time limit (408: a sender that declares a body and never sends it is not held), and a client that hangs up is
recorded as such (499, never answered). Parsing: UTF-8 JSON only (400), then the shape is measured before any
model is built: nesting depth (400), entries per array or object and values in all (413), NUL characters in any
string or key (422). Only then does pydantic validate the model (422 naming the field). Large bodies are parsed
in a worker thread, at most PARSE_SLOTS at a time, so the event loop (and /healthz) stays responsive.

Most bodies are far inside the shape limits, and that can be told from the raw bytes at C speed (`within_limits`:
counts that can only overcount), so they skip the Python walk over the parsed values, and a body parsed into a
model is parsed once, by pydantic. Every other body is measured value by value as before.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect, Request

from intake.errors import IntakeError, from_validation, loc_to_field

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
MAX_DEPTH = 32  # nested arrays / objects; the deepest real payload (a Langfuse chat prompt) uses 6
MAX_ITEMS = 10_000  # entries in one array or object (alerts per message, Detections per request ...)
MAX_VALUES = 200_000  # JSON values in one body, of any kind
INLINE_BYTES = 64 * 1024  # bodies up to this size are parsed on the event loop (a few milliseconds at most)
PARSE_SLOTS = 2
CLIENT_CLOSED = 499  # recorded in /metrics when the client hangs up before its request was answered
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"


def check_content_type(request: Request, expected: str = JSON_TYPE) -> None:
    """415 unless the body is declared as `expected` (or as `application/...+json` for JSON), in UTF-8. A request
    without Content-Type is read as `expected`."""
    declared = request.headers.get("content-type")
    if declared is None:
        return
    media, *params = (p.strip().lower() for p in declared.split(";"))
    json_like = expected == JSON_TYPE and media.startswith("application/") and media.endswith("+json")
    charset = next((p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")), "utf-8")
    if (media != expected and not json_like) or charset not in ("utf-8", "utf8"):
        raise IntakeError(415, f"the body is declared as {declared!r}; send it as Content-Type: {expected} "
                          f"(UTF-8)", "Content-Type")


async def read_body(request: Request, limit: int, timeout: float, expected: str = JSON_TYPE,
                    empty_ok: bool = False) -> bytes:
    """The raw body: 415 / 413 / 408 / 400 (empty) as the module docstring says."""
    check_content_type(request, expected)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise IntakeError(400, "Content-Length is not a number", "Content-Length")
        if int(declared) > limit:
            raise IntakeError(413, f"the body is {declared} bytes; the limit is {limit} bytes", "body")
    chunks: list[bytes] = []
    total = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                total += len(chunk)
                if total > limit:
                    raise IntakeError(413, f"the body is over the limit of {limit} bytes", "body")
                chunks.append(chunk)
    except TimeoutError as err:
        raise IntakeError(408, f"the body did not arrive within {timeout:g} s; send it with the request",
                          "body", {"Connection": "close"}) from err
    except ClientDisconnect as err:
        raise IntakeError(CLIENT_CLOSED, "the client closed the connection before sending its body", "body") \
            from err
    body = b"".join(chunks)
    if not body.strip() and not empty_ok:
        raise IntakeError(400, "the body is empty; send a JSON object", "body")
    return body


def within_limits(body: bytes) -> bool:
    """True when the raw bytes alone prove the shape limits hold: brackets, braces and commas counted anywhere
    (inside strings too, so the counts only overcount) bound the depth, the entries of any array or object and the
    values in all; no `\\u0000` escape means no NUL (a raw one is not valid JSON); and no NaN / Infinity, which
    only the full parse refuses. False says nothing: the body is then measured value by value."""
    opened = body.count(b"[") + body.count(b"{")
    commas = body.count(b",")
    return (opened <= MAX_DEPTH and commas < MAX_ITEMS and opened + commas < MAX_VALUES and b"\\u0000" not in body
            and b"NaN" not in body and b"Infinity" not in body)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(body: bytes, field: str = "body") -> Any:
    """The body as plain JSON values, after the shape checks (400 / 413 / 422 naming where)."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as err:
        raise IntakeError(400, f"the {field} is not UTF-8 text ({err.reason} at byte {err.start})", field) from err
    except RecursionError as err:
        raise IntakeError(400, f"the {field} is nested more than {MAX_DEPTH} levels deep", field) from err
    except ValueError as err:
        raise IntakeError(400, f"the {field} is not valid JSON ({err})", field) from err
    if not within_limits(body):
        _measure(value, field)
    return value


def _measure(value: Any, field: str) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    seen = 0
    nul = False
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise IntakeError(413, f"the {field} holds more than {MAX_VALUES} JSON values; send fewer alerts per "
                              f"request", field)
        kind = type(node)
        if kind is dict or kind is list:
            if depth > MAX_DEPTH:
                raise IntakeError(400, f"the {field} is nested more than {MAX_DEPTH} levels deep", field)
            if len(node) > MAX_ITEMS:
                where = _locate(value, lambda n: type(n) in (dict, list) and len(n) > MAX_ITEMS)
                raise IntakeError(413, f"{loc_to_field(where, _prefix(field))}: {len(node)} entries; at most "
                                  f"{MAX_ITEMS} per array or object", loc_to_field(where, _prefix(field)))
            if kind is dict:
                for key, item in node.items():
                    nul = nul or "\x00" in key
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in node)
        elif kind is str and "\x00" in node:
            nul = True
    if nul:
        where = _locate(value, lambda n: type(n) is str and "\x00" in n, keys=True)
        at = loc_to_field(where, _prefix(field))
        raise IntakeError(422, f"{at}: contains a NUL character (\\u0000); no field may", at)


def _prefix(field: str) -> str:
    return "" if field == "body" else field


def _locate(value: Any, hit: Callable[[Any], bool], keys: bool = False) -> list[int | str]:
    """The path to the first node (or key, with `keys`) for which `hit` holds; only called to name an error."""
    stack: list[tuple[Any, list[int | str]]] = [(value, [])]
    while stack:
        node, path = stack.pop()
        if hit(node):
            return path
        if type(node) is dict:
            for key, item in reversed(node.items()):
                if keys and hit(key):
                    return [*path, key]
                stack.append((item, [*path, key]))
        elif type(node) is list:
            stack.extend((item, [*path, i]) for i, item in reversed(list(enumerate(node))))
    return []


def validate(model: type[M], body: bytes | Any) -> M:
    """pydantic's validation of the whole payload: 400 for malformed JSON, 422 naming the first bad field."""
    try:
        if isinstance(body, bytes):
            return model.model_validate_json(body)
        return model.model_validate(body)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            raise IntakeError(400, f"the body is not valid JSON ({first['msg']})", "body") from err
        if first["type"] == "literal_error" and first["loc"] == ("version",):
            raise IntakeError(422, f"version: unsupported version {first.get('input')!r}; this endpoint takes "
                              f"{first.get('ctx', {}).get('expected', '')}", "version") from err
        raise from_validation(err) from err


def parse(model: type[M], body: bytes) -> M:
    """The shape checks of load_json, then the model. A body within the limits by its bytes is parsed by pydantic
    alone; when that finds it is not JSON, load_json names the problem as it does for every body."""
    if within_limits(body):
        try:
            return validate(model, body)
        except IntakeError as err:
            if err.status != 400:
                raise
            load_json(body)  # its own 400 (UTF-8, JSON syntax), the same words as on the measured path
            raise
    load_json(body)
    return validate(model, body)


class Parsing:
    """Runs the parsing of a large body in a thread, at most PARSE_SLOTS at once; small ones run in place."""

    def __init__(self, slots: int = PARSE_SLOTS) -> None:
        self.slots = slots
        self._gate: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate[0] is not loop:  # one per event loop (tests run several)
            self._gate = (loop, asyncio.Semaphore(self.slots))
        return self._gate[1]

    async def run(self, size: int, work: Callable[..., T], *args: Any) -> T:
        if size <= INLINE_BYTES:
            return work(*args)
        async with self._semaphore():
            return await asyncio.to_thread(work, *args)
