"""Stateless workers, shown: two `firebreak worker` processes with homes of their own share one PostgreSQL store.

A storm opens incidents over many services at once; one worker is killed with SIGKILL halfway. Every incident
still closes, the numbers are unique and gap-free, each incident has one ticket and its page logged once,
neither worker's home holds an artefact, and the CLI (`firebreak report`) reads every incident's retrospective
from a third, empty home.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import uuid
from pathlib import Path

import psycopg
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from client.temporal import raise_detection
from integrations.pgstore import PostgresStore
from integrations.store import read_lines
from playbook.models import IncidentStatus, Resolution, RetrospectiveNotes, Role
from playbook.state import IncidentState
from tests.servers.postgres import PostgresServer
from tests.support import detection, human, write_playbook
from tests.test_crash_restart import FIREBREAK, kill_9, poll, worker_processes
from workflows.incident import IncidentWorkflow

SERVICES = [f"svc-{i:02d}" for i in range(8)]


async def _close(handle: WorkflowHandle[IncidentWorkflow, IncidentState]) -> IncidentState:
    """Acknowledge, resolve and finish the review of one incident; its final state."""
    await poll(handle, lambda s: s.ticket is not None, seconds=90)
    await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
    await poll(handle, lambda s: s.status == IncidentStatus.MONITORING, seconds=90)
    await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER, comment="ok"))
    await poll(handle, lambda s: s.retrospective_path is not None, seconds=90)
    await handle.signal(IncidentWorkflow.retrospective_done, RetrospectiveNotes(
        by="ian", role=Role.INCIDENT_COMMANDER, root_cause="storm", contributing_factors=[],
        preventative_actions=[]))
    summary = await asyncio.wait_for(handle.result(), timeout=90)
    assert summary.status == IncidentStatus.CLOSED
    return await handle.query(IncidentWorkflow.get_state)


async def test_two_workers_one_killed_share_one_store(dev_env: WorkflowEnvironment, postgres: PostgresServer,
                                                      tmp_path: Path) -> None:
    url = postgres.url(f"storm_{uuid.uuid4().hex[:8]}")
    playbook = write_playbook(tmp_path, '[approvals]\ndefault = "auto"\n')
    queue = f"storm-{uuid.uuid4()}"
    base = {**os.environ, "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "FIREBREAK_PLAYBOOK": str(playbook), "FIREBREAK_TASK_QUEUE": queue, "FIREBREAK_DATABASE_URL": url}
    # The workers keep their sticky cache, as deployed: the server moves a killed worker's incidents to the other
    # after 5 s. (With no cache, each of the test's queries would evict an incident and cancel the quick step it
    # runs in the worker, a local activity, which then runs again: under load, again and again.)
    homes = [tmp_path / "a" / "home", tmp_path / "b" / "home"]
    for home in homes:
        home.parent.mkdir()  # the worker logs go beside the home
    with worker_processes({**base, "FIREBREAK_HOME": str(homes[0])}) as start_a, \
            worker_processes({**base, "FIREBREAK_HOME": str(homes[1])}) as start_b:
        doomed, _ = start_a(), start_b()
        handles = await asyncio.gather(*(raise_detection(dev_env.client, detection(services=[s]), task_queue=queue)
                                         for s in SERVICES))
        closing = [asyncio.create_task(_close(h)) for h in handles]
        shared = PostgresStore(url)
        try:
            async with asyncio.timeout(60):  # halfway: half of the storm has its ticket
                while len([n for n in shared.list_files() if n.endswith("/ticket.json")]) < len(SERVICES) // 2:
                    await asyncio.sleep(0.1)
            kill_9(doomed)
            finals = await asyncio.gather(*closing)
        finally:
            for task in closing:
                task.cancel()
            for h in handles:
                with contextlib.suppress(RPCError):  # closed already
                    await h.terminate("test over")

    assert all(s.status == IncidentStatus.CLOSED for s in finals)
    numbers = sorted(str(s.number) for s in finals)
    year = numbers[0].split("-")[1]
    assert numbers == [f"INC-{year}-{i:04d}" for i in range(1, len(SERVICES) + 1)]  # unique, gap-free
    store = PostgresStore(url)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM incident_numbers").fetchone() == (len(SERVICES),)
    for state in finals:
        files = store.list_files(str(state.number))
        assert [f for f in files if f.endswith("ticket.json")] == [f"{state.number}/ticket.json"]
        # One page per incident, logged once though its worker may have died mid-way and the step re-ran.
        # (Briefs fall due on the severity's cadence, whole minutes of real time on a dev server: none here.)
        pages = read_lines(store, f"{state.number}/notifications.jsonl")
        assert len(pages) == len({p["key"] for p in pages}) >= 1, pages
        assert state.briefs_sent == 0 and not [f for f in files if "/comms/" in f]
    for home in homes:
        assert not (home / "artefacts").exists()  # nothing on either worker's disk

    third = {**base, "FIREBREAK_HOME": str(tmp_path / "c" / "home")}
    report = subprocess.run([FIREBREAK, "report", "--json"], env=third, capture_output=True, text=True, timeout=60)
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["incidents"] == len(SERVICES)  # every retrospective, read from PostgreSQL
    # (`firebreak export` from an empty home: tests/test_store.py)
    assert not (tmp_path / "c" / "home").exists()
