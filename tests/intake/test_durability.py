"""Temporal down: 503 with Retry-After and nothing recorded; back up: the retried alert opens the incident."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from embedded.binaries import temporal_cli
from intake.app import create_app
from playbook import search_attributes as sa
from tests.intake.support import AM_TOKEN, am_alert, am_message, bearer, config, secrets, serving
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
