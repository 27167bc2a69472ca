"""People in the loop over HTTP: approve, reject and acknowledge with a personal token, list what waits, and
Slack's interactive buttons.

The token (`firebreak token issue PERSON`) says who is acting; the role is claimed per action (or taken from the
roster when the person holds one) and checked by the incident workflow, which records every acceptance and
refusal. The route sends the signal and reads back the workflow's own answer (action_outcome), bounded in time:
200 accepted, 409 refused (and why), 202 when the incident has not processed it within the wait.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from intake.auth import fresh, signed
from intake.body import FORM_TYPE, load_json, parse, read_body
from intake.config import IntakeConfig
from intake.errors import IntakeError, within
from intake.openapi_doc import WHY, answers, body_doc, form_doc
from intake.tokens import TokenStore, TokenStoreError
from integrations import slack as slack_api
from integrations.redact import outbound
from observability.tracing import set_incidents
from playbook.config import Roster
from playbook.models import BRIEF_TEXT_LIMIT, ActionOutcome, Decision, HumanAction, Role
from playbook.state import IncidentState
from workflows import search_attributes as sa
from workflows.actions import IncidentNotFound, find_incident, open_approvals, send_action, wait_outcome
from workflows.incident import IncidentWorkflow

log = logging.getLogger("firebreak.intake.people")
MAX_BODY = 64 * 1024
LATE_OUTCOME_SECONDS = 30.0  # after the click was answered "sent": how long the follow-up waits for the outcome
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class People:
    """What the people routes need besides the Temporal client."""

    tokens: TokenStore = field(default_factory=TokenStore)
    roster: Roster | None = None
    slack_secret: bytes | None = None


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

    def temporal(self, wait: float = 0.0) -> AbstractAsyncContextManager[None]:
        return within(self.timeout + wait, self.config.retry_after_seconds)  # as the alert routes: then 503

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
        set_incidents([target.handle.id])  # on the request's span, when tracing is on
        try:
            async with self.temporal(wait):
                outcome = await send_action(target.handle, signal, action, wait)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise IntakeError(409, f"incident {target.number} is closed", "incident") from err
            raise self._unavailable(err) from err
        return self.answer(target, action, outcome, wait, redacted)

    @staticmethod
    def answer(target: Target, action: HumanAction, outcome: ActionOutcome | None, wait: float,
               redacted: dict[str, int] | None = None) -> Response:
        common: dict[str, Any] = {"incident": target.number, "workflow_id": target.handle.id,
                                  "action_id": action.action_id, "by": action.by, "role": action.role,
                                  "redacted": redacted or None}
        if outcome is None:
            body = ActionResult(status="sent", message=f"sent, but incident {target.number} has not processed it "
                                f"within {wait:g} s (is a worker running?); it will when a worker is back. "
                                f"GET the incident's state to see the outcome", **common)
            return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=202)
        body = ActionResult(status="accepted" if outcome.accepted else "refused", message=outcome.message, **common)
        return JSONResponse(body.model_dump(mode="json", exclude_none=True),
                            status_code=200 if outcome.accepted else 409)

    async def decide(self, request: Request, ref: str, request_id: str) -> Response:
        who = self.person(request)
        body = await self.body(request, DecisionBody)
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
        return await self.act(target, signal, action, self.wait, dict(sorted(found.items())))

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
            waiting, unanswered = await open_approvals(self.client, query_seconds=min(3.0, self.wait))
        except RPCError as err:
            raise self._unavailable(err) from err
        return JSONResponse({"waiting": [w.model_dump(mode="json") for w in waiting],
                             "unanswered": [u.model_dump(mode="json") for u in unanswered]})

    # ---------------------------------------------------------------- Slack

    async def slack(self, request: Request) -> Response:
        started = asyncio.get_running_loop().time()
        budget = self.config.slack.answer_within_seconds
        if not self.people.slack_secret:
            raise IntakeError(403, f"Slack is not configured on this intake: set {self.config.slack.signing_secret_env}"
                              f" to the Slack app's signing secret", "X-Slack-Signature")
        body = await read_body(request, MAX_BODY, self.config.body_timeout_seconds, FORM_TYPE, empty_ok=True)
        verify_slack(self.people.slack_secret, body, request.headers.get("x-slack-request-timestamp"),
                     request.headers.get("x-slack-signature"), self.config.slack.max_age_seconds)
        click = parse_slack_action(body)
        user, verb, ref, request_id, role = click.user, click.verb, click.ref, click.request_id, click.role
        who = self.slack_person(user)
        if who is None:
            return ephemeral(f"Your Slack user {user} is not on Firebreak's roster; ask for `slack_id = \"{user}\"` "
                             f"on your roster entry.")
        try:
            async with asyncio.timeout(max(budget - (asyncio.get_running_loop().time() - started), 0.1)):
                target = await self.target(ref, 0.5)
                wanted = None
                if verb != "ack" and target.state is not None:
                    req = target.state.approval(request_id or "")
                    if req is None:
                        return ephemeral(f"{target.number} has no approval request {request_id}.")
                    wanted = req.role
                chosen = self.role(who, role, wanted or Role.INCIDENT_COMMANDER)
                action: HumanAction
                signal: Any
                if verb == "ack":
                    action, signal = HumanAction(by=who, role=chosen, action_id=str(uuid.uuid4()),
                                                 comment="from Slack"), IncidentWorkflow.acknowledge
                else:
                    action = Decision(by=who, role=chosen, action_id=str(uuid.uuid4()), request_id=request_id or "",
                                      comment="from Slack")
                    signal = IncidentWorkflow.approve if verb == "approve" else IncidentWorkflow.reject
                await target.handle.signal(signal, action)
        except IntakeError as err:
            return ephemeral(f"Not done: {err.message}.")
        except (TimeoutError, RPCError) as err:
            log.warning("slack action %s on %s not sent within %.1f s: %s", verb, ref, budget, err)
            return ephemeral(f"Not done: Temporal did not answer in time ({type(err).__name__}); try again.")
        left = budget - (asyncio.get_running_loop().time() - started)
        outcome = await wait_outcome(target.handle, action.action_id, left) if left > 0.05 else None
        what = "acknowledged" if verb == "ack" else f"{verb} {request_id}"
        # A decision that is (or may yet be) accepted replaces the message's buttons, after this answer is sent.
        later = None
        if verb != "ack" and (outcome is None or outcome.accepted) and self.response_url_ok(click, target):
            later = BackgroundTask(self.replace_decided, click, target, action, outcome)
        if outcome is None:
            return ephemeral(f"{target.number}: {what} sent as {who} ({chosen.value}); the incident has not "
                             f"answered yet. `firebreak show {target.number}` shows the outcome.", later)
        if outcome.accepted:
            return ephemeral(f"{target.number}: {outcome.message} (by {who} as {chosen.value}).", later)
        return ephemeral(f"{target.number}: refused: {outcome.message}.")

    def response_url_ok(self, click: SlackAction, target: Target) -> bool:
        """Only hosts in [intake.slack] response_hosts (hooks.slack.com), over https (http for loopback only): a
        payload cannot make the intake call anywhere else."""
        if not click.response_url:
            return False
        try:
            parts = urlsplit(click.response_url)
            host = (parts.hostname or "").lower()
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts, host = urlsplit(""), ""
        if (host in {h.lower() for h in self.config.slack.response_hosts}
                and (parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK))):
            return True
        log.warning("slack: %s (%s): not replacing the approval message: response_url host %r is not in "
                    "[intake.slack] response_hosts (or not https)", target.number, target.handle.id, host)
        return False

    async def replace_decided(self, click: SlackAction, target: Target, action: HumanAction,
                              outcome: ActionOutcome | None) -> None:
        """After the click was answered: replace the approval message with who decided and when, no buttons. Waits
        (bounded) for the outcome when the incident had not answered in time; a late refusal goes to the clicker
        ephemerally. Failures are logged, never raised."""
        try:
            if outcome is None:
                outcome = await wait_outcome(target.handle, action.action_id, LATE_OUTCOME_SECONDS)
            if outcome is None:
                log.warning("slack: %s (%s): no outcome for %s %s within %g s; the approval message keeps its "
                            "buttons", target.number, target.handle.id, click.verb, click.request_id,
                            LATE_OUTCOME_SECONDS)
                return
            timeout = self.config.slack.response_timeout_seconds
            if not outcome.accepted:
                await asyncio.to_thread(slack_api.respond, click.response_url, f"{target.number}: refused: "
                                        f"{outcome.message}.", None, replace_original=False, timeout=timeout)
                return
            person = self.people.roster.people.get(action.by) if self.people.roster else None
            name = f"{person.name} ({action.by}, {action.role.value})" if person else \
                f"{action.by} ({action.role.value})"
            when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            line = slack_api.mrkdwn_escape(f"{'Approved' if click.verb == 'approve' else 'Rejected'} by {name} at "
                                           f"{when}")
            original = click.message.get("blocks")
            text = str(click.message.get("text") or f"{target.number}: {click.request_id}")
            blocks = slack_api.decided_blocks(original if isinstance(original, list) else [], text, line)
            await asyncio.to_thread(slack_api.respond, click.response_url, f"{text}\n{line}", blocks,
                                    replace_original=True, timeout=timeout)
        except Exception as err:  # noqa: BLE001 - the click was answered already; this is best effort
            log.warning("slack: %s (%s): replacing the approval message for %s %s failed: %s", target.number,
                        target.handle.id, click.verb, click.request_id, err)

    def slack_person(self, user: str) -> str | None:
        if self.people.roster is None:
            return None
        return next((pid for pid, p in self.people.roster.people.items() if p.slack_user == user), None)


def ephemeral(text: str, background: BackgroundTask | None = None) -> Response:
    return JSONResponse({"response_type": "ephemeral", "replace_original": False, "text": text},
                        background=background)


def verify_slack(secret: bytes, body: bytes, timestamp: str | None, signature: str | None, max_age: int,
                 now: float | None = None) -> None:
    """Slack's v0 request signature: HMAC-SHA256 of 'v0:{timestamp}:{raw body}'; 401 when it does not hold."""
    if not timestamp or not signature:
        raise IntakeError(401, "missing X-Slack-Request-Timestamp or X-Slack-Signature", "X-Slack-Signature")
    if not timestamp.isdigit():
        raise IntakeError(401, "X-Slack-Request-Timestamp is not a Unix time", "X-Slack-Request-Timestamp")
    if not fresh(timestamp, max_age, now):
        raise IntakeError(401, f"the request timestamp is more than {max_age} s away from now (replayed or a "
                          f"clock is wrong)", "X-Slack-Request-Timestamp")
    given = signature.strip()
    if not given.startswith("v0=") or not signed(secret, b"v0:" + timestamp.encode() + b":" + body, given[3:]):
        raise IntakeError(401, "the Slack signature does not match (check the signing secret)", "X-Slack-Signature")


