"""Ticket tracker webhooks: an action item's issue closed in GitHub or Jira closes the item in Firebreak.

- `POST /v1/trackers/github`: a repository webhook (content type application/json) for "Issues" events, signed
  `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` with FIREBREAK_GITHUB_WEBHOOK_SECRET. An `issues`
  event with action `closed` on an issue labelled `firebreak-action-...` closes that item. `ping` is answered.
- `POST /v1/trackers/jira`: a Jira Cloud webhook (System > WebHooks, event "Issue updated") with a secret, signed
  `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>` with FIREBREAK_JIRA_WEBHOOK_SECRET. A
  `jira:issue_updated` whose issue's status is in the done category closes the item its label names.
The item is found by its label (integrations/ticket_base.py) and told with the `closed_in_tracker` signal, which
checks the issue's key against the one the item opened. Answers: 200 recorded / ignored / no_item, 401 bad or
missing signature, 403 no secret configured, 503 with Retry-After when Temporal does not answer (the tracker
retries).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

import settings
from client.actions import ORIGIN
from client.workflow_types import ActionItemWorkflow
from intake.auth import signed
from intake.body import read_body
from intake.config import IntakeConfig
from intake.errors import IntakeError, within
from intake.openapi_doc import SENT, answers
from integrations import audit
from integrations.store import Store
from integrations.ticket_base import item_workflow_id
from playbook.state import ClosedInTracker

MAX_BODY = 5 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB, but an issue event is far smaller


class TrackerAnswer(BaseModel):
    outcome: str  # recorded | no_item | ignored | pong
    workflow_id: str | None = None
    reason: str | None = None


def tracker_router(config: IntakeConfig, client: Callable[[], Client | None],
                   environ: Mapping[str, str] | None = None, store: Store | None = None) -> APIRouter:
    env = os.environ if environ is None else environ
    secrets = {"github": settings.read(settings.GITHUB_WEBHOOK_SECRET, environ=env).strip(),
               "jira": settings.read(settings.JIRA_WEBHOOK_SECRET, environ=env).strip()}
    names = {"github": settings.GITHUB_WEBHOOK_SECRET, "jira": settings.JIRA_WEBHOOK_SECRET}
    router = APIRouter(tags=["trackers"])

    async def verified(request: Request, tracker: str, header: str) -> dict[str, Any]:
        if not secrets[tracker]:
            raise IntakeError(403, f"{tracker} webhooks are off: set {names[tracker]} on the intake")
        given = request.headers.get(header, "")
        if not given.startswith("sha256="):
            raise IntakeError(401, f"no signature: {header} must be sha256=<hex HMAC-SHA256 of the body>", header)
        body = await read_body(request, MAX_BODY, config.body_timeout_seconds)
        if not signed(secrets[tracker].encode(), body, given[len("sha256="):]):
            raise IntakeError(401, f"the {header} signature does not match this body", header)
        try:
            payload = json.loads(body)
        except ValueError as err:
            raise IntakeError(400, "the body is not JSON", "body") from err
        if not isinstance(payload, dict):
            raise IntakeError(422, "the body must be a JSON object", "body")
        return payload

    async def close_item(workflow_id: str, closed: ClosedInTracker) -> Response:
        temporal = client()
        if temporal is None:
            raise IntakeError(503, "not connected to Temporal yet; retry", None,
                              {"Retry-After": str(config.retry_after_seconds)})
        handle = temporal.get_workflow_handle(workflow_id)
        try:
            async with within(config.temporal_timeout_seconds, config.retry_after_seconds):
                await handle.signal(ActionItemWorkflow.closed_in_tracker, closed,
                                    rpc_timeout=timedelta(seconds=config.temporal_timeout_seconds))
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return JSONResponse({"outcome": "no_item", "workflow_id": workflow_id})
            raise IntakeError(503, f"Temporal did not answer ({err}); retry", None,
                              {"Retry-After": str(config.retry_after_seconds)}) from err
        if store is not None:  # the audit log: who closed it, as the tracker names them
            origin = f"{closed.tracker} webhook via {ORIGIN.get() or 'http'}"
            await asyncio.to_thread(audit.safely, lambda: audit.record(
                store, "closed_in_tracker", closed.by, origin, workflow_id, {"key": closed.key, "url": closed.url},
                key=f"tracker:{closed.tracker}:{closed.key}:{workflow_id}"), "closed_in_tracker")
        return JSONResponse({"outcome": "recorded", "workflow_id": workflow_id})

    def ignored(why: str) -> Response:
        return JSONResponse({"outcome": "ignored", "reason": why})

    @router.post("/v1/trackers/github", response_model=TrackerAnswer, responses=answers(*SENT))
    async def github_webhook(request: Request) -> Response:
        """GitHub `issues` webhooks: an action item's issue closed on GitHub closes the item in Firebreak."""
        payload = await verified(request, "github", "x-hub-signature-256")
        event = request.headers.get("x-github-event", "")
        if event == "ping":
            return JSONResponse({"outcome": "pong"})
        issue = payload.get("issue") or {}
        if event != "issues" or payload.get("action") != "closed":
            return ignored(f"{event or 'unknown'} {payload.get('action', '')} is not an issue closing".strip())
        workflow_id = item_workflow_id([str(label.get("name")) for label in issue.get("labels") or []])
        if workflow_id is None:
            return ignored("not an action item's issue")
        repository = (payload.get("repository") or {}).get("full_name", "")
        return await close_item(workflow_id, ClosedInTracker(
            tracker="github", key=f"{repository}#{issue.get('number')}", url=str(issue.get("html_url") or ""),
            by=str((payload.get("sender") or {}).get("login") or "github")))

    @router.post("/v1/trackers/jira", response_model=TrackerAnswer, responses=answers(*SENT))
    async def jira_webhook(request: Request) -> Response:
        """Jira `jira:issue_updated` webhooks: an action item's issue moved to a done status closes the item."""
        payload = await verified(request, "jira", "x-hub-signature")
        issue = payload.get("issue") or {}
        fields = issue.get("fields") or {}
        category = ((fields.get("status") or {}).get("statusCategory") or {}).get("key")
        if payload.get("webhookEvent") != "jira:issue_updated" or category != "done":
            return ignored("not an issue moved to done")
        workflow_id = item_workflow_id([str(label) for label in fields.get("labels") or []])
        if workflow_id is None:
            return ignored("not an action item's issue")
        user = payload.get("user") or {}
        return await close_item(workflow_id, ClosedInTracker(
            tracker="jira", key=str(issue.get("key")), url=str(issue.get("self") or ""),
            by=str(user.get("displayName") or user.get("accountId") or "jira")))

    return router
