"""Crashes and restarts: a real worker process killed with SIGKILL in the middle of a step, and the embedded dev
server stopped and started again under an open incident.

The receivers here honour the Idempotency-Key the way a control plane or a chat bridge should: the first request
with a key acts (and is held open, so the worker dies with it in flight); a later request with the same key
answers "already done" without acting again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from client.temporal import raise_detection
from embedded.binaries import temporal_cli
from playbook import search_attributes as sa
from playbook.models import IncidentStatus, Role, Severity
from playbook.state import IncidentState
from tests.behaviour import _terminate_started, read_jsonl, started
from tests.support import (
    decision,
    detection,
    free_port,
    human,
    incident_worker,
    serving,
    stop_process,
    write_playbook,
)
from workflows.incident import IncidentWorkflow

FIREBREAK = str(Path(sys.executable).parent / "firebreak")
HTTP_TIMEOUT = 2  # the action's / channel's timeout_seconds: a lost attempt is retried after 2 + 5 s


class IdempotentReceiver:
    """127.0.0.1 HTTP server: acts once per Idempotency-Key, holding that first request open until released."""

    def __init__(self) -> None:
        self.requests: list[str] = []  # the Idempotency-Key of every request, in order
        self.acted: Counter[str] = Counter()  # keys acted on (acknowledged as done)
        self.first_arrived = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = self.headers.get("Idempotency-Key", "")
                receiver.requests.append(key)
                duplicate = receiver.acted[key] > 0
                if not duplicate:
                    receiver.acted[key] += 1
                    receiver.first_arrived.set()
                    receiver.release.wait(timeout=60)  # in flight until the test releases it (bounded)
                body = json.dumps({"ok": True, "duplicate": duplicate}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the caller died while we held its request

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@contextmanager
def idempotent_receiver() -> Iterator[IdempotentReceiver]:
    with serving(IdempotentReceiver()) as rec:
        try:
            yield rec
        finally:
            rec.release.set()  # let a held request finish before the server shuts down


def worker_env(address: str, tmp_path: Path, playbook: Path) -> dict[str, str]:
    return {**os.environ, "TEMPORAL_ADDRESS": address, "FIREBREAK_HOME": str(tmp_path / "home"),
            "FIREBREAK_PLAYBOOK": str(playbook), "FIREBREAK_TASK_QUEUE": f"crash-{uuid.uuid4()}"}


@contextmanager
def worker_processes(env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `firebreak worker` processes on demand; any still running at the end get SIGINT (then SIGKILL)."""
    procs: list[subprocess.Popen[str]] = []

    def start(extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
        log = Path(env["FIREBREAK_HOME"]).parent / f"worker-{len(procs)}.log"
        with log.open("w") as out:
            proc = subprocess.Popen([FIREBREAK, "worker"], env={**env, **(extra or {})}, stdout=out,
                                    stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
        procs.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in procs:
            stop_process(proc)


def kill_9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


async def poll(handle: WorkflowHandle[Any, Any], predicate: Callable[[IncidentState], bool],
               seconds: float = 60) -> IncidentState:
    """Wall-clock poll of the state query (a worker process may still be starting), bounded by `seconds`."""
    deadline = time.monotonic() + seconds
    state: IncidentState | None = None
    error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            state = await handle.query(IncidentWorkflow.get_state, rpc_timeout=timedelta(seconds=2))
            if predicate(state):
                return state
        except Exception as err:  # noqa: BLE001 - no worker polling yet: the query fails until one is
            error = err
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met in {seconds}s; last state: "
                         f"{state and [e.what for e in state.timeline[-5:]]}; last error: {error!r}; "
                         f"{(await handle.describe()).raw_description.pending_activities}"
                         f"{[EventType.Name(e.event_type)[11:] for e in (await handle.fetch_history()).events][-12:]}")


async def wait_until(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def tickets(home: Path) -> list[Path]:
    return sorted((home / "artefacts").glob("*/ticket.json"))


async def test_killed_while_an_http_action_is_in_flight(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    with idempotent_receiver() as control_plane:
        playbook = write_playbook(tmp_path, f"""
[approvals]
default = "auto"
[actions.block_endpoint]
kind = "http"
url = "{control_plane.url}/block/${{service}}"
body = '{{"incident": "${{incident_number}}"}}'
timeout_seconds = {HTTP_TIMEOUT}
[services."*"]
stabilise = ["block_endpoint"]
[tickets]
number_prefix = "K{uuid.uuid4().hex[:6].upper()}"
""")
        env = worker_env(dev_env.client.service_client.config.target_host, tmp_path, playbook)
        home = tmp_path / "home"
        with worker_processes(env) as start_worker:
            first = start_worker()
            handle = await raise_detection(dev_env.client, detection(), task_queue=env["FIREBREAK_TASK_QUEUE"])
            try:
                await poll(handle, lambda s: s.ticket is not None)
                await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
                await wait_until(control_plane.first_arrived.is_set)
                kill_9(first)  # the action's request is in flight at the control plane
                control_plane.release.set()
                started_again = time.monotonic()
                start_worker()
                state = await poll(handle, lambda s: any(m.action == "block_endpoint" for m in s.mitigations))
                recovered_in = time.monotonic() - started_again
            finally:
                await handle.terminate("test over")

    assert [(m.action, m.outcome) for m in state.mitigations] == [("block_endpoint", "done")]
    assert len(control_plane.requests) == 2 and len(set(control_plane.requests)) == 1  # retried with one key
    assert list(control_plane.acted.values()) == [1]  # ... and acted on once
    assert [p.parent.name for p in tickets(home)] == [state.number]
    assert len(read_jsonl(home / "artefacts" / str(state.number) / "actions.jsonl")) == 1
    # The lost attempt timed out after the action's own timeout plus the margin, not the old 2 minutes.
    assert recovered_in < 45, recovered_in  # measured ~18 s: 7 s timeout, retry, 5 s sticky fallback


async def test_killed_while_a_brief_is_sent_to_a_webhook(ts_env: WorkflowEnvironment, tmp_path: Path) -> None:
    with idempotent_receiver() as stakeholders:
        playbook = write_playbook(tmp_path, f"""
[channels.stakeholders]
kind = "webhook"
url = "{stakeholders.url}/briefs"
timeout_seconds = {HTTP_TIMEOUT}
[communicate]
channels = ["stakeholders"]
""")
        env = worker_env(ts_env.client.service_client.config.target_host, tmp_path, playbook)
        home = tmp_path / "home"
        with worker_processes(env) as start_worker:
            # A real server moves a dead worker's sticky workflow tasks back to the task queue after 5 s; the
            # time-skipping test server never does, so the worker that is killed here keeps no sticky cache.
            first = start_worker({"FIREBREAK_WORKER_MAX_CACHED_WORKFLOWS": "0"})
            handle = started(await raise_detection(ts_env.client, detection(severity_hint=Severity.SEV1),
                                                   task_queue=env["FIREBREAK_TASK_QUEUE"]))
            await poll(handle, lambda s: s.ticket is not None)
            await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
            await poll(handle, lambda s: s.next_brief_due is not None)
            for _ in range(30):  # simulated time: the first brief is due after SEV1's 30 minutes
                state = await handle.query(IncidentWorkflow.get_state)
                if any(a.request_id == "brief-1" for a in state.pending_approvals()):
                    break
                await ts_env.sleep(timedelta(minutes=2))
            await handle.signal(IncidentWorkflow.approve, decision("brief-1", "sam", Role.DOMAIN_SME))
            await wait_until(stakeholders.first_arrived.is_set)
            kill_9(first)  # the brief's webhook request is in flight
            stakeholders.release.set()
            start_worker()
            state = await poll(handle, lambda s: s.briefs_sent == 1 and any(
                e.what.startswith("brief #1 sent") for e in s.timeline))
            await _terminate_started()  # while the new worker runs, so nothing is left in flight

    assert [e.what for e in state.timeline if e.what.startswith("brief #1 sent")] == [
        "brief #1 sent to archive, stakeholders"]
    assert len(stakeholders.requests) == 2 and len(set(stakeholders.requests)) == 1
    assert list(stakeholders.acted.values()) == [1]
    comms = home / "artefacts" / str(state.number) / "comms"
    archive = read_jsonl(comms / "archive.jsonl")
    assert sorted((r["seq"], r["channel"]) for r in archive) == [(1, "archive"), (1, "stakeholders")]
    assert [p.name for p in comms.glob("*-brief.md")] == ["0001-brief.md"]
    assert [p.parent.name for p in tickets(home)] == [state.number]


async def _start_dev_server(db: Path, port: int) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), dev_server_database_filename=str(db), port=port,
        ui=False, search_attributes=sa.ALL, data_converter=pydantic_data_converter,
        dev_server_extra_args=["--dynamic-config-value", "system.forceSearchAttributesCacheRefreshOnRead=true"])


async def _open_timers(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The summaries of timers started and neither fired nor cancelled, from the workflow's history."""
    started_timers: dict[str, str] = {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            attrs = event.timer_started_event_attributes
            summary = (await pydantic_data_converter.decode([event.user_metadata.summary]))[0] \
                if event.user_metadata.HasField("summary") else ""
            started_timers[attrs.timer_id] = str(summary)
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            started_timers.pop(event.timer_fired_event_attributes.timer_id, None)
        elif event.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            started_timers.pop(event.timer_canceled_event_attributes.timer_id, None)
    return sorted(started_timers.values())


async def test_dev_server_restart_keeps_pending_approval_and_cadence(tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path, """
[actions.rollback_prompt]
kind = "manual"
instructions = "Roll ${service} back"
[services."*"]
stabilise = ["rollback_prompt"]
""")
    db, port, home, tq = tmp_path / "temporal.db", free_port(), tmp_path / "home", f"restart-{uuid.uuid4()}"
    env = await _start_dev_server(db, port)
    try:
        async with incident_worker(env.client, tq, playbook, home):
            handle = await raise_detection(env.client, detection(severity_hint=Severity.SEV1), task_queue=tq)
            await poll(handle, lambda s: s.ticket is not None)
            await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
            before = await poll(handle, lambda s: s.next_brief_due is not None and any(
                a.request_id == "stabilise-1" for a in s.pending_approvals()))
            # The approval's deadline timer starts once the approver has been paged (an activity later).
            for _ in range(200):
                timers_before = await _open_timers(handle)
                if "approval stabilise-1 deadline" in timers_before:
                    break
                await asyncio.sleep(0.05)
    finally:
        await env.shutdown()

    env = await _start_dev_server(db, port)
    try:
        handle = env.client.get_workflow_handle(handle.id)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        async with incident_worker(env.client, tq, playbook, home):
            after = await poll(handle, lambda s: True)
            assert [a.request_id for a in after.pending_approvals()] == ["stabilise-1"]
            assert after.next_brief_due == before.next_brief_due
            # The cadence timer the first server started is still pending on the second.
            assert timers_before == ["approval stabilise-1 deadline", "brief #1 due"]
            assert await _open_timers(handle) == timers_before
            await handle.signal(IncidentWorkflow.approve, decision("stabilise-1", "olu", Role.AI_OPS))
            done = await poll(handle, lambda s: any(m.action == "rollback_prompt" for m in s.mitigations))
            assert [(m.action, m.outcome) for m in done.mitigations] == [("rollback_prompt", "done")]
            assert done.status != IncidentStatus.OPEN and done.next_brief_due == before.next_brief_due
            await handle.terminate("test over")
    finally:
        await env.shutdown()
