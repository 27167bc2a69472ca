"""The intake HTTP API: alert sources open and feed incidents through it.

Every route authenticates the source from its headers before it reads the body where it can, reads and parses
the body the same way (intake/body.py: content type, size, time, JSON depth and counts, then the model), checks
that the incident workflow can decode every Detection (client/admission.py), so bad input never half-starts
an incident, and answers 2xx only after Temporal recorded the start or the signal. When Temporal does not
answer, it says 503 with Retry-After, which Alertmanager, Grafana and PagerDuty senders retry: nothing accepted
is ever dropped. docs/intake-limits.md lists every input limit and its status.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RetryConfig, RPCError

from client.actions import ORIGIN, set_auditor
from client.admission import Inadmissible, admit
from client.readiness import Readiness, readiness
from client.temporal import TASK_QUEUE, connect, incident_workflow_id, raise_detections, signal_detections
from intake.api import api_router
from intake.auth import Authenticator, presented
from intake.board import install_board
from intake.body import MAX_ITEMS, Parsing, load_json, parse, read_body, validate
from intake.coalesce import Coalescer, Sent
from intake.codec_server import install_codec
from intake.config import IntakeConfig, Secrets, SourceConfig, intake_config, load_secrets
from intake.deploy_events import deploy_router
from intake.errors import IntakeError, install_handlers
from intake.formats import alertmanager, firebreak, grafana, pagerduty
from intake.lane import IntakeAPI
from intake.langfuse_webhook import langfuse_router
from intake.metrics import install_metrics
from intake.openapi_doc import SENT, answers, body_doc, finish
from intake.pagerduty_webhook import pagerduty_router
from intake.people import People, PeopleRoutes, people_router
from intake.rate_limit import RateLimits
from intake.tls import uvicorn_options
from intake.tracker_webhooks import tracker_router
from integrations import audit
from integrations.store import Store, open_store
from observability import tracing
from observability.logs import json_logs
from playbook.config import load_playbook
from playbook.models import Detection

log = logging.getLogger("firebreak.intake")
MAX_DETECTIONS_PER_REQUEST = MAX_ITEMS


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


class Intake:
    """What the routes share: the config, the authenticator, the coalescer and the Temporal client."""

    def __init__(self, config: IntakeConfig, secrets: dict[str, Secrets], client: Client | None = None,
                 address: str | None = None, task_queue: str | None = None) -> None:
        self.config, self.client, self.address = config, client, address
        self.task_queue = task_queue or config.task_queue or TASK_QUEUE
        self.auth = Authenticator(config, secrets)
        storm = config.storm
        self.coalescer = Coalescer(self._send, storm.max_batch, storm.max_batch_bytes, storm.min_interval_ms / 1000,
                                   running=self._running)
        self.timeout = timedelta(seconds=config.temporal_timeout_seconds)
        self.tracing = tracing.tracing_enabled()
        self.parsing = Parsing()
        self.limits = RateLimits(config.rate_limits)

    async def connect(self) -> None:
        if self.client is None:
            # Lazy: the API starts (and says 503 / not ready) while Temporal is still coming up.
            retry = RetryConfig(max_retries=2, max_elapsed_time_millis=int(self.timeout.total_seconds() * 1000))
            self.client = await connect(self.address, lazy=True, retry_config=retry)

    async def _send(self, workflow_id: str, detections: list[Detection], start: bool) -> str | Sent:
        assert self.client is not None
        async with asyncio.timeout(self.timeout.total_seconds() * 2):
            if start:
                run_id = await raise_detections(self.client, workflow_id, detections, self.task_queue, self.timeout)
                return Sent("recorded", run_id or None)
            found = await signal_detections(self.client, workflow_id, detections, self.timeout)
            return "recorded" if found else "no_incident"

    async def _running(self, workflow_id: str) -> str | None:
        """The run id of the incident's running workflow; None when none runs or Temporal does not say."""
        assert self.client is not None
        try:
            async with asyncio.timeout(self.timeout.total_seconds() * 2):
                found = await self.client.get_workflow_handle(workflow_id).describe(rpc_timeout=self.timeout)
        except (RPCError, TimeoutError):
            return None
        return found.run_id if found.status == WorkflowExecutionStatus.RUNNING else None

    async def deliver(self, detections: list[Detection], no_start: set[int] | None = None,
                      source: str | None = None) -> list[Accepted]:
        """Hand the detections to Temporal grouped by incident; returns when every group is recorded. `source`
        pays for the new Temporal calls under its rate limit (intake/rate_limit.py), or 429."""
        groups: dict[str, tuple[list[Detection], bool]] = {}
        for i, det in enumerate(detections):
            key = incident_workflow_id(det)
            dets, start = groups.get(key, ([], False))
            dets.append(det)
            groups[key] = (dets, start or (det.firing and i not in (no_start or set())))
        if self.tracing:  # the request's span names the incidents it fed
            tracing.set_incidents(list(groups))
        if source is not None:  # joining a call already queued for an incident is free; queued in the same step
            self.limits.admit(source, sum(not self.coalescer.busy(k) for k in groups))
        queued = [self.coalescer.enqueue(k, d, s) for k, (d, s) in groups.items()]
        results = await asyncio.gather(*queued, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            err = failed[0]
            log.warning("Temporal did not record %d incident group(s): %s", len(failed), err)
            raise IntakeError(503, f"Temporal did not record the alert(s) ({_reason(err)}); nothing is lost if you "
                              f"retry: repeats are counted once", None,
                              {"Retry-After": str(self.config.retry_after_seconds)})
        return [Accepted(workflow_id=k, alerts=len(d), outcome=str(r))
                for (k, (d, _)), r in zip(groups.items(), results, strict=True)]

    async def declare(self, detections: list[Detection]) -> list[str]:
        """POST /v1/incidents: the declared detection goes to Temporal as an alert does; the incidents' ids."""
        return [accepted.workflow_id for accepted in await self.deliver(detections)]

    async def ready(self) -> Readiness:
        """Temporal answers and a worker polls the task queue (client/readiness.py)."""
        return await readiness(self.client, self.task_queue)


def _reason(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text.splitlines()[0][:200]


def admitted(detections: list[Detection], items: str | None = None) -> list[Detection]:
    """The detections, once the incident workflow is sure to decode them (client/admission.py); else 422.
    `items`: how the sender's list is named ("alerts" for webhooks); None: the detections are the body."""
    try:
        admit(detections, numbered=items is not None)
    except Inadmissible as err:
        field = f"{items}{err.field}" if items and err.field.startswith("[") else err.field
        raise IntakeError(422, f"{field}: {err.message}", field) from err
    return detections


def _webhook_detections(module: Any, body: bytes, source: str, src: SourceConfig, config: IntakeConfig) -> \
        list[Detection]:
    message = parse(module.Message, body)
    return admitted(module.detections(message, source, src, config.labels), "alerts")


def _firebreak_detections(body: bytes, source: str) -> list[Detection]:
    dets = firebreak.parse(body)
    if not dets:
        raise IntakeError(422, "the array is empty; send at least one Detection", "body")
    dets = [d if "source" in d.model_fields_set else d.model_copy(update={"source": source}) for d in dets]
    return admitted(dets, "" if body.lstrip()[:1] == b"[" else None)


def _pagerduty_detection(raw: dict[str, Any], source: str, config: IntakeConfig) -> \
        tuple[pagerduty.Event, str, Detection]:
    event = validate(pagerduty.Event, raw)
    dedup_key, det = pagerduty.to_detection(event, source, config.labels)
    return event, dedup_key, admitted([det])[0]


def _accepted(items: list[Accepted]) -> Response:
    return Response(AcceptedBody(incidents=items).model_dump_json(), status_code=202, media_type="application/json")


class ActionOrigin:
    """ASGI middleware: the request's client address as the origin of any action it sends (client/actions.py's
    ORIGIN), so every route that acts through client/actions.py is audited with where it came from."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            ORIGIN.set(f"http {client[0]}" if client else "http")
        await self.app(scope, receive, send)


def create_app(config: IntakeConfig, secrets: dict[str, Secrets], client: Client | None = None,
               address: str | None = None, task_queue: str | None = None, people: People | None = None,
               langfuse_secret: bytes | None = None, store: Store | None = None,
               host: str | None = None) -> FastAPI:
    """The intake app. `langfuse_secret` signs Langfuse webhooks (None: that route answers 403); `store` is where
    the deploy log goes (default: $FIREBREAK_HOME/artefacts, as the worker's); `host` is the address the server
    listens on (default [intake] host), which decides whether the codec endpoint may serve without a token."""
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

    # FastAPI's own OpenTelemetry (spans and metrics to the global providers) stays off: Firebreak's request spans
    # are observability/tracing.py's, on its own provider; and checking for a global provider read the
    # environment on every request (docs/performance.md, the storm).
    app = IntakeAPI(title="Firebreak intake", version="1", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="Alert sources open and feed incidents. Answers 2xx only after Temporal recorded the "
                              "alert; 503 with Retry-After when it could not. Input limits: docs/intake-limits.md.")
    app.state.intake = intake
    people, store = people or People(), store or open_store()
    set_auditor(audit.action_recorder(lambda: store))  # every person's action sent from here (client/actions.py)
    app.include_router(people_router(config, people, lambda: intake.client))
    app.include_router(api_router(PeopleRoutes(config, people, lambda: intake.client),  # intake/api/
                                  intake.declare, lambda: store))
    app.include_router(langfuse_router(config, langfuse_secret, store))
    app.include_router(pagerduty_router(config, people, lambda: intake.client))  # PagerDuty v3 webhooks
    # GitHub / Jira: action items closed there
    app.include_router(tracker_router(config, lambda: intake.client, store=store))
    app.include_router(deploy_router(config, store))  # PagerDuty change events, CI deploys
    install_board(app, config, people, lambda: intake.client, people.store or store)  # the web board at /
    install_codec(app, host or config.host, config.body_timeout_seconds)
    install_handlers(app, config.retry_after_seconds)  # JSON errors; unexpected ones 503 (intake/errors.py)
    install_metrics(app, intake.coalescer)  # GET /metrics and the request counters (intake/metrics.py)
    app.add_middleware(ActionOrigin)  # the audit log's "from where": the client's address
    if intake.tracing:  # a span per request, parent of the Temporal calls it makes (observability/tracing.py)
        app.add_middleware(tracing.RequestSpans)
    limit, seconds = config.max_body_bytes, config.body_timeout_seconds

    async def source_of(request: Request, fmt: str) -> tuple[str, bytes]:
        """Who sent it, from the headers before the body where they suffice (no signature), and the body."""
        creds = presented(request.headers, intake.auth.hmac_headers)
        known = intake.auth.before_body(fmt, creds)
        body = await read_body(request, limit, seconds)
        return known or intake.auth.authenticate(fmt, creds, body), body

    def webhook(path: str, fmt: str, module: Any, doc: str) -> None:
        """Alertmanager and Grafana: one message of alerts in, one Detection per alert."""

        async def receive(request: Request) -> Response:
            source, body = await source_of(request, fmt)
            dets = await intake.parsing.run(len(body), _webhook_detections, module, body, source,
                                            config.sources[source], config)
            return _accepted(await intake.deliver(dets, source=source))

        receive.__name__, receive.__doc__ = f"{fmt}_webhook", doc
        app.post(path, status_code=202, response_model=AcceptedBody, openapi_extra=body_doc(module.Message),
                 responses=answers(*SENT), tags=["alerts"])(receive)
        app.laned(path, receive)  # alert POSTs past FastAPI's routing (intake/lane.py)

    webhook("/v1/alerts/alertmanager", "alertmanager", alertmanager,
            """Prometheus Alertmanager webhook (version "4"); each alert becomes a Detection.""")
    webhook("/v1/alerts/grafana", "grafana", grafana,
            """Grafana unified-alerting webhook contact point (version "1"), optionally HMAC-signed.""")

    @app.post("/v2/enqueue", status_code=202, response_model=PagerDutyAccepted,
              openapi_extra=body_doc(pagerduty.Event), responses=answers(*SENT), tags=["alerts"])
    async def pagerduty_enqueue(request: Request) -> Response:
        """PagerDuty Events API v2: trigger / acknowledge / resolve by dedup_key; routing_key names the source."""
        body = await read_body(request, limit, seconds)  # the routing_key, its credential, is in the body
        raw = await intake.parsing.run(len(body), load_json, body)
        if not isinstance(raw, dict):
            raise IntakeError(422, "the body must be a JSON object (an event)", "body")
        key = raw.get("routing_key")
        creds = presented(request.headers, intake.auth.hmac_headers, key if isinstance(key, str) and key else None)
        source = intake.auth.authenticate("pagerduty", creds, body)
        event, dedup_key, det = await intake.parsing.run(len(body), _pagerduty_detection, raw, source, config)
        await intake.deliver([det], no_start={0} if event.event_action != "trigger" else None, source=source)
        return Response(PagerDutyAccepted(dedup_key=dedup_key).model_dump_json(), status_code=202,
                        media_type="application/json")

    @app.post("/v1/alerts", status_code=202, response_model=AcceptedBody,
              openapi_extra=body_doc(Detection, Annotated[list[Detection], Field(min_length=1, max_length=MAX_ITEMS)]),
              responses=answers(*SENT), tags=["alerts"])
    async def firebreak_alerts(request: Request) -> Response:
        """Firebreak's own Detection JSON: one Detection or an array of them. `source` defaults to the sender."""
        source, body = await source_of(request, "firebreak")
        dets = await intake.parsing.run(len(body), _firebreak_detections, body, source)
        return _accepted(await intake.deliver(dets, source=source))

    app.laned("/v1/alerts", firebreak_alerts)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up (it may still be waiting for Temporal; see /readyz)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {**answers(503)[503], "description":
                                                              "Temporal is not answering, or no worker polls the "
                                                              "task queue"}})
    async def readyz() -> Response:
        """Ready only while Temporal answers and a worker polls the incidents' task queue."""
        state = await intake.ready()
        if state.ready:
            return JSONResponse({"status": "ready", "message": state.message, "workers": state.workers})
        return JSONResponse({"status": "not ready", "message": state.message}, status_code=503,
                            headers={"Retry-After": str(config.retry_after_seconds)})

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish(get_openapi(title=app.title, version=app.version,
                                                    description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def build(playbook_path: Path, address: str | None = None, environ: dict[str, str] | None = None,
          host: str | None = None) -> tuple[FastAPI, IntakeConfig]:
    """The app for a playbook file (listening on `host`, default [intake] host); PlaybookError when its [intake]
    section or a named secret is unusable."""
    playbook, sha = load_playbook(playbook_path)
    audit.safely(lambda: audit.playbook_seen(open_store(), str(playbook_path), sha, "intake"), "playbook seen")
    config = intake_config(playbook, str(playbook_path))
    secrets = load_secrets(config, environ, str(playbook_path))
    slack_secret = (os.environ if environ is None else environ).get(config.slack.signing_secret_env)
    people = People(roster=playbook.roster, slack_secret=slack_secret.encode() if slack_secret else None,
                    channels=dict(playbook.channels), store=open_store(),
                    pagerduty=playbook.paging.pagerduty)
    webhook_secret = (os.environ if environ is None else environ).get(config.langfuse.secret_env, "").strip()
    return create_app(config, secrets, address=address, people=people, host=host,
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
    app, config = build(Path(playbook_path), address, host=host)
    server_config = uvicorn.Config(app, host=host or config.host, port=port or config.port, access_log=False,
                                   log_level="info", lifespan="on", server_header=False,
                                   log_config=None if json_logs() else uvicorn.config.LOGGING_CONFIG,
                                   timeout_graceful_shutdown=int(config.temporal_timeout_seconds * 2) + 1,
                                   **uvicorn_options(config, str(playbook_path)))  # https, mTLS: intake/tls.py
    # What was built to start (the redaction detectors, the app, its models: most of the heap) lives as long as
    # the process; frozen, the collector no longer walks it on every full collection (docs/performance.md).
    gc.freeze()
    Server(server_config).run()
