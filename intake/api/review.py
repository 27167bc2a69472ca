"""Review: the retrospective, its action items and marking one done, as `firebreak retro`, `actions` and `done`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from client.action_items import action_items, items_query
from client.workflow_types import ActionItemWorkflow, IncidentWorkflow
from intake.api.acting import Acting, send
from intake.body import MAX_ITEMS
from intake.errors import IntakeError
from intake.openapi_doc import answers, body_doc
from intake.people import ActionResult, PeopleRoutes, Target, acted_errors
from playbook.models import ActionItem, HumanAction, RetrospectiveNotes, RiskAssessment, Role


def texts() -> Any:
    """A list of up to 100 short texts (factors, actions, what went well or badly)."""
    return Field(default_factory=list, max_length=100)


class RetroBody(Acting):
    root_cause: str = Field(min_length=1, max_length=4000)
    contributing_factors: list[str] = texts()
    preventative_actions: list[str] = texts()
    action_items: list[ActionItem] = Field(default_factory=list, max_length=100)
    went_well: list[str] = texts()
    went_badly: list[str] = texts()
    risk: RiskAssessment | None = Field(default=None, description="overrides for the risk register entry")
    model_config = {"json_schema_extra": {"examples": [{
        "root_cause": "prompt v12 dropped the refusal rule", "contributing_factors": ["no eval on refusals"],
        "action_items": [{"what": "add refusal evals", "owner": "olu", "due": "2026-12-15T00:00:00Z"}]}]}}


def router(routes: PeopleRoutes) -> APIRouter:
    api = APIRouter()
    errors = acted_errors()

    @api.post("/v1/incidents/{incident}/retrospective", response_model=ActionResult, responses=errors,
              openapi_extra=body_doc(RetroBody))
    async def retrospective(incident: str, request: Request) -> Response:
        """Record the retrospective (incident commander); closes the incident: `firebreak retro`."""
        return await send(routes, request, incident, RetroBody, IncidentWorkflow.retrospective_done,
                          lambda b, by, role, aid: RetrospectiveNotes(
                              **b.model_dump(exclude={"role"}), by=by, role=role, action_id=aid),
                          Role.INCIDENT_COMMANDER)

    @api.get("/v1/action-items", responses=answers(401, 403, 422, 503))
    async def items(request: Request, incident: Annotated[str | None, Query(max_length=40)] = None,
                    everything: Annotated[bool, Query(alias="all", description="items already done too")] = False,
                    limit: Annotated[int, Query(ge=1, le=MAX_ITEMS)] = 200) -> Response:
        """Retrospective action items, chased by reminders until done: `firebreak actions`. An item whose
        workflow did not answer (no worker polls its task queue) is listed with status "unanswered" and why."""
        routes.person(request)
        try:
            query = items_query(incident, everything)
        except ValueError as err:
            raise IntakeError(422, f"incident: {err}", "incident") from err
        try:
            async with routes.temporal():
                found, silent = await action_items(routes.client, query, limit, routes.timeout)
        except RPCError as err:
            raise routes._unavailable(err) from err
        return JSONResponse([{"id": wid, **i.model_dump(mode="json", exclude={"outcomes"})} for wid, i in found]
                            + [{"id": wid, "status": "unanswered", "error": why} for wid, why in silent])

    @api.post("/v1/action-items/{item}/done", response_model=ActionResult, responses=errors,
              openapi_extra=body_doc(Acting, required=False))
    async def done(item: str, request: Request) -> Response:
        """Mark an action item done (its owner or an incident commander): `firebreak done`."""
        who = routes.person(request)
        body = await routes.body(request, Acting, empty_ok=True)
        async with routes.temporal():
            handle = routes.client.get_workflow_handle(item)
            try:
                desc = await handle.describe(rpc_timeout=timedelta(seconds=routes.timeout))
            except RPCError as err:
                raise IntakeError(404, f"no action item '{item}'; GET /v1/action-items lists them", "item") from err
        if desc.workflow_type != "ActionItemWorkflow":
            raise IntakeError(404, f"'{item}' is not an action item", "item")
        if desc.status != WorkflowExecutionStatus.RUNNING:
            raise IntakeError(409, f"action item {item} is already closed", "item")
        role = routes.role(who, body.role, Role.INCIDENT_COMMANDER)
        action = HumanAction(by=who, role=role, action_id=str(uuid.uuid4()), comment=body.comment)
        return await routes.act(Target(handle, item, None), ActionItemWorkflow.mark_done, action, routes.wait)

    return api
