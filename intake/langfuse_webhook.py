"""Langfuse automation webhooks: prompt-version events into the deploy log, monitor alerts into incidents.

`POST /v1/langfuse/webhook` checks `x-langfuse-signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` with
the secret from the environment (`[intake.langfuse] secret_env`, default FIREBREAK_LANGFUSE_WEBHOOK_SECRET) and
refuses timestamps more than `max_age_seconds` from now (a replayed request). Then, by the body's `type`:
- `prompt-version` (Prompts -> Automations): appended to the deploy log (integrations/deploys.py) keyed by the
  delivery id, so Langfuse's redeliveries are recorded once; 200 recorded / duplicate.
- `monitor-alert` (a monitor's automation): a Detection for the monitor's incident (intake/langfuse_monitors.py),
  answered 202 once Temporal recorded it, 503 with Retry-After when it did not (Langfuse retries).
Other answers: 401 missing, malformed, stale or wrong signature; 403 when no secret is configured; 400 / 422 for a
body that is neither event.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from intake.auth import fresh, signed
from intake.body import parse, read_body
from intake.config import LANGFUSE_SOURCE, IntakeConfig
from intake.errors import IntakeError
from intake.langfuse_monitors import MonitorAlertEvent, MonitorAnswer, counted_as, monitor_detection
from intake.mapping import Timestamp
from intake.openapi_doc import SENT, answers, body_doc
from integrations.deploys import record_deploy
from integrations.store import Store

if TYPE_CHECKING:
    from intake.app import Intake

HEADER = "x-langfuse-signature"
MAX_BODY = 1024 * 1024
EVENT_TYPES = ("prompt-version", "monitor-alert")


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class WebhookPrompt(_Loose):
    id: str | None = None
    name: str = Field(min_length=1)
    version: int = Field(ge=1)
    project_id: str | None = Field(default=None, alias="projectId")
    labels: list[str] = Field(default_factory=list)
    prompt: Any = None
    type: str | None = None
    commit_message: str | None = Field(default=None, alias="commitMessage")
    created_by: str | None = Field(default=None, alias="createdBy",
                                   description="the version's author: a Langfuse user id, or 'API'")
    tags: list[str] = Field(default_factory=list)
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")


class WebhookUser(_Loose):
    """Who acted in Langfuse's UI: name and e-mail only (the worker strips the id before sending)."""

    name: str | None = None


class PromptVersionEvent(_Loose):
    """Langfuse's PromptWebhookOutboundSchema (apiVersion v1)."""

    id: str = Field(min_length=1, description="the delivery's event id; redeliveries repeat it")
    timestamp: Timestamp  # inside the window every reader handles (client/admission.py)
    type: Literal["prompt-version"]
    api_version: str = Field(default="v1", alias="apiVersion")
    action: Literal["created", "updated", "deleted"]
    prompt: WebhookPrompt
    user: WebhookUser | None = None


class WebhookAnswer(BaseModel):
    status: Literal["recorded", "duplicate"]
    prompt: str
    version: int
    action: str


def webhook_secrets(secret: bytes) -> list[bytes]:
    """The configured secrets: Langfuse gives every automation's webhook action a secret of its own (it can be
    regenerated, not chosen), so a prompt automation and a monitor automation need two; the variable holds them
    separated by commas or whitespace."""
    return [s for s in re.split(rb"[\s,]+", secret) if s]


def verify_langfuse(secret: bytes, body: bytes, header: str | None, max_age: int, now: float | None = None) -> None:
    """Langfuse's webhook signature under any of the secrets; IntakeError 401 saying what is wrong otherwise."""
    if not header:
        raise IntakeError(401, "missing x-langfuse-signature; set the webhook's secret in Langfuse and here",
                          "x-langfuse-signature")
    parts: dict[str, str] = {}
    for piece in header.split(","):
        key, sep, value = piece.strip().partition("=")
        if sep:
            parts.setdefault(key, value)
    stamp, signature = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not signature:
        raise IntakeError(401, "x-langfuse-signature is not 't=<unix seconds>,v1=<hex>'", "x-langfuse-signature")
    if not fresh(stamp, max_age, now):
        raise IntakeError(401, f"the signature's timestamp is more than {max_age} s away from now (replayed or a "
                          "clock off); Langfuse signs each delivery afresh", "x-langfuse-signature")
    if not any(signed(key, stamp.encode() + b"." + body, signature) for key in webhook_secrets(secret)):
        raise IntakeError(401, "the Langfuse signature does not match (check the webhook secret; each automation "
                          "has its own: list them all, separated by commas)",
                          "x-langfuse-signature")


