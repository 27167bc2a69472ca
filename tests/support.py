"""Test helpers: a playbook for tests, a worker with the real activities, a recording HTTP server."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, TypeVar

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import all_activities
from activities.context import ActivityContext
from embedded.binaries import temporal_test_server
from integrations.artefacts import ArtefactStore
from playbook import search_attributes as sa
from playbook.models import Decision, Detection, HumanAction, Role, SignalKind
from playbook.state import IncidentState
from tests.ports import free_port  # noqa: F401  (tests import it from here)
from worker import build_worker
from workflows.action_items import ActionItemWorkflow
from workflows.incident import IncidentWorkflow

ROSTER = """
[roster.people.ian]
name = "Ian Commander"
roles = ["incident_commander"]
backup = "bea"
[roster.people.bea]
name = "Bea Backup"
roles = ["incident_commander", "ai_ops"]
backup = "ian"
[roster.people.olu]
name = "Olu Ops"
roles = ["ai_ops"]
backup = "bea"
[roster.people.sam]
name = "Sam Expert"
roles = ["domain_sme"]
backup = "cat"
[roster.people.cat]
name = "Cat Comms"
roles = ["communications", "domain_sme"]
"""


async def time_skipping_env() -> WorkflowEnvironment:
    """The time-skipping test server, with Firebreak's search attributes registered (the tests' and the recorder's)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=temporal_test_server(), data_converter=pydantic_data_converter)
    await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=env.client.namespace,
        search_attributes={k.name: IndexedValueType.ValueType(int(k.indexed_value_type)) for k in sa.ALL}))
    return env


def write_playbook(directory: Path, body: str = "", roster: str = ROSTER) -> Path:
    path = directory / "playbook.toml"
    path.write_text(roster + "\n" + body, encoding="utf-8")
    return path


def detection(**overrides: Any) -> Detection:
    values: dict[str, Any] = {"source": "test", "kind": SignalKind.TOXICITY, "services": ["support-bot"],
                              "summary": "toxic answers", "metrics": {"toxicity_p95": 0.91}, "deploy_id": "d-123",
                              "fingerprint": f"fp-{uuid.uuid4().hex[:8]}", "alert_id": "a-1"}
    values.update(overrides)
    return Detection(**values)


@dataclass(frozen=True)
class LocalContext(ActivityContext):
    """The activities' context on the directory store, whose files the tests read where they are."""

    store: ArtefactStore


@asynccontextmanager
async def incident_worker(client: Client, task_queue: str, playbook: Path, home: Path,
                          replace: dict[str, Callable[..., Any]] | None = None) -> AsyncIterator[LocalContext]:
    """A worker with the real activities; `replace` swaps activities by name (e.g. to inject a failure)."""
    ctx = LocalContext(store=ArtefactStore(home / "artefacts"), playbook_path=playbook)
    if not replace:
        async with build_worker(client, ctx, task_queue=task_queue):
            yield ctx
        return
    acts = [a for a in all_activities(ctx) if a.__temporal_activity_definition.name not in replace]  # type: ignore
    with ThreadPoolExecutor(8) as executor:  # the real activities are synchronous
        async with Worker(client, task_queue=task_queue, workflows=[IncidentWorkflow, ActionItemWorkflow],
                          activities=[*acts, *replace.values()], activity_executor=executor):
            yield ctx


async def state_of(handle: WorkflowHandle[Any, Any]) -> IncidentState:
    return await handle.query(IncidentWorkflow.get_state)


async def wait_for(handle: WorkflowHandle[Any, Any], predicate: Callable[[IncidentState], bool],
                   env: WorkflowEnvironment | None = None, step: timedelta = timedelta(seconds=1),
                   attempts: int = 200) -> IncidentState:
    """Poll the state query until predicate holds; with a time-skipping env, let `step` of time pass between."""
    import asyncio

    for _ in range(attempts):
        state = await state_of(handle)
        if predicate(state):
            return state
        if env is not None:
            await env.sleep(step)
        else:
            await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met; last state: status={state.status} step={state.step} "
                         f"pending={[a.request_id for a in state.pending_approvals()]} "
                         f"timeline tail={[e.what for e in state.timeline[-5:]]}")


async def activity_types(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The activities a run called, in order: scheduled ones, and local ones (light-runs-v1), which the history
    holds as core's `core_local_activity` markers with the activity type in their `data` (sdk-core's
    LocalActivityMarkerData, JSON)."""
    names: list[str] = []
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            names.append(event.activity_task_scheduled_event_attributes.activity_type.name)
        elif event.marker_recorded_event_attributes.marker_name == "core_local_activity":
            data = event.marker_recorded_event_attributes.details["data"].payloads[0].data
            names.append(json.loads(data)["activity_type"])
    return names


def human(by: str, role: Role, comment: str = "") -> HumanAction:
    return HumanAction(by=by, role=role, comment=comment, action_id=str(uuid.uuid4()))


def decision(request_id: str, by: str, role: Role, comment: str = "") -> Decision:
    return Decision(request_id=request_id, by=by, role=role, comment=comment, action_id=str(uuid.uuid4()))


def stop_process(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    """Ctrl-C a process we started, as a person would; kill it if it does not stop in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=5)


class FakeServer:
    """A fake of some HTTP API on 127.0.0.1: a threaded server whose handler calls `self.handle(method, path,
    headers, body)` (serve it with `serving`)."""

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, ctype, payload, *extra = outer.handle(self.command, self.path, dict(self.headers), body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, method: str, path: str, headers: dict[str, str],
               body: bytes) -> tuple[Any, ...]:  # pragma: no cover - overridden
        """(status, content type, payload) or (..., extra headers)."""
        raise NotImplementedError


class Recorder:
    """A small HTTP server on 127.0.0.1 that records requests and answers with a configured status."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                recorder.requests.append({"method": self.command, "path": self.path,
                                          "headers": dict(self.headers), "body": body})
                payload = json.dumps({"ok": recorder.status < 300}).encode()
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


class _Serves(Protocol):
    server: ThreadingHTTPServer


Served = TypeVar("Served", bound=_Serves)


@contextmanager
def serving(fake: Served, poll_interval: float = 0.5) -> Iterator[Served]:
    """Serve `fake.server` (a fake of some HTTP API on 127.0.0.1) on a thread for the block, then close it."""
    thread = threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


def recorder() -> AbstractContextManager[Recorder]:
    return serving(Recorder())
