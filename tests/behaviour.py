"""Helpers for the workflow behaviour tests: open an acknowledged incident, play the SME, read artefacts."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from client.temporal import raise_detection
from playbook.config import load_playbook
from playbook.models import IncidentStatus, Role, Severity
from playbook.state import IncidentState
from playbook.watch import WatchInput, WatchResult
from tests.support import LocalContext, decision, detection, human, incident_worker, wait_for
from workflows.incident import IncidentWorkflow
from workflows.watch import WatchWorkflow

_STARTED: list[WorkflowHandle[Any, Any]] = []
QUIET_WAIT_SECONDS = 60.0  # how long a test's incidents get to finish their in-flight tasks before termination


_TASK_CLOSED = {EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT}
_ACTIVITY_CLOSED = {EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
                    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED}


async def _quiet(handle: WorkflowHandle[Any, Any]) -> bool:
    """No workflow task and no activity scheduled and not yet closed, read from one snapshot of the history.

    The time-skipping test server's describe lists pending activities but never a pending workflow task
    (temporalio/sdk-java at ee9abf08c, temporal-test-server TestWorkflowMutableStateImpl.describeWorkflowExecution),
    so between two activities, while the workflow task that schedules the next one runs, describe looked quiet.
    """
    tasks, activities = 0, set()
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            tasks += 1
        elif event.event_type in _TASK_CLOSED:
            tasks -= 1
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activities.add(event.event_id)
        elif event.event_type in _ACTIVITY_CLOSED:
            attributes = getattr(event, str(event.WhichOneof("attributes")))
            activities.discard(attributes.scheduled_event_id)
    return tasks <= 0 and not activities


async def _action_items_of(client: Client, handle: WorkflowHandle[Any, Any]) -> list[WorkflowHandle[Any, Any]]:
    """The ActionItemWorkflows an incident started: they outlive it, so they are cleaned up with it."""
    try:
        state = await handle.query(IncidentWorkflow.get_state)
    except Exception:  # noqa: BLE001 - not an incident, or its worker is gone: nothing to add
        return []
    if state.retrospective is None:
        return []
    return [client.get_workflow_handle(f"action-{state.number}-{seq}")
            for seq in range(1, len(state.retrospective.action_items) + 1)]


async def _terminate_started(client: Client | None = None) -> None:
    """Terminate the test's running incidents, each once it has no activity or workflow task in flight.

    The time-skipping test server stops its clock while a task is in flight, and a task of a workflow
    terminated under it can keep the clock stopped, stalling whichever test comes next.
    """
    while _STARTED:
        handle = _STARTED.pop()
        if client is not None:
            _STARTED.extend(await _action_items_of(client, handle))
        try:
            # Bounded by the clock, not by a count of reads: on a loaded machine a workflow task or an activity
            # can take seconds. Each holds the test server's time-skipping lock until it completes, and terminating
            # the workflow does not release it (TestWorkflowMutableStateImpl.terminateWorkflowExecution), so a
            # later env.sleep() waited in real time until its RPC timed out ("Timeout expired").
            deadline = asyncio.get_running_loop().time() + QUIET_WAIT_SECONDS
            quiet_reads = 0
            while quiet_reads < 2 and asyncio.get_running_loop().time() < deadline:
                quiet_reads = quiet_reads + 1 if await _quiet(handle) else 0
                await asyncio.sleep(0.02)
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test over")
        except RPCError:
            pass


@pytest_asyncio.fixture(autouse=True)
async def terminate_leftovers() -> AsyncIterator[None]:
    """Backstop for `worker`: terminate incidents a test left running. A workflow task nobody polls (or an
    activity whose worker went away) keeps the time-skipping test server from skipping time for the next test."""
    yield
    await _terminate_started()


@asynccontextmanager
async def worker(client: Client, task_queue: str, playbook: Path, home: Path,
                 replace: dict[str, Callable[..., Any]] | None = None) -> AsyncIterator[LocalContext]:
    """`incident_worker`, terminating the test's incidents while the worker still runs, so that no activity is
    left in flight when it stops (the test server would hold its clock until that activity timed out)."""
    async with incident_worker(client, task_queue, playbook, home, replace) as ctx:
        try:
            yield ctx
        finally:
            await _terminate_started(client)


def started(handle: WorkflowHandle[Any, Any]) -> WorkflowHandle[Any, Any]:
    """Have `terminate_leftovers` clean this incident up."""
    _STARTED.append(handle)
    return handle


async def open_incident(env: WorkflowEnvironment, task_queue: str, severity: Severity | None = None,
                        acknowledge: bool = True, **overrides: Any) -> tuple[WorkflowHandle[Any, Any], IncidentState]:
    """Raise a detection (at `severity` through the source's hint) and, by default, acknowledge it as ian."""
    det = detection(severity_hint=severity, **overrides)
    handle = started(await raise_detection(env.client, det, task_queue=task_queue))
    state = await wait_for(handle, lambda s: s.ticket is not None)
    if acknowledge:
        await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
        # Acknowledged, and the cadence has scheduled its first brief (when the severity has a cadence).
        state = await wait_for(handle, lambda s: s.status != IncidentStatus.OPEN and (
            s.next_brief_due is not None or _no_cadence(s)))
    return handle, state


def _no_cadence(state: IncidentState) -> bool:
    return state.playbook is not None and state.playbook.severity.levels[state.severity].cadence_minutes == 0


async def approve_briefs_until(handle: WorkflowHandle[Any, Any], env: WorkflowEnvironment, until: datetime,
                               step: timedelta = timedelta(minutes=3), by: str = "sam") -> list[str]:
    """Advance simulated time to `until` in small steps, approving every pending brief as the domain SME."""
    approved: list[str] = []
    while await env.get_current_time() < until:
        for req in await handle.query(IncidentWorkflow.pending_approvals):
            if req.request_id.startswith("brief-") and req.request_id not in approved:
                await handle.signal(IncidentWorkflow.approve, decision(req.request_id, by, Role.DOMAIN_SME))
                approved.append(req.request_id)
        await env.sleep(step)
    return approved


async def advance_to(env: WorkflowEnvironment, when: datetime) -> None:
    """Skip simulated time to `when` (no-op when it has passed)."""
    now = await env.get_current_time()
    if when > now:
        await env.sleep(when - now)


def near(when: datetime | None, expected: datetime, slack: timedelta = timedelta(seconds=30)) -> bool:
    """Equal up to the few simulated seconds activities take (timers are anchored on activity completions)."""
    return when is not None and abs(when - expected) <= slack


def whats(state: IncidentState) -> list[str]:
    return [e.what for e in state.timeline]


async def artefact_text(path: Path, holds: Callable[[str], bool], seconds: float = 60.0) -> str:
    """The artefact's text once `holds` of it. A query answers as soon as the workflow task that changed the state
    completes, before the activities that task scheduled have run: the ticket update that carries the findings
    comes after the findings are in the state. Polls for at most `seconds` of wall-clock time."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if holds(text) or asyncio.get_running_loop().time() > deadline:
            return text
        await asyncio.sleep(0.05)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def settle(handle: WorkflowHandle[Any, Any]) -> IncidentState:
    """Send a note and wait until it is on the timeline: every earlier signal has then been handled."""
    marker = f"settle-{uuid.uuid4().hex[:8]}"
    await handle.signal(IncidentWorkflow.add_note, human("ian", Role.INCIDENT_COMMANDER, marker))
    return await wait_for(handle, lambda s: any(e.details.get("text") == marker for e in s.timeline))


async def run_watch(env: WorkflowEnvironment, task_queue: str, name: str, playbook: Path) -> WatchResult:
    """One watch run, as a schedule tick would start it. Waiting on a result would let the test server skip time
    freely; the watch runs in milliseconds, so wait for it with the clock held and skip time explicitly. (The test
    server does not skip an activity's retry backoff either: a failing read costs its 1 s + 2 s of waiting.)"""
    watcher = load_playbook(playbook)[0].watchers[name]
    with env.auto_time_skipping_disabled():
        return await env.client.execute_workflow(
            WatchWorkflow.run, WatchInput(name=name, watcher=watcher, incident_task_queue=task_queue),
            id=f"watch-{name}-{uuid.uuid4().hex[:6]}", task_queue=task_queue)
