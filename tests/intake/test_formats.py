"""Every format end to end: payloads from the documented field lists, through real HTTP, into real incidents."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from intake.mapping import short_hash
from playbook.models import Severity, SignalKind
from tests.intake.support import (
    AM_TOKEN,
    API_TOKEN,
    GRAFANA_TOKEN,
    PD_KEY,
    Running,
    am_alert,
    am_message,
    bearer,
    grafana_message,
    grafana_signature,
    pd_event,
)
from tests.support import incident_worker, wait_for, write_playbook


def _wid(response_json: dict) -> str:  # type: ignore[type-arg]
    [incident] = response_json["incidents"]
    return str(incident["workflow_id"])


async def test_alertmanager_firing_repeat_and_resolved(api: Running, worker: None,
                                                       dev_env: WorkflowEnvironment) -> None:
    fp1, fp2 = uuid.uuid4().hex[:16], uuid.uuid4().hex[:16]
    body = am_message([am_alert(fp1), am_alert(fp2, model="gpt-4o-mini")])
    r = await api.http.post("/v1/alerts/alertmanager", json=body, headers=bearer(AM_TOKEN))
    assert r.status_code == 202, r.text
    assert r.json()["incidents"][0]["alerts"] == 2 and r.json()["incidents"][0]["outcome"] == "recorded"
    handle = dev_env.client.get_workflow_handle(_wid(r.json()))
    state = await wait_for(handle, lambda s: s.ticket is not None and s.alert_count == 2)
    d = state.detection
    assert d.source == "alertmanager" and d.services == ["support-bot"] and d.model == "gpt-4o"
    assert d.kind == SignalKind.TOXICITY and d.severity_hint == Severity.SEV1
    assert d.summary == "Toxicity score p95 above 0.8" and d.metrics == {"value": 0.91}
    assert "https://runbooks.example/toxicity" in d.links and "http://prometheus.example:9090/graph" in d.links
    assert state.severity == Severity.SEV1

    # repeat_interval: Alertmanager sends the same group again; it joins and counts once per distinct alert
    r = await api.http.post("/v1/alerts/alertmanager", json=body, headers=bearer(AM_TOKEN))
    assert r.status_code == 202 and _wid(r.json()) == handle.id
    # one alert resolves: recorded on the timeline, the incident stays open
    resolved = am_message([am_alert(fp1, status="resolved")], group_key=body["groupKey"], status="resolved")
    r = await api.http.post("/v1/alerts/alertmanager", json=resolved, headers=bearer(AM_TOKEN))
    assert r.status_code == 202 and _wid(r.json()) == handle.id
    state = await wait_for(handle, lambda s: len(s.resolved_alert_ids) == 1)
    assert state.alert_count == 2 and state.status.value == "open"
    assert any("resolved at the source" in e.what for e in state.timeline)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_alertmanager_resolved_without_incident_starts_nothing(api: Running,
                                                                     dev_env: WorkflowEnvironment) -> None:
    body = am_message([am_alert(uuid.uuid4().hex[:16], status="resolved")], status="resolved")
    r = await api.http.post("/v1/alerts/alertmanager", json=body, headers=bearer(AM_TOKEN))
    assert r.status_code == 202 and r.json()["incidents"][0]["outcome"] == "no_incident"
    try:
        await dev_env.client.get_workflow_handle(_wid(r.json())).describe()
        raise AssertionError("a resolve must not open an incident")
    except RPCError:
        pass


async def test_grafana_signed_webhook(api: Running, worker: None, dev_env: WorkflowEnvironment) -> None:
    body = json.dumps(grafana_message(uuid.uuid4().hex[:16])).encode()
    headers = {**bearer(GRAFANA_TOKEN), "X-Grafana-Alert-Signature": grafana_signature(body),
               "Content-Type": "application/json"}
    r = await api.http.post("/v1/alerts/grafana", content=body, headers=headers)
    assert r.status_code == 202, r.text
    state = await wait_for(dev_env.client.get_workflow_handle(_wid(r.json())), lambda s: s.ticket is not None)
    d = state.detection
    assert d.source == "grafana" and d.services == ["rag-api"] and d.kind == SignalKind.HALLUCINATION
    assert d.metrics["B"] == 44.23943737541908 and d.metrics["C"] == 1.0
    assert "http://grafana.example/d/x" in d.links

    bad = {**headers, "X-Grafana-Alert-Signature": grafana_signature(body, secret="wrong")}
    r = await api.http.post("/v1/alerts/grafana", content=body, headers=bad)
    assert r.status_code == 401 and r.json()["field"] == "Authorization"
    unsigned = {k: v for k, v in headers.items() if k != "X-Grafana-Alert-Signature"}
    assert (await api.http.post("/v1/alerts/grafana", content=body, headers=unsigned)).status_code == 401


async def test_pagerduty_trigger_acknowledge_resolve(api: Running, worker: None, dev_env: WorkflowEnvironment) -> None:
    r = await api.http.post("/v2/enqueue", json=pd_event())
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "success" and body["message"] == "Event processed"
    key = body["dedup_key"]
    assert key  # PagerDuty makes one up when the trigger has none

    r2 = await api.http.post("/v2/enqueue", json=pd_event(dedup_key=key))
    assert r2.status_code == 202 and r2.json()["dedup_key"] == key
    handle = dev_env.client.get_workflow_handle(f"incident-pd-{short_hash('pd', 'pagerduty', key)}")
    state = await wait_for(handle, lambda s: s.ticket is not None)
    assert state.alert_count == 1 and state.detection.services == ["support-bot"]
    assert state.detection.metrics == {"toxicity_p95": 0.91} and state.severity == Severity.SEV1

    assert (await api.http.post("/v2/enqueue", json=pd_event("acknowledge", key))).status_code == 202
    assert (await api.http.post("/v2/enqueue", json=pd_event("resolve", key))).status_code == 202
    state = await wait_for(handle, lambda s: s.resolved_alert_ids == [f"pd:{key}"])
    assert state.alert_count == 1

    # acknowledge / resolve for an unknown key are dropped, as PagerDuty does, and open nothing
    r = await api.http.post("/v2/enqueue", json=pd_event("resolve", "never-triggered"))
    assert r.status_code == 202
    try:
        await dev_env.client.get_workflow_handle(f"incident-pd-{short_hash('pd', 'pagerduty', 'never-triggered')}"
                                                 ).describe()
        raise AssertionError("a resolve must not open an incident")
    except RPCError:
        pass


async def test_firebreak_detection_json(api: Running, worker: None, dev_env: WorkflowEnvironment) -> None:
    detection = {"kind": "cost_spike", "services": ["agent-runner"], "summary": "spend 8x baseline",
                 "metrics": {"cost_per_minute_usd": 9.5}, "fingerprint": f"cost-{uuid.uuid4().hex[:8]}",
                 "alert_id": "cost-1"}
    r = await api.http.post("/v1/alerts", json=detection, headers=bearer(API_TOKEN))
    assert r.status_code == 202, r.text
    handle = dev_env.client.get_workflow_handle(_wid(r.json()))
    r = await api.http.post("/v1/alerts", json=[detection, {**detection, "alert_id": "cost-2"}],
                            headers=bearer(API_TOKEN))
    assert r.status_code == 202 and _wid(r.json()) == handle.id
    state = await wait_for(handle, lambda s: s.ticket is not None and s.alert_count == 2)
    assert state.detection.source == "api" and state.detection.metrics == {"cost_per_minute_usd": 9.5}

    schema = (await api.http.get("/openapi.json")).json()
    assert "Detection" in schema["components"]["schemas"]
    assert "/v1/alerts" in schema["paths"] and "/v2/enqueue" in schema["paths"]


async def wait_ready(api: Running, timeout: float = 30) -> dict[str, Any]:
    """/readyz's body once it says 200 (a new worker's first poll takes a moment to show)."""
    for _ in range(int(timeout / 0.2)):
        answer = await api.http.get("/readyz")
        if answer.status_code == 200:
            return dict(answer.json())
        await asyncio.sleep(0.2)
    raise AssertionError(f"/readyz stayed {answer.status_code}: {answer.text}")


async def test_health_and_readiness(api: Running, dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                    home: Path) -> None:
    assert (await api.http.get("/healthz")).json() == {"status": "ok"}
    # Temporal answers, but nothing would open an incident: not ready, and it says why
    unready = await api.http.get("/readyz")
    assert unready.status_code == 503 and unready.headers["Retry-After"]
    assert unready.json()["message"].startswith(f"no worker polls the task queue {task_queue}")
    async with incident_worker(dev_env.client, task_queue, write_playbook(tmp_path), home):
        ready = await wait_ready(api)
        assert ready["status"] == "ready" and ready["workers"] == 1


async def test_pagerduty_routing_key_of_other_source_is_forbidden(api: Running) -> None:
    r = await api.http.post("/v2/enqueue", json=pd_event(routing_key=AM_TOKEN))
    assert r.status_code == 403 and r.json()["field"] == "Authorization"
    r = await api.http.post("/v2/enqueue", json={k: v for k, v in pd_event().items() if k != "routing_key"})
    assert r.status_code == 401 and r.json()["field"] == "routing_key"
    assert PD_KEY