class SlackAction(NamedTuple):
    user: str  # Slack user id
    verb: str  # approve, reject or ack
    ref: str  # the incident
    request_id: str | None
    role: Role | None
    response_url: str  # where to replace the message, "" when the payload has none
    message: dict[str, Any]  # the message the button was on ({} when the payload has none)


def parse_slack_action(body: bytes) -> SlackAction:
    """The click in a block_actions payload.

    The button's value is 'approve|INC-2026-0042|stabilise-1', 'reject|...|...' or 'ack|INC-2026-0042', with an
    optional '|role' at the end.
    """
    try:
        form = parse_qs(body.decode(), strict_parsing=True)
        payload = load_json(form["payload"][0].encode(), "payload")
    except (UnicodeDecodeError, ValueError, KeyError) as err:
        raise IntakeError(400, "expected a form-encoded 'payload' field holding JSON (Slack interactivity)",
                          "payload") from err
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise IntakeError(400, "only block_actions payloads are handled", "payload.type")
    user = (payload.get("user") or {}).get("id")
    actions = payload.get("actions") or []
    if not isinstance(user, str) or not user or not actions or not isinstance(actions[0], dict):
        raise IntakeError(400, "the payload has no user id or no action", "payload")
    parts = str(actions[0].get("value") or "").split("|")
    verb = parts[0]
    if verb not in ("approve", "reject", "ack") or len(parts) < 2 or not parts[1]:
        raise IntakeError(400, "the button value must be 'approve|INCIDENT|REQUEST', 'reject|INCIDENT|REQUEST' or "
                          "'ack|INCIDENT'", "payload.actions[0].value")
    request_id = parts[2] if verb != "ack" and len(parts) > 2 and parts[2] else None
    if verb != "ack" and request_id is None:
        raise IntakeError(400, f"the {verb} button names no request id", "payload.actions[0].value")
    role_at = 2 if verb == "ack" else 3
    try:
        role = Role(parts[role_at]) if len(parts) > role_at and parts[role_at] else None
    except ValueError as err:
        raise IntakeError(400, f"unknown role '{parts[role_at]}' in the button value", "payload.actions[0].value") \
            from err
    response_url = payload.get("response_url")
    message = payload.get("message")
    return SlackAction(user, verb, parts[1], request_id, role, response_url if isinstance(response_url, str) else "",
                       message if isinstance(message, dict) else {})


def people_router(config: IntakeConfig, people: People, client: Any) -> APIRouter:
    """The routes; `client` returns the intake's Temporal client (connected lazily at start-up)."""
    routes = PeopleRoutes(config, people, client)
    router = APIRouter(tags=["people"])
    refused = {"anyOf": [{"$ref": f"#/components/schemas/{m}"} for m in ("ActionResult", "ErrorBody")]}
    errors = {**answers(400, 401, 403, 404, 408, 413, 415, 422, 503), 202: {"description": WHY[202], "model":
              ActionResult}, 409: {"description": WHY[409], "content": {"application/json": {"schema": refused}}}}

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
        """What waits for a decision across open incidents: incident, request, what, why, role, who may approve,
        deadline. Incidents that did not answer (no worker) are listed under 'unanswered'."""
        return await routes.waiting(request)

    @router.post("/v1/slack/actions", responses=answers(400, 401, 403, 408, 413, 415, 422, 503),
                 openapi_extra=form_doc("payload"))
    async def slack_actions(request: Request) -> Response:
        """Slack interactivity Request URL: Approve / Reject / Acknowledge buttons, answered within 3 s."""
        return await routes.slack(request)

    return router
