"""Langfuse prompt-version webhooks (Prompts -> Automations -> Webhook) into the deploy log.

`POST /v1/langfuse/webhook` checks `x-langfuse-signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` with
the secret from the environment (`[intake.langfuse] secret_env`, default FIREBREAK_LANGFUSE_WEBHOOK_SECRET),
refuses timestamps more than `max_age_seconds` from now (a replayed request), and appends the event to the
deploy log (integrations/deploys.py) keyed by the delivery id, so Langfuse's redeliveries are recorded once.
Answers: 200 recorded / duplicate; 401 missing, malformed, stale or wrong signature; 403 when no secret is
configured; 400 / 422 for a body that is not a prompt-version event.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from intake.auth import fresh, signed
from intake.body import parse, read_body
from intake.config import IntakeConfig
from intake.errors import IntakeError
from intake.mapping import Timestamp
from intake.openapi_doc import SENT, answers, body_doc
from integrations.artefacts import ArtefactStore
from integrations.deploys import record_deploy

HEADER = "x-langfuse-signature"
MAX_BODY = 1024 * 1024


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
    tags: list[str] = Field(default_factory=list)
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")


class WebhookUser(_Loose):
    id: str | None = None
    name: str | None = None


class PromptVersionEvent(_Loose):
    """Langfuse's PromptWebhookOutboundSchema (apiVersion v1)."""

    id: str = Field(min_length=1, description="the delivery's event id; redeliveries repeat it")
    timestamp: Timestamp  # inside the window every reader handles (workflows/admission.py)
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


def verify_langfuse(secret: bytes, body: bytes, header: str | None, max_age: int, now: float | None = None) -> None:
    """Langfuse's webhook signature; IntakeError 401 saying what is wrong when it does not hold."""
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
    if not signed(secret, stamp.encode() + b"." + body, signature):
        raise IntakeError(401, "the Langfuse signature does not match (check the webhook secret)",
                          "x-langfuse-signature")


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
        "by": (event.user.name or event.user.id) if event.user else None, "source": "langfuse-webhook"}


def langfuse_router(config: IntakeConfig, secret: bytes | None, store: ArtefactStore) -> APIRouter:
    router = APIRouter(tags=["deploys"])
    settings = config.langfuse

    @router.post("/v1/langfuse/webhook", response_model=WebhookAnswer, responses=answers(*SENT),
                 openapi_extra=body_doc(PromptVersionEvent))
    async def langfuse_webhook(request: Request) -> Response:
        """Langfuse prompt-version webhook (created / updated / deleted): appended to the deploy log once per
        delivery id, for the investigate step's `deploys` evidence."""
        if not secret:
            raise IntakeError(403, f"Langfuse webhooks are not configured on this intake: set {settings.secret_env} "
                              "to the webhook's signing secret (Langfuse shows it when you create the automation)",
                              "x-langfuse-signature")
        body = await read_body(request, min(config.max_body_bytes, MAX_BODY), config.body_timeout_seconds)
        verify_langfuse(secret, body, request.headers.get(HEADER), settings.max_age_seconds)
        event = parse(PromptVersionEvent, body)
        entry = deploy_entry(event, datetime.now(UTC))
        created = await asyncio.to_thread(record_deploy, store, event.id, entry)
        answer = WebhookAnswer(status="recorded" if created else "duplicate", prompt=event.prompt.name,
                               version=event.prompt.version, action=event.action)
        return JSONResponse(answer.model_dump(), status_code=200)

    return router
