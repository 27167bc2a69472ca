"""The intake HTTP API: alert sources open and feed incidents through it.

Every route reads the body under a size limit, authenticates the source, validates the whole payload (so bad
input never half-starts an incident), and answers 2xx only after Temporal recorded the start or the signal.
When Temporal does not answer, it says 503 with Retry-After, which Alertmanager, Grafana and PagerDuty senders
retry: nothing accepted is ever dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client
from temporalio.service import RetryConfig

from client.codec import load_codec
from client.readiness import Readiness, readiness
from client.temporal import TASK_QUEUE, connect, incident_workflow_id, raise_detections, signal_detections
from intake.auth import Authenticator, presented
from intake.coalesce import Coalescer
from intake.codec_server import codec_router
from intake.config import IntakeConfig, Secrets, intake_config, load_secrets
from intake.errors import IntakeError, from_validation
from intake.formats import alertmanager, firebreak, grafana, pagerduty
from intake.langfuse_webhook import langfuse_router
from intake.metrics import install_metrics
from intake.people import People, people_router
from integrations.artefacts import ArtefactStore
from observability import tracing
from observability.logs import json_logs
from playbook.config import load_playbook
from playbook.models import Detection
from settings import firebreak_home

log = logging.getLogger("firebreak.intake")
M = TypeVar("M", bound=BaseModel)
MAX_DETECTIONS_PER_REQUEST = 10_000


class Accepted(BaseModel):
    workflow_id: str
    alerts: int
    outcome: str  # recorded | no_incident (a resolve or acknowledge for an incident that is not running)


class AcceptedBody(BaseModel):
    status: str = "accepted"
    incidents: list[Accepted]


class PagerDutyAccepted(BaseModel):
    status: str = "success"
    message: str = "Event processed"
    dedup_key: str


class ErrorBody(BaseModel):
    message: str
    field: str | None = None


class Intake:
    """What the routes share: the config, the authenticator, the coalescer and the Temporal client."""

    def __init__(self, config: IntakeConfig, secrets: dict[str, Secrets], client: Client | None = None,
                 address: str | None = None, task_queue: str | None = None) -> None:
        self.config, self.client, self.address = config, client, address
        self.task_queue = task_queue or config.task_queue or TASK_QUEUE
        self.auth = Authenticator(config, secrets)
        storm = config.storm
        self.coalescer = Coalescer(self._send, storm.max_batch, storm.max_batch_bytes, storm.min_interval_ms / 1000)
        self.timeout = timedelta(seconds=config.temporal_timeout_seconds)
        self.tracing = tracing.tracing_enabled()

    async def connect(self) -> None:
        if self.client is None:
            # Lazy: the API starts (and says 503 / not ready) while Temporal is still coming up.
            retry = RetryConfig(max_retries=2, max_elapsed_time_millis=int(self.timeout.total_seconds() * 1000))
            self.client = await connect(self.address, lazy=True, retry_config=retry)

    async def _send(self, workflow_id: str, detections: list[Detection], start: bool) -> str:
        assert self.client is not None
        async with asyncio.timeout(self.timeout.total_seconds() * 2):
            if start:
                await raise_detections(self.client, workflow_id, detections, self.task_queue, self.timeout)
                return "recorded"
            found = await signal_detections(self.client, workflow_id, detections, self.timeout)
            return "recorded" if found else "no_incident"

    async def deliver(self, detections: list[Detection], no_start: set[int] | None = None) -> list[Accepted]:
        """Hand the detections to Temporal grouped by incident; returns when every group is recorded."""
        groups: dict[str, tuple[list[Detection], bool]] = {}
        for i, det in enumerate(detections):
            key = incident_workflow_id(det)
            dets, start = groups.get(key, ([], False))
            dets.append(det)
            groups[key] = (dets, start or (det.firing and i not in (no_start or set())))
        if self.tracing:  # the request's span names the incidents it fed
            tracing.set_incidents(list(groups))
        results = await asyncio.gather(*(self.coalescer.submit(k, d, s) for k, (d, s) in groups.items()),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            err = failed[0]
            log.warning("Temporal did not record %d incident group(s): %s", len(failed), err)
            raise IntakeError(503, f"Temporal did not record the alert(s) ({_reason(err)}); nothing is lost if you "
                              f"retry: repeats are counted once", None,
                              {"Retry-After": str(self.config.retry_after_seconds)})
        return [Accepted(workflow_id=k, alerts=len(d), outcome=str(r))
                for (k, (d, _)), r in zip(groups.items(), results, strict=True)]

    async def ready(self) -> Readiness:
        """Temporal answers and a worker polls the task queue (client/readiness.py)."""
        return await readiness(self.client, self.task_queue)


def _reason(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text.splitlines()[0][:200]


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than `limit` bytes before reading them where the length is declared."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise IntakeError(400, "Content-Length is not a number", "Content-Length")
        if int(declared) > limit:
            raise IntakeError(413, f"the body is {declared} bytes; the limit is {limit} (intake.max_body_bytes)",
                              "body")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise IntakeError(413, f"the body is over the limit of {limit} bytes (intake.max_body_bytes)", "body")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise IntakeError(400, "the body is empty; send a JSON object", "body")
    return body


def parse(model: type[M], body: bytes | Any) -> M:
    """Validate the whole payload up front: 400 for malformed JSON, 422 naming the first bad field."""
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


def _accepted(items: list[Accepted]) -> Response:
    return Response(AcceptedBody(incidents=items).model_dump_json(), status_code=202, media_type="application/json")


def _schema_for(*types: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request body schema, component definitions) for openapi_extra, since the routes parse bodies themselves."""
    adapter: TypeAdapter[Any] = TypeAdapter(types[0] if len(types) == 1 else types[0] | types[1])
    schema = adapter.json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    defs = schema.pop("$defs", {})
    return schema, defs


