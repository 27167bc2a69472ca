"""People in the loop over HTTP: approve, reject and acknowledge with a personal token, list what waits, and
Slack's interactive buttons (handled in intake/slack_actions.py).

The token (`firebreak token issue PERSON`) says who is acting; the role is claimed per action (or taken from the
roster when the person holds one) and checked by the incident workflow, which records every acceptance and
refusal. The route sends the signal and reads back the workflow's own answer (action_outcome), bounded in time:
200 accepted; refused (and why): 403 the role, 404 no such request, 422 an invalid value, 409 the incident's state;
202 when the incident has not processed it within the wait.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from client.actions import IncidentNotFound, find_incident, signal_action, wait_outcome
from client.pending import open_approvals
from client.workflow_types import IncidentWorkflow
from intake.body import parse, read_body
from intake.config import IntakeConfig
from intake.errors import IntakeError, within
from intake.openapi_doc import WHY, answers, body_doc, form_doc
from intake.tokens import Tokens, TokenStoreError, token_store
from integrations.store import Store
from observability.tracing import set_incidents
from playbook import search_attributes as sa
from playbook.config import Roster
from playbook.config.paging import PagerDutyConfig
from playbook.models import BRIEF_TEXT_LIMIT, ActionOutcome, Decision, HumanAction, Role
from playbook.redact import outbound
from playbook.state import IncidentState

log = logging.getLogger("firebreak.intake.people")
MAX_BODY = 64 * 1024
# The workflow's kind of refusal (ActionOutcome.refusal) as an HTTP status; the body carries its own reason.
REFUSED = {"role": 403, "unknown": 404, "invalid": 422, "state": 409}


@dataclass
class People:
    """What the people routes need besides the Temporal client."""

    tokens: Tokens = field(default_factory=token_store)
    roster: Roster | None = None
    slack_secret: bytes | None = None
    channels: dict[str, Any] = field(default_factory=dict)  # the playbook's [channels], for chat.update
    store: Store | None = None  # where the worker stored the posted approval requests (comms archive)
    pagerduty: PagerDutyConfig | None = None  # the playbook's [paging.pagerduty], for its webhooks


class DecisionBody(BaseModel):
    decision: Literal["approve", "reject"]
    role: Role | None = Field(default=None, description="the role you act in (default: your only role on the "
                                                        "roster, or the role the request needs if you hold it)")
    comment: str = Field(default="", max_length=4000)
    text: str | None = Field(default=None, max_length=BRIEF_TEXT_LIMIT,
                             description="approving a brief as the domain SME: the edited text to send instead of "
                                         "the draft (both are archived)")


class AckBody(BaseModel):
    role: Role | None = None
    comment: str = Field(default="", max_length=4000)


class ActionResult(BaseModel):
    status: Literal["accepted", "refused", "sent"]
    incident: str
    workflow_id: str
    action_id: str
    by: str
    role: Role
    message: str
    redacted: dict[str, int] | None = Field(default=None, description="what was redacted from an edited brief")


@dataclass
class Target:
    handle: WorkflowHandle[Any, Any]
    number: str
    state: IncidentState | None  # None when the incident did not answer the query (no worker)


class PeopleRoutes:
    def __init__(self, config: IntakeConfig, people: People, client: Any) -> None:
        self.config, self.people = config, people
        self._client = client  # a callable returning the intake's (lazily connected) Client
        self.wait, self.timeout = config.people.outcome_wait_seconds, config.temporal_timeout_seconds

    @property
    def client(self) -> Client:
        client = self._client()
        if client is None:
            raise IntakeError(503, "not connected to Temporal yet; retry", None,
                              {"Retry-After": str(self.config.retry_after_seconds)})
        return client  # type: ignore[no-any-return]

    def _unavailable(self, err: Exception) -> IntakeError:
        return IntakeError(503, f"Temporal did not answer ({err}); retry", None,
                           {"Retry-After": str(self.config.retry_after_seconds)})

    def temporal(self) -> AbstractAsyncContextManager[None]:
        return within(self.timeout, self.config.retry_after_seconds)  # as the alert routes: then 503

    async def body(self, request: Request, model: type[Any], empty_ok: bool = False) -> Any:
        body = await read_body(request, MAX_BODY, self.config.body_timeout_seconds, empty_ok=empty_ok)
        return model() if empty_ok and not body.strip() else parse(model, body)

    # ---------------------------------------------------------------- who

    def person(self, request: Request) -> str:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise IntakeError(401, "no personal token: send 'Authorization: Bearer <token>' (`firebreak token issue "
                              "PERSON` makes one)", "Authorization", {"WWW-Authenticate": "Bearer"})
        try:
            who = self.people.tokens.person_for(value.strip())
        except TokenStoreError as err:
            log.error("%s", err)
            raise IntakeError(503, "the token store cannot be read; retry", "Authorization",
                              {"Retry-After": str(self.config.retry_after_seconds)}) from err
        if who is None:
            raise IntakeError(403, "this token is unknown or revoked; ask for a new one (`firebreak token issue "
                              "PERSON`)", "Authorization")
        return who

    def role(self, who: str, claimed: Role | None, wanted: Role | None = None) -> Role:
        if claimed is not None:
            return claimed
        person = self.people.roster.people.get(who) if self.people.roster else None
        if person is None:
            raise IntakeError(422, f"say which role you act in: {{\"role\": ...}} ({who} is not on this intake's "
                              f"roster)", "role")
        if len(person.roles) == 1:
            return person.roles[0]
        if wanted is not None and wanted in person.roles:
            return wanted
        raise IntakeError(422, f"{who} holds several roles ({', '.join(r.value for r in person.roles)}); say which "
                          f"one with \"role\"", "role")

    # ---------------------------------------------------------------- which incident

    async def target(self, ref: str, query_seconds: float) -> Target:
        async with self.temporal():  # Temporal's own answers; the query below waits on a worker, bounded by itself
            handle, number = await self._incident(ref)
        try:
            state = await handle.query(IncidentWorkflow.get_state, rpc_timeout=timedelta(seconds=query_seconds))
        except RPCError:
            state = None  # no worker answering: send anyway, the incident processes it when one is back
        return Target(handle, number, state)

    async def _incident(self, ref: str) -> tuple[WorkflowHandle[Any, Any], str]:
        try:
            handle = await find_incident(self.client, ref)
            desc = await handle.describe(rpc_timeout=timedelta(seconds=self.timeout))
        except IncidentNotFound as err:
            raise IntakeError(404, f"{err}; GET /v1/approvals lists open incidents", "incident") from err
        except RPCError as err:
            if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                raise IntakeError(404, f"no incident '{ref}'", "incident") from err
            raise self._unavailable(err) from err
        if desc.workflow_type != "IncidentWorkflow":
            raise IntakeError(404, f"'{ref}' is not an incident", "incident")
        number = (desc.typed_search_attributes.get(sa.INCIDENT_NUMBER) or ref)
        if desc.status != WorkflowExecutionStatus.RUNNING:
            raise IntakeError(409, f"incident {number} is closed", "incident")
        return handle, number

    # ---------------------------------------------------------------- act

    async def act(self, target: Target, signal: Any, action: HumanAction, wait: float,
                  redacted: dict[str, int] | None = None) -> Response:
        status, body = await self.outcome(target, signal, action, wait, redacted)
        return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status)

    async def outcome(self, target: Target, signal: Any, action: HumanAction, wait: float,
                      redacted: dict[str, int] | None = None) -> tuple[int, ActionResult]:
        """Send the action and read back the incident's answer: (200 accepted | 409 refused | 202 sent, result)."""
        set_incidents([target.handle.id])  # on the request's span, when tracing is on
        try:
            async with self.temporal():  # Temporal records the action, or 503 within the bound
                await signal_action(target.handle, signal, action, self.timeout, target.number)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise IntakeError(409, f"incident {target.number} is closed", "incident") from err
            raise self._unavailable(err) from err
        # Recorded: from here the answer is the incident's outcome, or 202 when no worker processed it in time
        # (a 503 now would ask the sender to repeat an action Temporal already holds).
        outcome = await wait_outcome(target.handle, action.action_id, wait)
        return self.answer(target, action, outcome, wait, redacted)

    @staticmethod
    def answer(target: Target, action: HumanAction, outcome: ActionOutcome | None, wait: float,
               redacted: dict[str, int] | None = None) -> tuple[int, ActionResult]:
        common: dict[str, Any] = {"incident": target.number, "workflow_id": target.handle.id,
                                  "action_id": action.action_id, "by": action.by, "role": action.role,
                                  "redacted": redacted or None}
        if outcome is None:
            return 202, ActionResult(status="sent", message=f"sent, but incident {target.number} has not processed "
                                     f"it within {wait:g} s (is a worker running?); it will when a worker is back. "
                                     f"GET the incident's state to see the outcome", **common)
        return (200 if outcome.accepted else REFUSED.get(outcome.refusal or "state", 409),
                ActionResult(status="accepted" if outcome.accepted else "refused", message=outcome.message, **common))

    async def decide(self, request: Request, ref: str, request_id: str) -> Response:
        who = self.person(request)
        body = await self.body(request, DecisionBody)
        status, result = await self.decision(who, body, ref, request_id)
        return JSONResponse(result.model_dump(mode="json", exclude_none=True), status_code=status)

    async def decision(self, who: str, body: DecisionBody, ref: str, request_id: str) -> tuple[int, ActionResult]:
        """`who` approves or rejects a request (the HTTP route and the web board): the incident's answer."""
        target = await self.target(ref, min(2.0, self.wait))
        wanted = None
        if target.state is not None:
            req = target.state.approval(request_id)
            if req is None:
                pending = ", ".join(a.request_id for a in target.state.pending_approvals()) or "none"
                raise IntakeError(404, f"incident {target.number} has no approval request '{request_id}' "
                                  f"(pending: {pending})", "request_id")
            wanted = req.role
        role = self.role(who, body.role, wanted)
        signal = IncidentWorkflow.approve if body.decision == "approve" else IncidentWorkflow.reject
        found: Counter[str] = Counter()  # an edited brief is redacted before it reaches Temporal; the SME is told
        text = outbound(body.text, counts=found) if body.text is not None else None
        action = Decision(by=who, role=role, action_id=str(uuid.uuid4()), request_id=request_id, comment=body.comment,
                          text=text)
        return await self.outcome(target, signal, action, self.wait, dict(sorted(found.items())))

    async def acknowledge(self, request: Request, ref: str) -> Response:
        who = self.person(request)
        body = await self.body(request, AckBody, empty_ok=True)
        target = await self.target(ref, min(2.0, self.wait))
        role = self.role(who, body.role, Role.INCIDENT_COMMANDER)
        action = HumanAction(by=who, role=role, action_id=str(uuid.uuid4()), comment=body.comment)
        return await self.act(target, IncidentWorkflow.acknowledge, action, self.wait)

    async def waiting(self, request: Request) -> Response:
        self.person(request)
        try:
            async with self.temporal():  # frozen or unreachable: 503 within the bound (the listing is not)
                if not await self.client.service_client.check_health(timeout=timedelta(seconds=self.timeout)):
                    raise self._unavailable(RuntimeError("its health check says it is not serving"))
            listed = await open_approvals(self.client, query_seconds=min(3.0, self.wait))
        except RPCError as err:
            raise self._unavailable(err) from err
        return JSONResponse(listed.as_json())  # waiting, unanswered, truncated (client/pending.py)


