"""Service deploys into the deploy log (integrations/service_deploys.py): PagerDuty change events and a CI
deployment webhook, so an incident knows what changed last even when its alert did not say.

- `POST /v2/change/enqueue`: PagerDuty's Change Events API (what the official `pagerduty` client's
  `EventsApiV2Client.send_change_event` posts): `routing_key` (a `pagerduty` source's key: who sent it),
  `payload.summary` (required, <= 1024), `payload.timestamp`, `payload.source`, `payload.custom_details`, `links`,
  `images`. The service is `custom_details.service`, else `payload.source`; the deploy id `custom_details.deploy_id`
  (or `.version`), else the summary. Answered 202 `{"status": "success", "message": "Change event processed"}`
  as PagerDuty answers (PagerDuty/developer-docs `docs/events-API-v2/...Send-Change-Events`); a repeat of the same
  event is recorded once.
- `POST /v1/deploys`: a CI pipeline's deployment step, with a `firebreak` source's bearer token: `service`,
  `deploy_id`, optional `id` (the delivery, for redeliveries), `at`, `by`, `version`, `environment`, `url`,
  `status` (succeeded | failed). Answered 200 recorded / duplicate.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from intake.auth import presented
from intake.body import parse, read_body
from intake.config import IntakeConfig
from intake.openapi_doc import SENT, answers, body_doc
from integrations.service_deploys import record_service_deploy
from integrations.store import Store

NAME = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChangePayload(_Loose):
    summary: str = Field(min_length=1, max_length=1024)
    timestamp: datetime | None = None
    source: str | None = Field(default=None, max_length=255)
    custom_details: dict[str, Any] = Field(default_factory=dict)


class ChangeEvent(_Loose):
    """PagerDuty's change event (Events API v2)."""

    routing_key: str = Field(min_length=1)
    payload: ChangePayload
    links: list[dict[str, Any]] = Field(default_factory=list)


class ChangeAnswer(BaseModel):
    status: Literal["success"] = "success"
    message: str = "Change event processed"


class DeployEvent(BaseModel):
    """A CI pipeline's deployment: what went where, when, by whom."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, max_length=200, description="the delivery id; a redelivery repeats it")
    service: str = NAME
    deploy_id: str = NAME
    at: datetime | None = Field(default=None, description="when it was deployed (default: when received)")
    by: str | None = Field(default=None, max_length=200)
    version: str | None = Field(default=None, max_length=200)
    environment: str | None = Field(default=None, max_length=100)
    url: str | None = Field(default=None, max_length=2000)
    status: Literal["succeeded", "failed"] = "succeeded"


class DeployAnswer(BaseModel):
    status: Literal["recorded", "duplicate"]
    service: str
    deploy_id: str


def _utc(when: datetime | None) -> str:
    when = when or datetime.now(UTC)
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def change_entry(event: ChangeEvent, source: str) -> dict[str, Any]:
    details = event.payload.custom_details
    service = str(details.get("service") or event.payload.source or source)
    deploy = str(details.get("deploy_id") or details.get("version") or event.payload.summary)[:200]
    return {"service": service, "deploy_id": deploy, "at": _utc(event.payload.timestamp),
            "summary": event.payload.summary, "version": details.get("version"),
            "environment": details.get("environment"), "by": details.get("by") or details.get("author"),
            "links": [str(link.get("href")) for link in event.links if link.get("href")][:5],
            "via": f"PagerDuty change event, source {source}", "status": "succeeded"}


def deploy_router(config: IntakeConfig, store: Store) -> APIRouter:
    router = APIRouter(tags=["deploys"])
    limit, seconds = config.max_body_bytes, config.body_timeout_seconds

    @router.post("/v2/change/enqueue", status_code=202, response_model=ChangeAnswer,
                 openapi_extra=body_doc(ChangeEvent), responses=answers(*SENT))
    async def change_enqueue(request: Request) -> Response:
        """PagerDuty Change Events: a deploy of the service into the deploy log; routing_key names the source."""
        intake = request.app.state.intake
        body = await read_body(request, limit, seconds)
        event = parse(ChangeEvent, body)
        source = intake.auth.authenticate("pagerduty", presented(request.headers, intake.auth.hmac_headers,
                                                                 event.routing_key), body)
        entry = change_entry(event, source)
        unkeyed = event.model_dump(mode="json", exclude={"routing_key"})
        key = "pd-change-" + hashlib.sha256(repr(sorted(unkeyed.items())).encode()).hexdigest()[:32]
        await asyncio.to_thread(record_service_deploy, store, key, entry)
        return JSONResponse(ChangeAnswer().model_dump(), status_code=202)

    @router.post("/v1/deploys", response_model=DeployAnswer, openapi_extra=body_doc(DeployEvent),
                 responses=answers(*SENT))
    async def ci_deploy(request: Request) -> Response:
        """A CI pipeline's deployment (bearer token of a `firebreak` source): into the service deploy log."""
        intake = request.app.state.intake
        creds = presented(request.headers, intake.auth.hmac_headers)
        known = intake.auth.before_body("firebreak", creds)
        body = await read_body(request, limit, seconds)
        source = known or intake.auth.authenticate("firebreak", creds, body)
        event = parse(DeployEvent, body)
        entry = {**event.model_dump(mode="json", exclude={"id", "at"}), "at": _utc(event.at),
                 "via": f"CI webhook, source {source}"}
        key = event.id or "ci-" + hashlib.sha256(f"{event.service}\n{event.deploy_id}\n{event.status}".encode()
                                                 ).hexdigest()[:32]
        created = await asyncio.to_thread(record_service_deploy, store, key, entry)
        answer = DeployAnswer(status="recorded" if created else "duplicate", service=event.service,
                              deploy_id=event.deploy_id)
        return JSONResponse(answer.model_dump(), status_code=200)

    return router