def create_app(config: IntakeConfig, secrets: dict[str, Secrets], client: Client | None = None,
               address: str | None = None, task_queue: str | None = None, people: People | None = None,
               langfuse_secret: bytes | None = None, store: ArtefactStore | None = None) -> FastAPI:
    """The intake app. `langfuse_secret` signs Langfuse webhooks (None: that route answers 403); `store` is where
    the deploy log goes (default: $FIREBREAK_HOME/artefacts, as the worker's)."""
    intake = Intake(config, secrets, client, address, task_queue)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await intake.connect()
        log.info("intake ready: task queue %s, sources %s", intake.task_queue, ", ".join(config.sources))
        yield
        st = intake.coalescer.stats
        log.info("intake stopping: %d request groups went to Temporal in %d calls (largest %d alerts)", st.requests,
                 st.calls, st.largest_batch)
        await intake.coalescer.close()

    app = FastAPI(title="Firebreak intake", version="1", lifespan=lifespan,
                  description="Alert sources open and feed incidents. Answers 2xx only after Temporal recorded the "
                              "alert; 503 with Retry-After when it could not.")
    app.state.intake = intake
    app.include_router(people_router(config, people or People(), lambda: intake.client))
    app.include_router(langfuse_router(config, langfuse_secret, store or ArtefactStore(firebreak_home() / "artefacts")))
    codec = load_codec()
    if codec is not None:  # payload encryption is on: serve the codec endpoint for the Temporal UI
        app.include_router(codec_router(codec))
    install_metrics(app, intake)  # GET /metrics and the request counters (intake/metrics.py)
    if intake.tracing:  # a span per request, parent of the Temporal calls it makes (observability/tracing.py)
        app.add_middleware(tracing.RequestSpans)
    components: dict[str, Any] = {}
    error_schema = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    errors: dict[int | str, dict[str, Any]] = {
        str(code): {"description": why, "content": error_schema} for code, why in (
        (400, "malformed JSON or body"), (401, "no or unknown credentials"), (403, "credentials of another source"),
        (413, "body over intake.max_body_bytes"), (422, "a field is missing, of the wrong type or unsupported"),
        (503, "Temporal did not record it; retry after Retry-After seconds"))}

    def body_doc(*types: Any) -> dict[str, Any]:
        schema, defs = _schema_for(*types)
        components.update(defs)
        return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}

    limit = config.max_body_bytes

    async def authenticate(request: Request, fmt: str, body: bytes, routing_key: str | None = None) -> str:
        creds = presented(request.headers, intake.auth.hmac_headers, routing_key)
        return intake.auth.authenticate(fmt, creds, body)

    def webhook(path: str, fmt: str, module: Any, doc: str) -> None:
        """Alertmanager and Grafana: one message of alerts in, one Detection per alert."""

        async def receive(request: Request) -> Response:
            body = await read_body(request, limit)
            source = await authenticate(request, fmt, body)
            message = parse(module.Message, body)
            return _accepted(await intake.deliver(
                module.detections(message, source, config.sources[source], config.labels)))

        receive.__name__, receive.__doc__ = f"{fmt}_webhook", doc
        app.post(path, status_code=202, response_model=AcceptedBody, openapi_extra=body_doc(module.Message),
                 responses=errors, tags=["alerts"])(receive)

    webhook("/v1/alerts/alertmanager", "alertmanager", alertmanager,
            """Prometheus Alertmanager webhook (version "4"); each alert becomes a Detection.""")
    webhook("/v1/alerts/grafana", "grafana", grafana,
            """Grafana unified-alerting webhook contact point (version "1"), optionally HMAC-signed.""")

    @app.post("/v2/enqueue", status_code=202, response_model=PagerDutyAccepted,
              openapi_extra=body_doc(pagerduty.Event), responses=errors, tags=["alerts"])
    async def pagerduty_enqueue(request: Request) -> Response:
        """PagerDuty Events API v2: trigger / acknowledge / resolve by dedup_key; routing_key names the source."""
        body = await read_body(request, limit)
        try:
            raw = json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            raise IntakeError(400, f"the body is not valid JSON ({err})", "body") from err
        if not isinstance(raw, dict):
            raise IntakeError(422, "the body must be a JSON object (an event)", "body")
        key = raw.get("routing_key")
        source = await authenticate(request, "pagerduty", body, key if isinstance(key, str) and key else None)
        event = parse(pagerduty.Event, raw)
        dedup_key, det = pagerduty.to_detection(event, source, config.labels)
        await intake.deliver([det], no_start={0} if event.event_action != "trigger" else None)
        return Response(PagerDutyAccepted(dedup_key=dedup_key).model_dump_json(), status_code=202,
                        media_type="application/json")

    @app.post("/v1/alerts", status_code=202, response_model=AcceptedBody,
              openapi_extra=body_doc(Detection, list[Detection]), responses=errors, tags=["alerts"])
    async def firebreak_alerts(request: Request) -> Response:
        """Firebreak's own Detection JSON: one Detection or an array of them. `source` defaults to the sender."""
        body = await read_body(request, limit)
        source = await authenticate(request, "firebreak", body)
        dets = firebreak.parse(body)
        if len(dets) > MAX_DETECTIONS_PER_REQUEST:
            raise IntakeError(422, f"at most {MAX_DETECTIONS_PER_REQUEST} detections per request", "body")
        if not dets:
            raise IntakeError(422, "the array is empty; send at least one Detection", "body")
        dets = [d if "source" in d.model_fields_set else d.model_copy(update={"source": source}) for d in dets]
        return _accepted(await intake.deliver(dets))

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up (it may still be waiting for Temporal; see /readyz)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"],
             responses={503: {"description": "Temporal is not answering, or no worker polls the task queue"}})
    async def readyz() -> Response:
        """Ready only while Temporal answers and a worker polls the incidents' task queue."""
        state = await intake.ready()
        if state.ready:
            return JSONResponse({"status": "ready", "message": state.message, "workers": state.workers})
        return JSONResponse({"status": "not ready", "message": state.message}, status_code=503,
                            headers={"Retry-After": str(config.retry_after_seconds)})

    @app.exception_handler(IntakeError)
    async def intake_error(request: Request, err: IntakeError) -> Response:
        body = err.body()
        if request.url.path == "/v2/enqueue" and 400 <= err.status < 500:
            body.update(status="invalid event", errors=[err.message])  # PagerDuty's own error shape, plus ours
        return JSONResponse(body, status_code=err.status, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, err: RequestValidationError) -> Response:
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first.get("loc", ())) or "body"
        return JSONResponse({"message": f"{field}: {first.get('msg')}", "field": field}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> Response:
        return JSONResponse({"message": str(err.detail)}, status_code=err.status_code, headers=err.headers)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, err: Exception) -> Response:
        # Never 500: an unexpected failure may not have recorded anything, so ask the sender to retry.
        log.exception("unexpected intake failure")
        return JSONResponse({"message": f"the intake failed unexpectedly ({type(err).__name__}); retry"},
                            status_code=503, headers={"Retry-After": str(config.retry_after_seconds)})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            found = schema.setdefault("components", {}).setdefault("schemas", {})
            found.update(components)
            found["ErrorBody"] = ErrorBody.model_json_schema()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def build(playbook_path: Path, address: str | None = None,
          environ: dict[str, str] | None = None) -> tuple[FastAPI, IntakeConfig]:
    """The app for a playbook file; PlaybookError when its [intake] section or a named secret is unusable."""
    playbook, _ = load_playbook(playbook_path)
    config = intake_config(playbook, str(playbook_path))
    secrets = load_secrets(config, environ, str(playbook_path))
    slack_secret = (os.environ if environ is None else environ).get(config.slack.signing_secret_env)
    people = People(roster=playbook.roster, slack_secret=slack_secret.encode() if slack_secret else None,
                    channels=dict(playbook.channels), store=ArtefactStore(firebreak_home() / "artefacts"))
    webhook_secret = (os.environ if environ is None else environ).get(config.langfuse.secret_env, "").strip()
    return create_app(config, secrets, address=address, people=people,
                      langfuse_secret=webhook_secret.encode() if webhook_secret else None), config


def serve(playbook_path: Path, host: str | None = None, port: int | None = None, address: str | None = None) -> None:
    """`firebreak api`: run the intake until SIGINT/SIGTERM; in-flight requests finish before it stops.

    host/port default to the playbook's [intake] host and port (127.0.0.1:8800).
    """
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            """Stop gracefully on SIGINT/SIGTERM and return normally (uvicorn would re-raise the signal)."""
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    if tracing.setup("firebreak-intake"):
        log.info("OpenTelemetry tracing on")
    app, config = build(Path(playbook_path), address)
    server_config = uvicorn.Config(app, host=host or config.host, port=port or config.port, access_log=False,
                                   log_level="info", lifespan="on", server_header=False,
                                   log_config=None if json_logs() else uvicorn.config.LOGGING_CONFIG,
                                   timeout_graceful_shutdown=int(config.temporal_timeout_seconds * 2) + 1)
    Server(server_config).run()
