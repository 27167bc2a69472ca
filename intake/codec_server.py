"""The codec server the Temporal UI and CLI use to show encrypted payloads: POST /codec/encode, /codec/decode.

Served by the intake API when payload encryption is on (client/codec.py). Bodies are Temporal's `Payloads` in
protobuf JSON (`{"payloads": [{"metadata": {...}, "data": "..."}]}`), as the UI's "Remote Codec Endpoint" and
`temporal --codec-endpoint` send them. Browsers get CORS answers only for the allowed origins (the UI's address);
with FIREBREAK_CODEC_TOKEN set, every call needs `Authorization: Bearer <token>`. Without a token the intake serves
the codec only while it listens on loopback; otherwise these routes answer 403 saying why (intake/app.py).
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from client.codec import CodecError, EncryptionCodec, load_codec
from intake.body import read_body
from intake.errors import IntakeError
from intake.openapi_doc import PAYLOADS_DOC, answers
from settings import CODEC_CORS_ORIGINS as ORIGINS_ENV
from settings import CODEC_TOKEN as TOKEN_ENV

DEFAULT_ORIGINS = ("http://localhost:8233", "http://127.0.0.1:8233")
MAX_BODY_BYTES = 8 * 1024 * 1024
ALLOW_HEADERS = "content-type, x-namespace, authorization"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
log = logging.getLogger("firebreak.intake")


def allowed_origins(environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    raw = env.get(ORIGINS_ENV, "")
    return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()] or list(DEFAULT_ORIGINS)


def codec_token(environ: Mapping[str, str] | None = None) -> str | None:
    """FIREBREAK_CODEC_TOKEN, None when unset or blank."""
    return (os.environ if environ is None else environ).get(TOKEN_ENV, "").strip() or None


def codec_router(codec: EncryptionCodec, origins: Sequence[str] | None = None, token: str | None = None,
                 refuse: str | None = None, body_seconds: float = 10.0) -> APIRouter:
    """The codec routes; with `refuse`, every call answers 403 with that sentence instead of touching a payload."""
    router = APIRouter(prefix="/codec", tags=["codec"], responses=answers(400, 401, 403, 408, 413, 415, 422))
    allowed = set(allowed_origins() if origins is None else origins)
    if token is None:
        token = codec_token()

    def cors(request: Request) -> dict[str, str]:
        origin = request.headers.get("origin", "")
        if origin not in allowed:
            return {"Vary": "Origin"}
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": ALLOW_HEADERS, "Access-Control-Allow-Credentials": "true",
                "Access-Control-Max-Age": "600", "Vary": "Origin"}

    async def run(request: Request, transform: Callable[[Sequence[Payload]], Awaitable[list[Payload]]]) -> Response:
        headers = cors(request)
        if refuse is not None:
            return JSONResponse({"message": refuse}, status_code=403, headers=headers)
        if token is not None:
            presented = request.headers.get("authorization", "")
            if not hmac.compare_digest(presented.encode(), f"Bearer {token}".encode()):
                return JSONResponse({"message": f"the codec server needs 'Authorization: Bearer <{TOKEN_ENV}>'"},
                                    status_code=401, headers=headers)
        try:
            body = await read_body(request, MAX_BODY_BYTES, body_seconds)
        except IntakeError as err:
            return JSONResponse(err.body(), status_code=err.status, headers={**headers, **err.headers})
        try:
            payloads = json_format.Parse(body, Payloads())
        except (json_format.ParseError, UnicodeDecodeError, ValueError) as err:
            return JSONResponse({"message": f"the body is not Temporal Payloads JSON ({err})", "field": "body"},
                                status_code=400, headers=headers)
        try:
            result = await transform(list(payloads.payloads))
        except CodecError as err:
            return JSONResponse({"message": str(err)}, status_code=422, headers=headers)
        return Response(json_format.MessageToJson(Payloads(payloads=result)), media_type="application/json",
                        headers=headers)

    @router.options("/encode", include_in_schema=False)
    @router.options("/decode", include_in_schema=False)
    async def preflight(request: Request) -> Response:
        return Response(status_code=204, headers=cors(request))

    @router.post("/encode", openapi_extra=PAYLOADS_DOC)
    async def encode(request: Request) -> Response:
        """Encrypt Temporal Payloads (protobuf JSON) with the current key."""
        return await run(request, codec.encode)

    @router.post("/decode", openapi_extra=PAYLOADS_DOC)
    async def decode(request: Request) -> Response:
        """Decrypt Temporal Payloads (protobuf JSON); payloads that are not encrypted pass through."""
        return await run(request, codec.decode)

    return router


def install_codec(app: FastAPI, host: str, body_seconds: float) -> None:
    """Serve the codec endpoint when payload encryption is on, and only with a token unless bound to loopback."""
    codec = load_codec()
    if codec is None:
        return
    token = codec_token()
    if token is None and host not in LOOPBACK_HOSTS:
        log.warning("codec endpoint refused: the intake listens on %s and FIREBREAK_CODEC_TOKEN is not set, so "
                    "/codec would decrypt payloads for anyone who reaches it; set FIREBREAK_CODEC_TOKEN (callers "
                    "then send 'Authorization: Bearer <token>') or listen on 127.0.0.1", host)
        app.include_router(codec_router(codec, refuse=f"the codec endpoint is off: this intake listens on {host} "
                                        "and FIREBREAK_CODEC_TOKEN is not set; set it, or run the intake on "
                                        "127.0.0.1"))
        return
    log.info("codec endpoint on at /codec (%s)", "token required" if token else f"no token: {host} only")
    app.include_router(codec_router(codec, token=token, body_seconds=body_seconds))
