"""The workflow sandbox: fast in production (workflow code passed through), still catching non-determinism.

The worker passes workflows/ and playbook/ through the sandbox by package prefix (worker.PASSED_THROUGH), so a
cached incident no longer re-imports its rooms. The SDK does not check calls made inside passed-through modules,
so the tests run every worker with FIREBREAK_STRICT_SANDBOX=1 (tests/conftest.py), which re-imports those modules
per run and checks each call; tests/test_replay.py replays every history both ways.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker, WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import RestrictedWorkflowAccessError

import settings
import worker
from tests.sandbox_commands import Child, EveryCommand, shout
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


class _BothAnswers(worker._DirectContextInstance):
    """Answers as the worker's sandbox does, and records whether the SDK's own answer (asked inside the
    sandbox, as SandboxedWorkflowRunner does) was the same."""

    asked: list[tuple[object, object, object]] = []

    def get_serialization_context(self, command_info):  # type: ignore[no-untyped-def]
        direct = super().get_serialization_context(command_info)
        self.asked.append((command_info, direct, worker.SandboxedInstance.get_serialization_context(self,
                                                                                                  command_info)))
        return direct

    def get_external_store_context(self, command_info):  # type: ignore[no-untyped-def]
        direct = super().get_external_store_context(command_info)
        self.asked.append((command_info, direct, worker.SandboxedInstance.get_external_store_context(self,
                                                                                                   command_info)))
        return direct


@dataclass(frozen=True)
class _ComparingSandbox(worker.FirebreakSandbox):
    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _BothAnswers(det, self.runner_class, self.restrictions)


async def test_payload_contexts_looked_up_directly_are_the_sdks_own(ts_env: WorkflowEnvironment) -> None:
    """worker.FirebreakSandbox answers the SDK's payload-context question without entering the sandbox; for a
    local activity, an activity, a child workflow, a timer, a memo, a signal and a result it answers what the
    SDK's sandbox answers."""
    _BothAnswers.asked.clear()
    queue = f"contexts-{uuid.uuid4()}"
    runner = _ComparingSandbox(restrictions=worker.workflow_runner().restrictions)
    async with Worker(ts_env.client, task_queue=queue, workflows=[EveryCommand, Child], activities=[shout],
                      activity_executor=ThreadPoolExecutor(2), workflow_runner=runner):
        handle = await ts_env.client.start_workflow(EveryCommand.run, "hi", id=f"every-{uuid.uuid4()}",
                                                    task_queue=queue)
        await handle.signal(EveryCommand.hear, "a signal")
        assert await handle.result() == ["HI", "HI", "child saw HI", "a signal"]
    differing = [(info, direct, sdk) for info, direct, sdk in _BothAnswers.asked if direct != sdk]
    assert not differing
    contexts = [direct for _, direct, _ in _BothAnswers.asked]
    activities = [c for c in contexts if isinstance(c, ActivitySerializationContext)]
    assert {c.is_local for c in activities} == {True, False}  # the local activity's and the activity's own
    assert any(isinstance(c, WorkflowSerializationContext) and c.workflow_id.endswith("-child") for c in contexts)
    assert any(info is None for info, _, _ in _BothAnswers.asked)  # the signal, the result: the workflow's own
