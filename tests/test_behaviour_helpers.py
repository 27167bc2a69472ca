"""The behaviour tests' cleanup terminates an incident only once nothing of it is in flight on the time-skipping
test server: a workflow task or an activity terminated under it keeps the server's clock locked, and the next
`env.sleep()` then waits in real time until its RPC times out (seen as "Timeout expired" on a loaded machine)."""

from __future__ import annotations

import asyncio
import uuid

from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.behaviour import _quiet


@workflow.defn(name="QuietProbe")
class QuietProbe:
    """Waits for nothing: once its first workflow task is done, nothing of it is in flight."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


async def test_a_workflow_task_nobody_has_completed_is_in_flight(ts_env: WorkflowEnvironment) -> None:
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    handle = await ts_env.client.start_workflow(QuietProbe.run, id=f"probe-{uuid.uuid4().hex[:8]}", task_queue=queue)
    # No worker yet: its first workflow task is scheduled and open, though describe lists nothing pending.
    assert not (await handle.describe()).raw_description.pending_activities
    assert not await _quiet(handle)
    # Unsandboxed: the sandbox would re-import this module and with it every test helper.
    async with Worker(ts_env.client, task_queue=queue, workflows=[QuietProbe],
                      workflow_runner=UnsandboxedWorkflowRunner()):
        for _ in range(400):  # bounded: the worker completes the task within seconds even on a loaded machine
            if await _quiet(handle):
                break
            await asyncio.sleep(0.05)
        assert await _quiet(handle)
        await handle.terminate("test over")
