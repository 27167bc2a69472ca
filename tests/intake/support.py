"""Payloads built from the documented field lists (reference/integrations.md 1.1-1.3), and a real intake server."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from intake.config import IntakeConfig, Secrets
from tests.support import free_port

AM_TOKEN = "am-token-0123456789"
GRAFANA_TOKEN = "grafana-token-0123456789"
GRAFANA_HMAC = "grafana-hmac-secret"
PD_KEY = "R0UTINGKEY0000000000000000000000"
API_TOKEN = "api-token-0123456789"
FIRING_END = "0001-01-01T00:00:00Z"

SOURCES = {
    "alertmanager": {"format": "alertmanager", "token_env": "T_AM"},
    "grafana": {"format": "grafana", "token_env": "T_GRAFANA", "hmac_secret_env": "T_GRAFANA_HMAC"},
    "pagerduty": {"format": "pagerduty", "token_env": "T_PD"},
    "api": {"format": "firebreak", "token_env": "T_API"},
}
ENVIRON = {"T_AM": AM_TOKEN, "T_GRAFANA": GRAFANA_TOKEN, "T_GRAFANA_HMAC": GRAFANA_HMAC, "T_PD": PD_KEY,
           "T_API": API_TOKEN}


def am_alert(fingerprint: str, status: str = "firing", starts: str = "2026-11-27T10:42:05.632777135Z",
             **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "LLMToxicitySpike", "model": "gpt-4o", "service": "support-bot",
                   "severity": "critical", **labels},
        "annotations": {"runbook_url": "https://runbooks.example/toxicity", "summary": "Toxicity score p95 above 0.8",
                        "value": "0.91"},
        "startsAt": starts,
        "endsAt": FIRING_END if status == "firing" else "2026-11-27T10:42:09Z",
        "generatorURL": "http://prometheus.example:9090/graph",
        "fingerprint": fingerprint,
    }


def am_message(alerts: list[dict[str, Any]], group_key: str | None = None, status: str = "firing",
               version: str = "4") -> dict[str, Any]:
    """The Alertmanager 0.25 webhook body, fields in the captured order."""
    group_key = group_key or f'{{}}:{{alertname="LLMToxicitySpike", service="support-bot", run="{uuid.uuid4().hex}"}}'
    return {
        "receiver": "ai\\.incident-webhook",
        "status": status,
        "alerts": alerts,
        "groupLabels": {"alertname": "LLMToxicitySpike", "service": "support-bot"},
        "commonLabels": {"alertname": "LLMToxicitySpike", "service": "support-bot"},
        "commonAnnotations": {"summary": "Toxicity score p95 above 0.8"},
        "externalURL": "http://alertmanager.example:9093",
        "version": version,
        "groupKey": group_key,
        "truncatedAlerts": 0,
    }


def grafana_message(fingerprint: str, status: str = "firing", group_key: str | None = None) -> dict[str, Any]:
    """Grafana's webhook body: the Alertmanager shape, version "1", plus orgId/title/state/message and values."""
    alert = am_alert(fingerprint, status, alertname="HallucinationRate", service="rag-api")
    alert.update(silenceURL="http://grafana.example/alerting/silence/new", dashboardURL="http://grafana.example/d/x",
                 panelURL="http://grafana.example/d/x?viewPanel=1", values={"B": 44.23943737541908, "C": 1},
                 valueString="[ var='B' value=44.2 ]")
    body = am_message([alert], group_key or f"{{}}/{{grafana}}:{{alertname=\"HallucinationRate\", "
                                             f"run=\"{uuid.uuid4().hex}\"}}", status, version="1")
    body.update(orgId=1, title=f"[{status.upper()}:1]  (rag-api)", state="alerting" if status == "firing" else "ok",
                message="**Firing**")
    return body


def grafana_signature(body: bytes, secret: str = GRAFANA_HMAC, timestamp: str | None = None) -> str:
    message = f"{timestamp}:".encode() + body if timestamp else body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def pd_event(action: str = "trigger", dedup_key: str | None = None, routing_key: str = PD_KEY) -> dict[str, Any]:
    """PagerDuty Events API v2 body (the documented trigger example)."""
    event: dict[str, Any] = {"routing_key": routing_key, "event_action": action}
    if dedup_key:
        event["dedup_key"] = dedup_key
    if action == "trigger":
        event["payload"] = {"summary": "Toxicity p95 0.91 > 0.8 on support-bot", "source": "support-bot.prod",
                            "severity": "critical", "component": "support-bot", "group": "support",
                            "class": "toxicity", "custom_details": {
                                "langfuse_trace_url": "https://langfuse.example/project/p/traces/abc",
                                "toxicity_p95": 0.91}}
        event["links"] = [{"href": "https://runbooks.example/toxicity", "text": "Runbook"}]
    return event


def config(**overrides: Any) -> IntakeConfig:
    raw: dict[str, Any] = {"sources": SOURCES, "retry_after_seconds": 2, "temporal_timeout_seconds": 2.0}
    raw.update(overrides)
    return IntakeConfig.model_validate(raw)


def secrets(cfg: IntakeConfig) -> dict[str, Secrets]:
    from intake.config import load_secrets

    return load_secrets(cfg, ENVIRON)


@dataclass
class Running:
    url: str
    app: FastAPI
    http: httpx.AsyncClient


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[Running]:
    """The app on a real uvicorn server on 127.0.0.1 and a free port, with an httpx client for it."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning",
                                           lifespan="on"))
    task = asyncio.create_task(server._serve())
    for _ in range(200):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
            yield Running(url, app, http)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
