"""Incidents: list (GET /v1/incidents), show one (GET /v1/incidents/{incident}) and declare (POST /v1/incidents),
as `firebreak ls`, `show` and `declare` do."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from client.actions import IncidentNotFound, failure_of, find_incident, opened
from client.admission import Inadmissible, admit
from client.incident_view import incident_view
from client.listing import LS_KEYS, incident_row, incidents_query, list_incidents
from client.workflow_types import IncidentWorkflow
from intake.body import MAX_ITEMS
from intake.errors import IntakeError
from intake.openapi_doc import answers, body_doc
from intake.people import PeopleRoutes
from playbook.models import Detection, IncidentStatus

if TYPE_CHECKING:
    from intake.api import Deliver

SHOW_EXAMPLE = {"number": "INC-2026-0001", "workflow_id": "incident-3f2a...", "severity": "SEV2",
                "status": "acknowledged", "step": "stabilise", "pending": [{"request_id": "stabilise-1",
                "role": "ai_ops", "subject": "Roll support-bot back"}], "mitigations": [],
                "summary": "**INC-2026-0001** · SEV2 · acknowledged · step stabilise ...", "state": {"timeline": []}}


class IncidentRow(BaseModel):
    number: str
    severity: str
    status: str
    step: str
    service: str
    kind: str
    alerts: str
    detected_at: str
    workflow_id: str


class Declared(BaseModel):
    workflow_id: str
    number: str | None = Field(default=None, description="null while no worker has opened it yet (202)")
    severity: str | None = None
    status: str | None = None


def router(routes: PeopleRoutes, deliver: Deliver) -> APIRouter:
    api = APIRouter()

    @api.get("/v1/incidents", response_model=list[IncidentRow], responses=answers(401, 403, 422, 503))
    async def list_open(request: Request, status: IncidentStatus | None = None,
                        service: Annotated[str | None, Query(max_length=200)] = None,
                        everything: Annotated[bool, Query(alias="all", description="closed ones too")] = False,
                        limit: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 100) -> Response:
        """Incidents, newest first (open ones unless all=true), filtered by status and service: `firebreak ls`."""
        routes.person(request)
        try:
            query = incidents_query(everything, status.value if status else None, service)
        except ValueError as err:
            raise IntakeError(422, f"service: {err}", "service") from err
        try:
            async with routes.temporal():
                rows = [dict(zip(LS_KEYS, incident_row(w), strict=True))
                        async for w in list_incidents(routes.client, query, limit=limit,
                                                      rpc_timeout=timedelta(seconds=routes.timeout))]
        except RPCError as err:
            raise routes._unavailable(err) from err
        return JSONResponse(rows)

    @api.get("/v1/incidents/{incident}", responses={**answers(401, 403, 404, 422, 503), 200: {
        "description": "the incident", "content": {"application/json": {"example": SHOW_EXAMPLE}}}})
    async def show(incident: str, request: Request,
                   timeline: Annotated[int | None, Query(ge=0, le=10_000, description="only the latest N "
                                                                                      "timeline entries")] = None) \
            -> Response:
        """State, step, what waits for a decision, mitigations in place and the timeline: `firebreak show`.
        Closed incidents too (their state is read from the history)."""
        routes.person(request)
        async with routes.temporal():
            try:
                handle = await find_incident(routes.client, incident)
                desc = await handle.describe(rpc_timeout=timedelta(seconds=routes.timeout))
            except IncidentNotFound as err:
                raise IntakeError(404, str(err), "incident") from err
            except RPCError as err:
                if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                    raise IntakeError(404, f"no incident '{incident}'", "incident") from err
                raise routes._unavailable(err) from err
        if desc.workflow_type != "IncidentWorkflow":
            raise IntakeError(404, f"'{incident}' is not an incident", "incident")
        if desc.status == WorkflowExecutionStatus.FAILED:
            raise IntakeError(404, await failure_of(handle) or f"{handle.id} failed", "incident")
        try:
            state = await handle.query(IncidentWorkflow.get_state, rpc_timeout=timedelta(seconds=routes.wait))
        except RPCError as err:
            raise IntakeError(503, f"incident {incident} did not answer ({err.message}); is a worker running?",
                              None, {"Retry-After": str(routes.config.retry_after_seconds)}) from err
        return JSONResponse(incident_view(state, timeline))

    @api.post("/v1/incidents", response_model=Declared, responses={**answers(400, 401, 403, 408, 413, 415, 422,
              503), 202: {"description": "recorded; no worker has opened it within the wait", "model": Declared}},
              openapi_extra=body_doc(Detection))
    async def declare(request: Request) -> Response:
        """Open an incident, or join the open one with the same fingerprint: `firebreak declare`. The body is a
        Detection (source defaults to `api:<you>`); 200 with its number once a worker opened it."""
        who = routes.person(request)
        detection = await routes.body(request, Detection)
        if "source" not in detection.model_fields_set:
            detection = detection.model_copy(update={"source": f"api:{who}"})
        try:  # what the workflow could not decode is refused here, as on the alert routes
            admit([detection], numbered=False)
        except Inadmissible as err:
            raise IntakeError(422, f"{err.field}: {err.message}", err.field) from err
        workflow_id = (await deliver([detection]))[0]
        state = await opened(routes.client.get_workflow_handle(workflow_id), routes.wait)
        body: dict[str, Any] = {"workflow_id": workflow_id}
        if state is None:
            return JSONResponse(Declared(**body).model_dump(mode="json"), status_code=202)
        return JSONResponse(Declared(**body, number=state.number, severity=state.severity.value,
                                     status=state.status.value).model_dump(mode="json"))

    return api
