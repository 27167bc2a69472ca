"""The door's limits (docs/intake-limits.md): nothing answered 2xx that the incident workflow cannot decode or a
reader cannot show, and no body that can stall the intake. Real intake (uvicorn on 127.0.0.1), real dev server,
real worker where an incident must open; the CLI as a real subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from client.temporal import incident_workflow_id
from intake.app import create_app
from intake.mapping import short_hash
from playbook.models import Detection, SignalKind
from tests.intake.support import (
    AM_TOKEN,
    API_TOKEN,
    GRAFANA_TOKEN,
    Running,
    am_alert,
    am_message,
    bearer,
    config,
    grafana_message,
    grafana_signature,
    pd_event,
    secrets,
    serving,
)
from tests.support import free_port, state_of, stop_process, wait_for, write_playbook

REPO = Path(__file__).resolve().parents[2]
JSON = {"Content-Type": "application/json"}
# /healthz while big bodies arrive: before the door measured bodies first, three of them stalled it for 13 s; on
# this shared 2-core machine a responsive intake answers within a few hundred milliseconds even under load.
STALL = 3.0


async def _absent(env: WorkflowEnvironment, workflow_id: str) -> None:
    try:
        await env.client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return
    raise AssertionError(f"refused input started {workflow_id}")


def _det(**fields: Any) -> dict[str, Any]:
    return {"kind": "toxicity", "services": ["support-bot"], "fingerprint": f"lim-{uuid.uuid4().hex[:10]}",
            **fields}


async def _post_api(api: Running, body: Any) -> Any:
    return await api.http.post("/v1/alerts", content=body if isinstance(body, bytes) else json.dumps(body),
                               headers={**bearer(API_TOKEN), **JSON})


# ---------------------------------------------------------------- 1. non-finite numbers


@pytest.mark.parametrize("number", ["1e309", "-1e309", "1.8e308"])
async def test_a_metric_the_workflow_cannot_decode_is_refused(api: Running, dev_env: WorkflowEnvironment,
                                                              number: str) -> None:
    one = _det()
    raw = json.dumps(one)[:-1] + f', "metrics": {{"toxicity_p95": {number}}}}}'
    r = await _post_api(api, raw.encode())
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "metrics.toxicity_p95" and "finite" in r.json()["message"]
    await _absent(dev_env, f"incident-{one['fingerprint']}")

    good, bad = _det(), _det()
    raw = json.dumps([good, bad])[:-2] + f', "metrics": {{"p": {number}}}}}]'
    r = await _post_api(api, raw.encode())
    assert r.status_code == 422 and r.json()["field"] == "[1].metrics.p", r.text
    await _absent(dev_env, f"incident-{good['fingerprint']}")  # the whole request is refused, the good one too


async def test_vendor_formats_drop_non_finite_values_and_keep_free_text(api: Running, worker: None,
                                                                            dev_env: WorkflowEnvironment) -> None:
    event = pd_event("trigger", dedup_key=f"nf-{uuid.uuid4().hex[:8]}")
    event["payload"]["custom_details"]["toxicity_p95"] = 1e309  # json.dumps writes Infinity: send the number
    event["payload"]["custom_details"]["trace"] = "Traceback:\n  line 1\r\n\tline 2"  # free text, not refused
    raw = json.dumps(event).replace("Infinity", "1e309")
    r = await api.http.post("/v2/enqueue", content=raw, headers=JSON)
    assert r.status_code == 202, r.text
    handle = dev_env.client.get_workflow_handle(f"incident-pd-{short_hash('pd', 'pagerduty', event['dedup_key'])}")
    state = await wait_for(handle, lambda s: s.number is not None)
    assert "toxicity_p95" not in state.detection.metrics and state.detection.services == ["support-bot"]
    assert state.detection.labels["trace"] == "Traceback:   line 1   line 2"  # each control character a space


def test_declare_refuses_nan_and_exits_2(tmp_path: Path) -> None:
    env = {**os.environ, "FIREBREAK_HOME": str(tmp_path), "TEMPORAL_ADDRESS": "127.0.0.1:1"}  # never reached
    for value in ("nan", "inf", "-Infinity", "1e309"):
        done = subprocess.run([sys.executable, "-m", "cli", "declare", "--service", "support-bot", "--kind",
                               "toxicity", "--metric", f"toxicity_p95={value}"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (value, done.stdout, done.stderr)
        assert "metrics.toxicity_p95: must be a finite number" in done.stderr and "nothing was declared" in \
            done.stderr, done.stderr


# ---------------------------------------------------------------- 2. timestamps


def _soon(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _am(starts: str, ends: str | None = None) -> dict[str, Any]:
    alert = am_alert(uuid.uuid4().hex[:16], starts=starts)
    if ends is not None:
        alert["endsAt"] = ends
    return am_message([alert])


def _pd(when: str) -> dict[str, Any]:
    event = pd_event("trigger", dedup_key=f"ts-{uuid.uuid4().hex[:8]}")
    event["payload"]["timestamp"] = when
    return event


OVERFLOW = "9999-12-31T23:59:59-23:59"  # overflows when converted to UTC (`firebreak ls` died on it)
LATE = [OVERFLOW, "0001-01-01T00:00:00+01:00", "1999-12-31T23:59:59Z", "2200-01-01T00:00:00Z"]


@pytest.mark.parametrize("when", LATE)
async def test_timestamps_outside_the_window_are_refused_on_every_route(api: Running, when: str) -> None:
    cases: list[tuple[str, dict[str, str], Any, str]] = [
        ("/v1/alerts", bearer(API_TOKEN), _det(detected_at=when), "detected_at"),
        ("/v1/alerts/alertmanager", bearer(AM_TOKEN), _am(when), "alerts[0].startsAt"),
        ("/v1/alerts/alertmanager", bearer(AM_TOKEN), _am("2026-11-27T10:42:05Z", ends=when), "alerts[0].endsAt"),
        ("/v2/enqueue", {}, _pd(when), "payload.timestamp"),
    ]
    grafana = grafana_message(uuid.uuid4().hex[:16])
    grafana["alerts"][0]["startsAt"] = when
    cases.append(("/v1/alerts/grafana", bearer(GRAFANA_TOKEN), grafana, "alerts[0].startsAt"))
    for path, headers, body, field in cases:
        raw = json.dumps(body).encode()
        if path.endswith("grafana"):
            headers = {**headers, "X-Grafana-Alert-Signature": grafana_signature(raw)}
        r = await api.http.post(path, content=raw, headers={**headers, **JSON})
        assert r.status_code == 422, (path, r.text)
        assert r.json()["field"] == field, (path, r.json())
        assert "window" in r.json()["message"] or "UTC" in r.json()["message"], r.json()


async def test_timestamps_inside_the_window_and_go_zero_time_are_accepted(api: Running) -> None:
    for body in (_am(_soon(-30), ends="0001-01-01T00:00:00Z"), _am(_soon(0.5)), _am("2000-01-01T00:00:00Z")):
        r = await api.http.post("/v1/alerts/alertmanager", json=body, headers=bearer(AM_TOKEN))
        assert r.status_code == 202, r.text
    r = await _post_api(api, _det(detected_at="2026-06-01T12:00:00+05:30"))
    assert r.status_code == 202, r.text


# ---------------------------------------------------------------- 3. one parser: deep JSON is a 400 everywhere


async def test_deep_json_is_400_on_every_route(api: Running) -> None:
    deep = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    shallow_but_too_deep = b'{"routing_key": "x", "event_action": "trigger", "payload": ' + b'{"a":' * 40 + b"1" + \
        b"}" * 41
    for path, headers in (("/v1/alerts", bearer(API_TOKEN)), ("/v1/alerts/alertmanager", bearer(AM_TOKEN)),
                          ("/v2/enqueue", {})):
        for body in (deep, shallow_but_too_deep):
            r = await api.http.post(path, content=body, headers={**headers, **JSON})
            assert r.status_code == 400, (path, r.status_code, r.text[:200])
            assert "nested more than 32 levels" in r.json()["message"]


# ---------------------------------------------------------------- 4. big bodies do not stall the intake


@asynccontextmanager
async def intake_process(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """`python -m intake` as its own process (no Temporal behind it: these bodies are refused before), as in
    production, so that the senders below do not share its event loop."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "intake", "--playbook", str(write_playbook(tmp_path)), "--port",
                             str(port), "--address", f"127.0.0.1:{free_port()}"], cwd=REPO,
                            env={**os.environ, "FIREBREAK_API_TOKEN": API_TOKEN, "FIREBREAK_HOME": str(tmp_path)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            yield http
    finally:
        stop_process(proc)


async def _healthz_while(http: httpx.AsyncClient, body: bytes, senders: int) -> tuple[list[httpx.Response], float]:
    """Post `body` to /v1/alerts from several senders at once while polling /healthz; the answers and the slowest
    /healthz answer (seconds)."""
    loop = asyncio.get_running_loop()
    slowest = 0.0
    done = asyncio.Event()

    async def poll() -> None:
        nonlocal slowest
        while not done.is_set():
            started = loop.time()
            assert (await http.get("/healthz")).status_code == 200
            slowest = max(slowest, loop.time() - started)
            await asyncio.sleep(0.02)

    poller = asyncio.create_task(poll())
    try:
        answers = await asyncio.gather(*(http.post("/v1/alerts", content=body, headers={**bearer(API_TOKEN), **JSON})
                                         for _ in range(senders)))
    finally:
        done.set()
        await poller
    return answers, slowest


async def test_many_empty_objects_are_refused_by_count_and_healthz_stays_responsive(tmp_path: Path) -> None:
    body = b"[" + b",".join([b"{}"] * 349_001) + b"]"
    assert len(body) < 1024 * 1024
    async with intake_process(tmp_path) as http:
        answers, slowest = await _healthz_while(http, body, senders=4)
    for r in answers:
        assert r.status_code == 413 and "at most 10000 per array or object" in r.json()["message"], r.text[:200]
    assert slowest < STALL, f"/healthz took {slowest:.2f} s while the bodies were parsed"


async def test_large_valid_looking_bodies_are_validated_off_the_event_loop(tmp_path: Path) -> None:
    """9,999 Detections and one bad one: the whole body is validated (422) without stalling /healthz."""
    items: list[dict[str, Any]] = [{"kind": "toxicity", "services": ["support-bot"], "labels": {"k": "v" * 30}}
                                   for _ in range(9_999)]
    items.append({"kind": "toxicity"})
    body = json.dumps(items).encode()
    assert len(body) < 1024 * 1024
    async with intake_process(tmp_path) as http:
        answers, slowest = await _healthz_while(http, body, senders=3)
    for r in answers:
        assert r.status_code == 422 and r.json()["field"] == "[9999].services", r.text[:200]
    assert slowest < STALL, f"/healthz took {slowest:.2f} s while the bodies were validated"


# ---------------------------------------------------------------- 10. characters, content types, slow bodies


@pytest.mark.parametrize(("fields", "field"), [
    ({"services": ["support\x00bot"]}, "services[0]"),
    ({"services": ["support\x1bbot"]}, "services[0]"),
    ({"labels": {"team": "ai\x00ops"}}, "labels.team"),
    ({"labels": {"team": "ai\nops"}}, "labels.team"),
    ({"fingerprint": "probe\x00fp"}, "fingerprint"),
    ({"alert_id": "a\x7f1"}, "alert_id"),
    ({"summary": "toxic\x00"}, "summary"),
])
async def test_control_characters_are_refused(api: Running, fields: dict[str, Any], field: str) -> None:
    r = await _post_api(api, _det(**fields))
    assert r.status_code == 422 and r.json()["field"] == field, r.text


async def test_control_characters_in_alertmanager_labels_are_refused(api: Running) -> None:
    body = am_message([am_alert(uuid.uuid4().hex[:16], team="ai\x00ops")])
    r = await api.http.post("/v1/alerts/alertmanager", json=body, headers=bearer(AM_TOKEN))
    assert r.status_code == 422 and r.json()["field"] == "alerts[0].labels.team", r.text
    body = am_message([am_alert(uuid.uuid4().hex[:16], team="ai\x01ops")])
    r = await api.http.post("/v1/alerts/alertmanager", json=body, headers=bearer(AM_TOKEN))
    assert r.status_code == 422 and r.json()["field"] == "alerts[0].labels.team", r.text


def test_fingerprints_that_differ_never_share_an_incident() -> None:
    def wid(fingerprint: str) -> str:
        return incident_workflow_id(Detection(kind=SignalKind.OTHER, services=["x"], fingerprint=fingerprint))

    ids = [wid(f) for f in ("probe-fp", "probe\x00fp", "probe fp", "probe/fp", "probe:fp", "a" * 300, "a" * 301)]
    assert len(set(ids)) == len(ids) and all(len(i) <= 200 for i in ids), ids
    assert wid("probe-fp") == "incident-probe-fp" and wid("am-0123abcd") == "incident-am-0123abcd"  # unchanged


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1"])
async def test_bodies_that_are_not_declared_json_are_415(api: Running, content_type: str) -> None:
    body = json.dumps(_det()).encode()
    for path, headers in (("/v1/alerts", bearer(API_TOKEN)), ("/v1/alerts/alertmanager", bearer(AM_TOKEN)),
                          ("/v2/enqueue", {})):
        r = await api.http.post(path, content=body, headers={**headers, "Content-Type": content_type})
        assert r.status_code == 415 and r.json()["field"] == "Content-Type", (path, r.text)
    r = await api.http.post("/v1/alerts", content=body, headers={**bearer(API_TOKEN),
                                                                 "Content-Type": "application/json; charset=UTF-8"})
    assert r.status_code == 202, r.text


async def _raw(port: int, head: str, body: bytes = b"", wait: float = 10.0) -> tuple[int, float]:
    """Send a request by hand (a body shorter than declared, or none); (status, seconds until the answer)."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = loop.time()
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), wait)
        return int(line.split()[1]), loop.time() - started
    finally:
        writer.close()


def _head(path: str, length: int, *extra: str) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Content-Length: {length}", *extra]
    return "\n".join(lines) + "\n"


async def test_credentials_are_checked_before_the_body_is_read(api: Running) -> None:
    """A request that declares a body and never sends it is refused at once when its headers cannot pass."""
    port = int(api.url.rsplit(":", 1)[1])
    for path in ("/v1/alerts", "/v1/alerts/alertmanager", "/v1/alerts/grafana"):
        status, took = await _raw(port, _head(path, 5000), b'{"kind":', wait=5.0)  # no credentials, body never ends
        assert status == 401 and took < 1.0, (path, status, took)
    status, took = await _raw(port, _head("/v1/alerts", 5000, f"Authorization: Bearer {AM_TOKEN}"), wait=5.0)
    assert status == 403 and took < 1.0, (status, took)  # another source's token: known before the body


async def test_a_body_that_never_arrives_is_408_after_the_body_timeout(dev_env: WorkflowEnvironment,
                                                                       task_queue: str) -> None:
    cfg = config(body_timeout_seconds=1.0)
    async with serving(create_app(cfg, secrets(cfg), client=dev_env.client, task_queue=task_queue)) as api:
        port = int(api.url.rsplit(":", 1)[1])
        status, took = await _raw(port, _head("/v1/alerts", 5000, f"Authorization: Bearer {API_TOKEN}"), b"[")
        assert status == 408 and 0.9 < took < 5.0, (status, took)  # authenticated, but the body never arrives
        status, took = await _raw(port, _head("/v2/enqueue", 5000), b'{"routing_key":')
        assert status == 408 and 0.9 < took < 5.0, (status, took)  # the routing key is in the body: time limit


# ---------------------------------------------------------------- 10. /metrics records what was sent


def _count(metrics: str, route: str, status: int) -> float:
    prefix = f'firebreak_intake_requests_total{{method="POST",route="{route}",status="{status}"}} '
    return sum(float(line.removeprefix(prefix)) for line in metrics.splitlines() if line.startswith(prefix))


async def test_metrics_record_the_503_sent_and_client_disconnects(dev_env: WorkflowEnvironment,
                                                                  task_queue: str) -> None:
    cfg = config()
    app = create_app(cfg, secrets(cfg), client=dev_env.client, task_queue=task_queue)

    async def broken(*_: Any, **__: Any) -> Any:
        raise ValueError("a bug")

    app.state.intake.deliver = broken
    async with serving(app) as api:
        r = await _post_api(api, _det())
        assert r.status_code == 503 and r.headers["Retry-After"] == "2", r.text
        metrics = (await api.http.get("/metrics")).text
        assert _count(metrics, "/v1/alerts", 503) == 1 and _count(metrics, "/v1/alerts", 500) == 0, metrics

        port = int(api.url.rsplit(":", 1)[1])
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_head("/v1/alerts", 5000, f"Authorization: Bearer {API_TOKEN}").replace("\n", "\r\n").encode()
                     + b"\r\n" + b'[{"kind":')
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.close()  # the sender hangs up before its body is complete
        for _ in range(50):
            metrics = (await api.http.get("/metrics")).text
            if _count(metrics, "/v1/alerts", 499):
                break
            await asyncio.sleep(0.1)
        assert _count(metrics, "/v1/alerts", 499) == 1, metrics
        assert 'firebreak_intake_rejections_total{reason="client_disconnected",route="/v1/alerts"} 1.0' in metrics
        assert _count(metrics, "/v1/alerts", 500) == 0


async def test_an_accepted_detection_opens_an_incident_that_decodes(api: Running, worker: None,
                                                                    dev_env: WorkflowEnvironment) -> None:
    """The limits refuse the bad, not the good: a Detection at the edges opens its incident."""
    edge = _det(services=["s" * 200], labels={f"k{i}": "v" * 512 for i in range(64)},
                metrics={"p": 1.7976931348623157e308, "q": -0.0}, detected_at=_soon(0.9), summary="x\n\ty")
    r = await _post_api(api, edge)
    assert r.status_code == 202, r.text
    handle = dev_env.client.get_workflow_handle(r.json()["incidents"][0]["workflow_id"])
    state = await wait_for(handle, lambda s: s.number is not None)
    assert state.detection.metrics["p"] == 1.7976931348623157e308
    assert (await state_of(handle)).alert_count == 1
