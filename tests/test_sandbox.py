"""The workflow sandbox: fast in production (workflow code passed through), still catching non-determinism.

The worker passes workflows/ and playbook/ through the sandbox by package prefix (worker.PASSED_THROUGH), so a
cached incident no longer re-imports its rooms. The SDK does not check calls made inside passed-through modules,
so the tests run every worker with FIREBREAK_STRICT_SANDBOX=1 (tests/conftest.py), which re-imports those modules
per run and checks each call; tests/test_replay.py replays every history both ways.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError

import settings
import worker
from tests.sandbox_probe import ClockInARoom

ROOM = "tests.sandbox_probe"


def test_the_rooms_are_passed_through_by_package_prefix() -> None:
    passed = worker.workflow_runner(strict=False).restrictions.passthrough_modules
    assert {"workflows", "playbook"} <= passed  # a prefix covers every module added under it later
    assert not {"workflows", "playbook"} & worker.workflow_runner(strict=True).restrictions.passthrough_modules


def test_the_tests_run_the_strict_sandbox() -> None:
    assert settings.strict_sandbox()
    assert "workflows" not in worker.workflow_runner().restrictions.passthrough_modules


async def run_probe(env: WorkflowEnvironment, strict: bool) -> str:
    queue = f"sandbox-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=queue, workflows=[ClockInARoom],
                      workflow_runner=worker.workflow_runner(strict=strict),
                      workflow_failure_exception_types=[RestrictedWorkflowAccessError]):
        return await env.client.execute_workflow(ClockInARoom.run, id=f"probe-{uuid.uuid4()}", task_queue=queue)


async def test_the_strict_sandbox_fails_a_wall_clock_read_in_a_passed_through_room(
        ts_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "PASSED_THROUGH", (*worker.PASSED_THROUGH, ROOM))  # the probe is one of the rooms
    # Passed through, the SDK lets the call run (this is why the tests run strict) ...
    assert datetime.fromisoformat(await run_probe(ts_env, strict=False))
    # ... and the strict sandbox, what every test's worker runs, fails the workflow naming the call.
    with pytest.raises(WorkflowFailureError) as failed:
        await run_probe(ts_env, strict=settings.strict_sandbox())
    assert "datetime.datetime.now" in str(failed.value.cause)