def acted_errors() -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route that sends a person's action: the incident's refusals carry an ActionResult."""
    refused = {"anyOf": [{"$ref": f"#/components/schemas/{m}"} for m in ("ActionResult", "ErrorBody")]}
    errors = {**answers(400, 401, 408, 413, 415, 503), 202: {"description": WHY[202], "model": ActionResult}}
    for code in REFUSED.values():
        errors[code] = {"description": WHY[code], "content": {"application/json": {"schema": refused}}}
    return errors


def people_router(config: IntakeConfig, people: People, client: Any) -> APIRouter:
    """The routes; `client` returns the intake's Temporal client (connected lazily at start-up)."""
    from intake.slack_actions import SlackActions  # it builds on PeopleRoutes

    routes = PeopleRoutes(config, people, client)
    slack = SlackActions(routes)
    router = APIRouter(tags=["people"])
    errors = acted_errors()

    @router.post("/v1/incidents/{incident}/approvals/{request_id}", response_model=ActionResult, responses=errors,
                 openapi_extra=body_doc(DecisionBody))
    async def decide(incident: str, request_id: str, request: Request) -> Response:
        """Approve or reject a pending request as the person the bearer token belongs to."""
        return await routes.decide(request, incident, request_id)

    @router.post("/v1/incidents/{incident}/acknowledge", response_model=ActionResult, responses=errors,
                 openapi_extra=body_doc(AckBody, required=False))
    async def acknowledge(incident: str, request: Request) -> Response:
        """Acknowledge an incident (body optional: {"role": ..., "comment": ...})."""
        return await routes.acknowledge(request, incident)

    @router.get("/v1/approvals", responses=answers(401, 403, 503))
    async def waiting(request: Request) -> Response:
        """What waits for a decision in every open incident: incident, request, what, why, role, who may approve,
        deadline; 'unanswered': incidents that did not answer (no worker); 'truncated': what was left out, or null."""
        return await routes.waiting(request)

    @router.post("/v1/slack/actions", responses=answers(400, 401, 403, 408, 413, 415, 422, 503),
                 openapi_extra=form_doc("payload"))
    async def slack_actions(request: Request) -> Response:
        """Slack interactivity Request URL: Approve / Reject / Acknowledge buttons, answered within 3 s."""
        return await slack.handle(request)

    return router
