"""Responders: severity, assign, note and resolve, as `firebreak severity`, `assign`, `note` and `resolve` do.
(Acknowledge, approve and reject are in intake/people.py.)"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field

from client.workflow_types import IncidentWorkflow
from intake.api.acting import Acting, send
from intake.openapi_doc import body_doc
from intake.people import ActionResult, PeopleRoutes, acted_errors
from playbook.models import HumanAction, Resolution, Role, RoleAssignment, Severity, SeverityChange

IC = Role.INCIDENT_COMMANDER


class SeverityBody(Acting):
    severity: Severity
    model_config = {"json_schema_extra": {"examples": [{"severity": "SEV1", "comment": "customers see it"}]}}


class AssignBody(Acting):
    person: str = Field(max_length=200, description="who, by their roster name")
    assign_role: Role
    model_config = {"json_schema_extra": {"examples": [{"person": "olu", "assign_role": "ai_ops"}]}}


class NoteBody(Acting):
    comment: str = Field(min_length=1, max_length=4000, description="the note")
    model_config = {"json_schema_extra": {"examples": [{"comment": "rollback looks good on the canary"}]}}


class ResolveBody(Acting):
    keep: list[str] = Field(default_factory=list, max_length=100, description="mitigations to leave in place "
                            "(the default for any not named)")
    undo: list[str] = Field(default_factory=list, max_length=100, description="mitigations to reverse now")
    override_regressions: str = Field(default="", max_length=4000,
                                      description="resolve although the regression suite fails: why")
    model_config = {"json_schema_extra": {"examples": [{"comment": "prompt v12 rolled back", "undo":
                                                        ["disable_tool"]}]}}


def router(routes: PeopleRoutes) -> APIRouter:
    api = APIRouter()
    errors = acted_errors()

    @api.post("/v1/incidents/{incident}/severity", response_model=ActionResult, responses=errors,
              openapi_extra=body_doc(SeverityBody))
    async def severity(incident: str, request: Request) -> Response:
        """Change the severity (incident commander): `firebreak severity`."""
        return await send(routes, request, incident, SeverityBody, IncidentWorkflow.set_severity,
                          lambda b, by, role, aid: SeverityChange(by=by, role=role, action_id=aid,
                                                                  severity=b.severity, comment=b.comment), IC)

    @api.post("/v1/incidents/{incident}/assign", response_model=ActionResult, responses=errors,
              openapi_extra=body_doc(AssignBody))
    async def assign(incident: str, request: Request) -> Response:
        """Give a person on the roster a role in this incident (incident commander): `firebreak assign`."""
        return await send(routes, request, incident, AssignBody, IncidentWorkflow.assign_role,
                          lambda b, by, role, aid: RoleAssignment(by=by, role=role, action_id=aid, person=b.person,
                                                                  assign_role=b.assign_role, comment=b.comment), IC)

    @api.post("/v1/incidents/{incident}/notes", response_model=ActionResult, responses=errors,
              openapi_extra=body_doc(NoteBody))
    async def note(incident: str, request: Request) -> Response:
        """Add a note to the timeline (any role): `firebreak note`."""
        return await send(routes, request, incident, NoteBody, IncidentWorkflow.add_note,
                          lambda b, by, role, aid: HumanAction(by=by, role=role, action_id=aid, comment=b.comment))

    @api.post("/v1/incidents/{incident}/resolve", response_model=ActionResult, responses=errors,
              openapi_extra=body_doc(ResolveBody, required=False))
    async def resolve(incident: str, request: Request) -> Response:
        """Resolve (incident commander), keeping or undoing each mitigation in place: `firebreak resolve`."""
        return await send(routes, request, incident, ResolveBody, IncidentWorkflow.resolve,
                          lambda b, by, role, aid: Resolution(by=by, role=role, action_id=aid, comment=b.comment,
                                                              keep=b.keep, undo=b.undo,
                                                              override_regressions=b.override_regressions),
                          IC, empty_ok=True)

    return api
