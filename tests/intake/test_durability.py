"""Temporal down: 503 with Retry-After and nothing recorded; back up: the retried alert opens the incident.
Temporal frozen: every route, the people routes too, answers 503 within intake.temporal_timeout_seconds."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from embedded.binaries import temporal_cli
from embedded.devserver import DevServer
from intake.app import create_app
from intake.people import People
from intake.tokens import TokenStore
from playbook import search_attributes as sa
from tests.intake.support import AM_TOKEN, API_TOKEN, am_alert, am_message, bearer, config, secrets, serving
from tests.support import free_port, incident_worker, wait_for, write_playbook


async def _server(port: int, db: Path) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), port=port, dev_server_database_filename=str(db),
        search_attributes=sa.ALL, data_converter=pydantic_data_converter)


async def test_temporal_down_then_back(tmp_path: Path, home: Path, task_queue: str) -> None:
    port, db = free_port(), tmp_path / "temporal.db"
    env = await _server(port, db)
    cfg = config()
    app = create_app(cfg, secrets(cfg), address=f"127.0.0.1:{port}", task_queue=task_queue)
    group_key = f'{{}}:{{alertname="Durable", run="{uuid.uuid4().hex}"}}'
    first = am_message([am_alert("1" * 16)], group_key=group_key)
    second = am_message([am_alert("2" * 16)], group_key=group_key)
    async with serving(app) as api:
        r = await api.http.post("/v1/alerts/alertmanager", json=first, headers=bearer(AM_TOKEN))
        assert r.status_code == 202, r.text
        workflow_id = r.json()["incidents"][0]["workflow_id"]
        await env.shutdown()

        r = await api.http.post("/v1/alerts/alertmanager", json=second, headers=bearer(AM_TOKEN))
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"] == "2" and "retry" in r.json()["message"]
        assert (await api.http.get("/readyz")).status_code == 503

        env = await _server(port, db)
        try:
            for _ in range(50):  # what Alertmanager does: retry the 5xx until it is accepted
                r = await api.http.post("/v1/alerts/alertmanager", json=second, headers=bearer(AM_TOKEN))
                if r.status_code == 202:
                    break
                await asyncio.sleep(0.2)
            assert r.status_code == 202, r.text
            unready = await api.http.get("/readyz")  # Temporal answers; no worker yet
            assert unready.status_code == 503 and unready.json()["message"].startswith("no worker polls")
            async with incident_worker(env.client, task_queue, write_playbook(tmp_path), home):
                state = await wait_for(env.client.get_workflow_handle(workflow_id),
                                       lambda s: s.alert_count == 2 and s.ticket is not None)
                assert {i.split(":")[1] for i in state.seen_alert_ids} == {"1" * 16, "2" * 16}
        finally:
            await env.shutdown()


@asynccontextmanager
async def frozen_temporal(tmp_path: Path) -> AsyncIterator[tuple[Client, Callable[[], None]]]:
    """A dev server of its own (the one `firebreak up` runs), a client connected to it, and a function that
    freezes it (SIGSTOP: connections stay open, nothing answers); thawed and stopped at the end."""
    server = DevServer(db_path=tmp_path / "frozen.db", log_path=tmp_path / "frozen.log", port=free_port(), ui=False)
    server.start()
    try:
        await server.wait_ready()
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        assert server.process is not None
        pid = server.process.pid

        def freeze() -> None:
            os.kill(pid, signal.SIGSTOP)
            for _ in range(100):  # the signal is delivered asynchronously: wait until every thread has stopped
                if "T (stopped)" in Path(f"/proc/{pid}/status").read_text():
                    return
                time.sleep(0.01)
            raise AssertionError("the dev server did not stop")

        yield client, freeze
    finally:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


async def test_people_routes_answer_503_within_the_temporal_timeout_when_temporal_is_frozen(
        tmp_path: Path, task_queue: str) -> None:
    tokens = TokenStore(tmp_path / "tokens.json")
    token, _ = tokens.issue("ian")
    cfg = config()  # temporal_timeout_seconds = 2, retry_after_seconds = 2
    bound = cfg.temporal_timeout_seconds
    async with frozen_temporal(tmp_path) as (client, freeze):
        app = create_app(cfg, secrets(cfg), client=client, task_queue=task_queue, people=People(tokens=tokens))
        async with serving(app) as api:
            me = bearer(token)
            assert (await api.http.get("/v1/approvals", headers=me)).status_code == 200  # answers while it runs
            freeze()
            calls = [("GET", "/v1/approvals", None, bound),
                     ("POST", "/v1/incidents/INC-2026-0001/approvals/stabilise-1",
                      {"decision": "approve", "role": "incident_commander"}, bound),
                     ("POST", "/v1/incidents/incident-frozen/approvals/stabilise-1",
                      {"decision": "reject", "role": "incident_commander"}, bound),
                     ("POST", "/v1/incidents/incident-frozen/acknowledge", {"role": "incident_commander"}, bound),
                     # the alert routes, as before: each Temporal call within the bound, the request within twice it
                     ("POST", "/v1/alerts", {"kind": "toxicity", "services": ["frozen"]}, 2 * bound)]
            for method, path, body, within in calls:
                headers = bearer(API_TOKEN) if path == "/v1/alerts" else me
                started = time.monotonic()
                r = await api.http.request(method, path, json=body, headers=headers, timeout=15)
                took = time.monotonic() - started
                assert r.status_code == 503 and r.headers["Retry-After"] == "2", (path, r.status_code, r.text)
                assert "Temporal did not" in r.json()["message"], r.text
                assert took < within + 1.5, f"{method} {path}: 503 after {took:.1f} s (bound {within:g} s)"