def acted_by(event: PromptVersionEvent) -> str | None:
    """Who made the change, as far as the event says (langfuse/langfuse at 62751446):
    - `user` is the person acting in Langfuse's UI, with `name` and `email` only: worker/src/queues/webhooks.ts
      (buildWebhookOutboundPayload) drops the id, and packages/shared/src/domain/webhooks.ts has none;
    - `prompt.createdBy` is the version's author: the user's id, or "API" for a version created with an API key
      (web/src/features/prompts/server/prompt-api-service.ts, createPromptForApi).
    So the user's name, else, for a created version, its author. A label move without a named user stays
    unknown: the version's author is not who moved its label (a move through the public API sends no `user`, and
    Langfuse before v3.156 sent none at all)."""
    if event.user is not None and event.user.name:
        return event.user.name
    return event.prompt.created_by if event.action == "created" else None


def deploy_entry(event: PromptVersionEvent, received_at: datetime) -> dict[str, Any]:
    """What the deploy log keeps of an event: no prompt text (its sha256), no user e-mail."""
    p = event.prompt
    text = p.prompt if isinstance(p.prompt, str) else json.dumps(p.prompt, sort_keys=True, default=str)
    return {
        "at": event.timestamp.astimezone(UTC).isoformat(), "received_at": received_at.isoformat(),
        "action": event.action,
        "prompt": p.name, "version": p.version, "labels": p.labels, "tags": p.tags, "type": p.type,
        "commit_message": p.commit_message, "prompt_id": p.id, "project_id": p.project_id,
        "prompt_sha256": hashlib.sha256(text.encode()).hexdigest() if p.prompt is not None else None,
        "by": acted_by(event), "created_by": p.created_by, "source": "langfuse-webhook"}


def langfuse_router(config: IntakeConfig, secret: bytes | None, store: Store) -> APIRouter:
    router = APIRouter(tags=["deploys"])
    settings = config.langfuse

    @router.post("/v1/langfuse/webhook", response_model=None, responses={
        200: {"model": WebhookAnswer, "description": "a prompt-version event, recorded in the deploy log"},
        202: {"model": MonitorAnswer, "description": "a monitor alert, recorded by its incident (or no incident)"},
        **answers(*SENT)}, openapi_extra=body_doc(PromptVersionEvent, MonitorAlertEvent))
    async def langfuse_webhook(request: Request) -> Response:
        """Langfuse automation webhook. prompt-version (created / updated / deleted): appended to the deploy log
        once per delivery id, for the `deploys` evidence and the incident's last deploy. monitor-alert: ALERT opens
        or joins the monitor's incident, WARNING joins a running one, OK resolves it at the source, NO_DATA /
        UNKNOWN / PAUSED are notes on a running incident's timeline."""
        if not secret:
            raise IntakeError(403, f"Langfuse webhooks are not configured on this intake: set {settings.secret_env} "
                              "to the webhook's signing secret (Langfuse shows it when you create the automation; "
                              "several automations: their secrets separated by commas)",
                              "x-langfuse-signature")
        body = await read_body(request, min(config.max_body_bytes, MAX_BODY), config.body_timeout_seconds)
        verify_langfuse(secret, body, request.headers.get(HEADER), settings.max_age_seconds)
        kind = event_type(body)
        if kind == "monitor-alert":
            return await monitor_alert(request.app.state.intake, parse(MonitorAlertEvent, body))
        event = parse(PromptVersionEvent, body)
        entry = deploy_entry(event, datetime.now(UTC))
        created = await asyncio.to_thread(record_deploy, store, event.id, entry)
        answer = WebhookAnswer(status="recorded" if created else "duplicate", prompt=event.prompt.name,
                               version=event.prompt.version, action=event.action)
        return JSONResponse(answer.model_dump(), status_code=200)

    async def monitor_alert(intake: Intake, event: MonitorAlertEvent) -> Response:
        detection = monitor_detection(event, config.labels)
        meaning = counted_as(event.payload.severity)
        # Only ALERT may open an incident; a resolve or a note never does (deliver starts only firing alerts).
        [accepted] = await intake.deliver([detection], no_start={0} if meaning != "alert" else None,
                                          source=LANGFUSE_SOURCE)
        answer = MonitorAnswer(monitor=event.payload.monitor_id, severity=event.payload.severity,
                               workflow_id=accepted.workflow_id, outcome=accepted.outcome, counted_as=meaning)
        return JSONResponse(answer.model_dump(), status_code=202)

    return router


def event_type(body: bytes) -> str | None:
    """The event's `type`, refusing (422) a JSON object of another type; None for a body that is not a JSON object
    (which the event's parser then refuses with the reason)."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(raw, dict) or "type" not in raw:
        return None
    if raw["type"] not in EVENT_TYPES:
        raise IntakeError(422, f"type: {str(raw['type'])[:80]!r} is not an event this endpoint takes; Langfuse "
                          "automations send 'prompt-version' (prompts) and 'monitor-alert' (monitors)", "type")
    return str(raw["type"])
