"""A long incident continues as new with everything it knew: number, alerts seen, timeline, waiting state."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from client.temporal import raise_detection
from embedded.binaries import temporal_cli
from playbook import search_attributes as sa
from playbook.models import IncidentStatus, Role
from tests.support import detection, human, incident_worker, wait_for, write_playbook
from workflows.incident import IncidentWorkflow


async def test_storm_while_unacknowledged_continues_as_new(tmp_path: Path, home: Path, task_queue: str) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), search_attributes=sa.ALL, data_converter=pydantic_data_converter,
        dev_server_extra_args=["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"])
    async with env, incident_worker(env.client, task_queue, write_playbook(tmp_path), home):
        fingerprint = f"can-{uuid.uuid4().hex[:6]}"
        handle = await raise_detection(env.client, detection(fingerprint=fingerprint, alert_id="a-0"),
                                       task_queue=task_queue)
        first = await wait_for(handle, lambda s: s.ticket is not None)
        for i in range(1, 31):
            await handle.signal(IncidentWorkflow.alert, detection(fingerprint=fingerprint, alert_id=f"a-{i}"))
        latest = env.client.get_workflow_handle(handle.id)
        state = await wait_for(latest, lambda s: s.alert_count == 31)
        runs = [w async for w in env.client.list_workflows(f"WorkflowId = '{handle.id}'")]
        assert len(runs) >= 2, "the history passed the suggestion limit, so the incident continued as new"
        assert (await latest.describe()).run_id != handle.first_execution_run_id
        assert state.number == first.number and state.status == IncidentStatus.OPEN
        assert "history is long; continuing as a new run" in [e.what for e in state.timeline]
        assert state.timeline[: len(first.timeline)] == first.timeline

        await latest.signal(IncidentWorkflow.alert, detection(fingerprint=fingerprint, alert_id="a-1"))  # seen before
        await latest.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
        state = await wait_for(latest, lambda s: s.status == IncidentStatus.MONITORING)
        assert state.alert_count == 31 and state.acknowledged_by == "ian"
        assert [p.name for p in (home / "artefacts" / str(state.number)).glob("ticket*.json")] == ["ticket.json"]
