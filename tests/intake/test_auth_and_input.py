"""Auth failures and every class of bad input: 4xx with a JSON message naming the field, and nothing started."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from intake.app import create_app
from intake.formats.alertmanager import Message
from intake.mapping import short_hash
from tests.intake.support import (
    AM_TOKEN,
    API_TOKEN,
    GRAFANA_HMAC,
    GRAFANA_TOKEN,
    Running,
    am_alert,
    am_message,
    bearer,
    config,
    grafana_message,
    grafana_signature,
    secrets,
    serving,
)


async def _not_started(env: WorkflowEnvironment, group_key: str, prefix: str = "am") -> None:
    try:
        await env.client.get_workflow_handle(f"incident-{prefix}-{short_hash(prefix, 'group', group_key)}").describe()
    except RPCError:
        return
    raise AssertionError("bad input half-started an incident")


@pytest.mark.parametrize(("path", "headers", "status"), [
    ("/v1/alerts/alertmanager", {}, 401),
    ("/v1/alerts/alertmanager", bearer("not-a-token"), 401),
    ("/v1/alerts/alertmanager", {"Authorization": "Token abc"}, 401),
    ("/v1/alerts/alertmanager", bearer(API_TOKEN), 403),
    ("/v1/alerts/grafana", bearer(AM_TOKEN), 403),
    ("/v1/alerts", bearer(AM_TOKEN), 403),
    ("/v1/alerts", {"Authorization": "Basic !!notbase64"}, 401),
])
async def test_auth_failures(api: Running, dev_env: WorkflowEnvironment, path: str, headers: dict[str, str],
                             status: int) -> None:
    body = am_message([am_alert(uuid.uuid4().hex[:16])])
    r = await api.http.post(path, json=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["field"] == "Authorization" and r.json()["message"]
    if status == 401:
        assert r.headers["WWW-Authenticate"] == "Bearer"
    await _not_started(dev_env, body["groupKey"])


async def test_basic_auth_as_alertmanager_sends_it(api: Running) -> None:
    basic = base64.b64encode(f"am:{AM_TOKEN}".encode()).decode()
    body = am_message([am_alert(uuid.uuid4().hex[:16])])
    r = await api.http.post("/v1/alerts/alertmanager", json=body, headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 202, r.text


async def test_grafana_timestamped_signature(dev_env: WorkflowEnvironment, task_queue: str) -> None:
    cfg = config(sources={"g": {"format": "grafana", "hmac_secret_env": "T_GRAFANA_HMAC",
                                "hmac_timestamp_header": "X-Grafana-Alert-Timestamp"}})
    async with serving(create_app(cfg, secrets(cfg), client=dev_env.client, task_queue=task_queue)) as api:
        body = json.dumps(grafana_message(uuid.uuid4().hex[:16])).encode()
        now = str(int(time.time()))
        ok = {"X-Grafana-Alert-Signature": grafana_signature(body, GRAFANA_HMAC, now), "X-Grafana-Alert-Timestamp": now}
        assert (await api.http.post("/v1/alerts/grafana", content=body, headers=ok)).status_code == 202
        stale = str(int(time.time()) - 3600)
        old = {"X-Grafana-Alert-Signature": grafana_signature(body, GRAFANA_HMAC, stale),
               "X-Grafana-Alert-Timestamp": stale}
        assert (await api.http.post("/v1/alerts/grafana", content=body, headers=old)).status_code == 401
        assert GRAFANA_TOKEN


def _bad_type() -> dict[str, Any]:
    body = am_message([am_alert("a" * 16), am_alert("b" * 16)])
    body["alerts"][1]["labels"]["replicas"] = 3
    return body


def _missing(field: str) -> dict[str, Any]:
    body = am_message([am_alert("c" * 16)])
    del body[field]
    return body


def _alert_missing(field: str) -> dict[str, Any]:
    body = am_message([am_alert("d" * 16), am_alert("e" * 16)])
    del body["alerts"][1][field]
    return body


@pytest.mark.parametrize(("body", "status", "field"), [
    (b"{not json", 400, "body"),
    (b"", 400, "body"),
    (b"[1, 2]", 422, "body"),
    (_bad_type(), 422, "alerts[1].labels.replicas"),
    (_missing("groupKey"), 422, "groupKey"),
    (_missing("alerts"), 422, "alerts"),
    (_missing("version"), 422, "version"),
    (_alert_missing("fingerprint"), 422, "alerts[1].fingerprint"),
    (_alert_missing("startsAt"), 422, "alerts[1].startsAt"),
    ({**am_message([am_alert("f" * 16)]), "version": "3"}, 422, "version"),
    ({**am_message([am_alert("f" * 16)]), "status": "exploded"}, 422, "status"),
    ({**am_message([]), "alerts": []}, 422, "alerts"),
])
async def test_bad_alertmanager_input(api: Running, dev_env: WorkflowEnvironment, body: Any, status: int,
                                      field: str) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = await api.http.post("/v1/alerts/alertmanager", content=content,
                            headers={**bearer(AM_TOKEN), "Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["field"] == field, r.json()
    assert field.split("[")[0].split(".")[0] in r.json()["message"] or field == "body"
    if isinstance(body, dict) and "groupKey" in body:
        await _not_started(dev_env, body["groupKey"])


async def test_bad_input_other_formats(api: Running) -> None:
    r = await api.http.post("/v1/alerts/grafana", json={**grafana_message("a" * 16), "version": "4"},
                            headers={**bearer(GRAFANA_TOKEN)})
    assert r.status_code == 401  # unsigned: the signature is checked before the body is read as Grafana's
    r = await api.http.post("/v1/alerts", json={"kind": "toxicity", "services": []}, headers=bearer(API_TOKEN))
    assert r.status_code == 422 and r.json()["field"] == "services"
    r = await api.http.post("/v1/alerts", json={"kind": "weather", "services": ["x"]}, headers=bearer(API_TOKEN))
    assert r.status_code == 422 and r.json()["field"] == "kind"
    r = await api.http.post("/v1/alerts", json={"kind": "toxicity", "services": ["x"], "bogus": 1},
                            headers=bearer(API_TOKEN))
    assert r.status_code == 422 and r.json()["field"] == "bogus"
    from tests.intake.support import pd_event

    r = await api.http.post("/v2/enqueue", json={**pd_event(), "event_action": "explode"})
    assert r.status_code == 422 and r.json()["field"] == "event_action" and r.json()["status"] == "invalid event"
    event = pd_event()
    del event["payload"]["severity"]
    r = await api.http.post("/v2/enqueue", json=event)
    assert r.status_code == 422 and r.json()["field"] == "payload.severity"
    r = await api.http.post("/v2/enqueue", json=pd_event("resolve"))
    assert r.status_code == 422 and "dedup_key" in r.json()["message"]
    r = await api.http.post("/v2/enqueue", content=b"nope")
    assert r.status_code == 400 and r.json()["field"] == "body"


async def test_body_over_limit(dev_env: WorkflowEnvironment, task_queue: str) -> None:
    cfg = config(max_body_bytes=4096)
    async with serving(create_app(cfg, secrets(cfg), client=dev_env.client, task_queue=task_queue)) as api:
        body = am_message([am_alert(f"{i:016x}") for i in range(40)])
        r = await api.http.post("/v1/alerts/alertmanager", json=body, headers=bearer(AM_TOKEN))
        assert r.status_code == 413 and r.json()["field"] == "body"

        async def chunked() -> Any:  # no Content-Length: the limit holds while streaming
            data = json.dumps(body).encode()
            for i in range(0, len(data), 1000):
                yield data[i:i + 1000]

        r = await api.http.post("/v1/alerts/alertmanager", content=chunked(), headers=bearer(AM_TOKEN))
        assert r.status_code == 413
        await _not_started(dev_env, body["groupKey"])


async def test_unknown_route_and_method_are_json(api: Running) -> None:
    r = await api.http.post("/v1/alerts/nagios", json={})
    assert r.status_code == 404 and "message" in r.json()
    r = await api.http.get("/v1/alerts/alertmanager")
    assert r.status_code == 405 and "message" in r.json()


def test_message_model_documents_captured_payload() -> None:
    assert Message.model_validate(am_message([am_alert("665357ae49e2140e")])).alerts[0].fingerprint
