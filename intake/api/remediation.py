"""Remediation: retest and patch, as `firebreak retest` and `firebreak patch` do."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field

from client.workflow_types import IncidentWorkflow
from intake.api.acting import Acting, send
from intake.openapi_doc import body_doc
from intake.people import ActionResult, PeopleRoutes, acted_errors
from playbook.models import HumanAction, Role
from playbook.remedy import PATCH_TEXT_LIMIT, PatchText


class PatchBody(Acting):
    text: str = Field(min_length=1, max_length=PATCH_TEXT_LIMIT, description="the new prompt text, sent verbatim")
    action: str = Field(default="", max_length=200, description="the langfuse_prompt_patch action (default: the "
                                                                "plan's only one)")
    model_config = {"json_schema_extra": {"examples": [{"text": "You are a careful support assistant...",
                                                        "comment": "tightened refusal wording"}]}}


def router(routes: PeopleRoutes) -> APIRouter:
    api = APIRouter()
    errors = acted_errors()

    @api.post("/v1/incidents/{incident}/retest", response_model=ActionResult, responses=errors,
              openapi_extra=body_doc(Acting, required=False))
    async def retest(incident: str, request: Request) -> Response:
        """Run the incident's regression suite again (incident commander or AI Ops): `firebreak retest`."""
        return await send(routes, request, incident, Acting, IncidentWorkflow.retest,
                          lambda b, by, role, aid: HumanAction(by=by, role=role, action_id=aid, comment=b.comment),
                          Role.AI_OPS, empty_ok=True)

    @api.post("/v1/incidents/{incident}/patch", response_model=ActionResult, responses=errors,
              openapi_extra=body_doc(PatchBody))
    async def patch(incident: str, request: Request) -> Response:
        """A new prompt text: a new candidate version, tested, then up for promotion: `firebreak patch`."""
        return await send(routes, request, incident, PatchBody, IncidentWorkflow.patch,
                          lambda b, by, role, aid: PatchText(by=by, role=role, action_id=aid, comment=b.comment,
                                                             text=b.text, action=b.action), Role.AI_OPS)

    return api
