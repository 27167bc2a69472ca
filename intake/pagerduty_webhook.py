"""PagerDuty webhooks v3 (POST /v1/pagerduty/webhook): an `incident.acknowledged` in PagerDuty becomes the
incident's acknowledgement by the roster person whose `pagerduty_user` acknowledged it.

The body is checked against `X-PagerDuty-Signature` (`v1=<hex HMAC-SHA256 of the raw body>`, one per signing secret
while PagerDuty rotates them; PagerDuty/developer-docs `docs/webhooks/04-Signatures.md`) with the secrets in the
variable `[paging.pagerduty] webhook_secret_env` names (several, comma-separated, while we rotate ours). The
incident is the one whose number starts the PagerDuty incident's title: Firebreak triggered it with that summary
(the v3 payload carries no dedup_key). PagerDuty redelivers what was not answered 2xx, so every answer the sender
cannot fix is 200 with what was done: acknowledged, already acknowledged (idempotent: a redelivery, or Firebreak's
own acknowledgement came first), or ignored (another event type, someone not on the roster, not ours). 401 for a
missing or wrong signature, 403 when no secret is configured, 503 with Retry-After when Temporal did not answer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from client.actions import ORIGIN, signal_action, wait_outcome
from client.workflow_types import IncidentWorkflow
from intake.body import load_json, read_body, validate
from intake.config import IntakeConfig
from intake.errors import IntakeError
from intake.openapi_doc import answers
from intake.people import People, PeopleRoutes
from playbook.config.paging import PagerDutyConfig
from playbook.models import HumanAction, Role
from playbook.paging import FROM_PAGERDUTY

log = logging.getLogger("firebreak.intake.pagerduty")
HEADER = "x-pagerduty-signature"
MAX_BODY = 1024 * 1024
NUMBER_IN_TITLE = re.compile(r"^\s*([A-Z][A-Z0-9]{0,9}-\d{4}-\d{4,})\b")
ACK_ROLES = (Role.INCIDENT_COMMANDER, Role.AI_OPS)


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class Reference(_Loose):
    id: str = ""
    summary: str | None = None
    type: str | None = None


class IncidentData(_Loose):
    id: str = ""
    type: str = ""
    title: str = ""
    number: int | None = None


class OutboundEvent(_Loose):
    id: str = Field(min_length=1)
    event_type: str = Field(min_length=1)
    resource_type: str | None = None
    occurred_at: str | None = None
    agent: Reference | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class WebhookBody(_Loose):
    event: OutboundEvent


def verify(secrets: list[str], body: bytes, header: str | None) -> None:
    """401 unless one of the header's v1 signatures is the HMAC-SHA256 of the body under one of our secrets."""
    if not header:
        raise IntakeError(401, f"no {HEADER} header: PagerDuty signs every v3 webhook", HEADER)
    given = [s.strip().removeprefix("v1=") for s in header.split(",") if s.strip().startswith("v1=")]
    expected = [hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets]
    if not any(hmac.compare_digest(g, e) for g in given for e in expected):
        raise IntakeError(401, "the X-PagerDuty-Signature does not match: check the webhook subscription's secret",
                          HEADER)


def done(what: str, **extra: Any) -> Response:
    return JSONResponse({"result": what, **extra}, status_code=200)


class PagerDutyWebhook:
    def __init__(self, config: IntakeConfig, people: People, client: Any) -> None:
        self.config, self.people = config, people
        self.routes = PeopleRoutes(config, people, client)

    @property
    def pagerduty(self) -> PagerDutyConfig:
        return self.people.pagerduty or PagerDutyConfig()

    async def handle(self, request: Request) -> Response:
        env = self.pagerduty.webhook_secret_env
        secrets = [s.strip() for s in os.environ.get(env, "").split(",") if s.strip()]
        if not secrets:
            raise IntakeError(403, f"PagerDuty webhooks are not configured on this intake: set {env} to the webhook "
                                   f"subscription's secret", HEADER)
        body = await read_body(request, MAX_BODY, self.config.body_timeout_seconds)
        verify(secrets, body, request.headers.get(HEADER))
        load_json(body)
        event = validate(WebhookBody, body).event
        if event.event_type != "incident.acknowledged":
            return done("ignored", reason=f"Firebreak acts on incident.acknowledged only, not {event.event_type}")
        data = IncidentData.model_validate(event.data)
        match = NUMBER_IN_TITLE.match(data.title)
        if match is None:
            return done("ignored", reason="not a Firebreak incident (its title does not start with an incident "
                                          "number)")
        user = event.agent.id if event.agent and event.agent.type in (None, "user_reference") else ""
        who = self.person(user)
        if who is None:
            log.warning("PagerDuty user %s acknowledged %s but is no roster person's pagerduty_user", user,
                        match.group(1))
            return done("ignored", reason=f"PagerDuty user {user or '(none)'} is no roster person's pagerduty_user")
        try:
            target = await self.routes.target(match.group(1), 2.0)
        except IntakeError as err:
            if err.status != 404:
                raise
            return done("ignored", reason=f"no incident {match.group(1)} here")  # another Firebreak's, or gone
        state = target.state
        if state is not None and state.acknowledged_at is not None:
            return done("already acknowledged", incident=target.number, by=state.acknowledged_by)
        held = state.roles_of(who) if state is not None else set(self._roster_roles(who))
        role = next((r for r in ACK_ROLES if r in held), None) or next(iter(sorted(held, key=str)), Role.AI_OPS)
        action = HumanAction(by=who, role=role, action_id=f"pagerduty-{event.id}", comment=FROM_PAGERDUTY)
        ORIGIN.set(f"pagerduty user {user} via {ORIGIN.get() or 'http'}")
        async with self.routes.temporal():
            await signal_action(target.handle, IncidentWorkflow.acknowledge, action, self.routes.timeout,
                                target.number)
        outcome = await wait_outcome(target.handle, action.action_id, self.routes.wait)
        if outcome is None:
            return done("sent", incident=target.number, by=who, role=role.value)
        return done("acknowledged" if outcome.accepted else "refused", incident=target.number, by=who,
                    role=role.value, message=outcome.message)

    def person(self, user: str) -> str | None:
        roster = self.people.roster
        if not user or roster is None:
            return None
        return next((pid for pid, p in roster.people.items() if p.pagerduty_user == user), None)

    def _roster_roles(self, who: str) -> list[Role]:
        roster = self.people.roster
        return list(roster.people[who].roles) if roster and who in roster.people else []


def pagerduty_router(config: IntakeConfig, people: People, client: Any) -> APIRouter:
    hook = PagerDutyWebhook(config, people, client)
    router = APIRouter(tags=["pagerduty"])

    @router.post("/v1/pagerduty/webhook", responses=answers(400, 401, 403, 408, 413, 415, 422, 503))
    async def pagerduty_webhook(request: Request) -> Response:
        """PagerDuty v3 webhook: an incident.acknowledged acknowledges the Firebreak incident as the roster person
        mapped to that PagerDuty user (docs/paging.md)."""
        return await hook.handle(request)

    return router
