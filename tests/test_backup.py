"""`firebreak backup` / `restore`: a running embedded stack (dev server on its SQLite file in the home, a worker on
the home's artefact store) is backed up while it runs, stopped, restored into a fresh home and started again: the
open incident's pending approval can be approved and its cadence timer fires.

The cadence is the playbook's shortest (SEV1 at one minute: the schema counts whole minutes and a dev server
cannot skip time), so this test waits for that minute of wall clock once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus

from client.temporal import raise_detection
from embedded.backup import BackupError, backup, restore
from playbook.models import IncidentStatus, Role, Severity
from tests.support import decision, detection, free_port, human, incident_worker, write_playbook
from tests.test_crash_restart import _open_timers, _start_dev_server, poll
from workflows.incident import IncidentWorkflow

FIREBREAK = str(Path(sys.executable).parent / "firebreak")


def firebreak(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIREBREAK_HOME": str(home)}
    env.pop("FIREBREAK_DATABASE_URL", None)
    return subprocess.run([FIREBREAK, *args], env=env, capture_output=True, text=True, timeout=60)


async def test_restored_home_carries_on_with_its_approval_and_timer(tmp_path: Path) -> None:
    playbook = write_playbook(tmp_path, """
[severity.levels.SEV1]
cadence_minutes = 1
ack_timeout_minutes = 5
[actions.rollback_prompt]
kind = "manual"
instructions = "Roll ${service} back"
[services."*"]
stabilise = ["rollback_prompt"]
""")
    old, new, saved = tmp_path / "old-home", tmp_path / "new-home", tmp_path / "backup"
    port, tq = free_port(), f"backup-{uuid.uuid4()}"
    old.mkdir()
    env = await _start_dev_server(old / "temporal.db", port)
    try:
        async with incident_worker(env.client, tq, playbook, old):
            handle = await raise_detection(env.client, detection(severity_hint=Severity.SEV1), task_queue=tq)
            await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
            before = await poll(handle, lambda s: s.ticket is not None and s.next_brief_due is not None and any(
                a.request_id == "stabilise-1" for a in s.pending_approvals()))
            timers = await _open_timers(handle)
            assert "brief #1 due" in timers
            made = firebreak(old, "backup", str(saved))  # while the server and the worker run
            assert made.returncode == 0, made.stderr
    finally:
        await env.shutdown()
    ticket = f"artefacts/{before.number}/ticket.json"
    manifest = json.loads((saved / "backup.json").read_text())
    assert ticket in [f["path"] for f in manifest["files"]]

    refused = firebreak(old, "restore", str(saved))  # not a fresh home
    assert refused.returncode == 1 and "already holds Firebreak state" in refused.stderr
    restored = firebreak(new, "restore", str(saved))
    assert restored.returncode == 0, restored.stderr
    assert json.loads((new / ticket).read_text()) == json.loads((old / ticket).read_text())

    env = await _start_dev_server(new / "temporal.db", port)
    try:
        handle = env.client.get_workflow_handle(handle.id)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        async with incident_worker(env.client, tq, playbook, new):
            after = await poll(handle, lambda s: True)
            assert [a.request_id for a in after.pending_approvals()] == ["stabilise-1"]
            assert after.next_brief_due == before.next_brief_due
            await handle.signal(IncidentWorkflow.approve, decision("stabilise-1", "olu", Role.AI_OPS))
            done = await poll(handle, lambda s: any(m.action == "rollback_prompt" for m in s.mitigations))
            assert [(m.action, m.outcome) for m in done.mitigations] == [("rollback_prompt", "done")]
            assert done.status != IncidentStatus.OPEN
            # The cadence timer started before the backup fires on the restored server.
            briefed = await poll(handle, lambda s: any(e.what.startswith("brief #1") for e in s.timeline), 90)
            assert briefed.brief_seq >= 1 or any(e.what == "brief #1 drafted" for e in briefed.timeline)
            await handle.terminate("test over")
    finally:
        await env.shutdown()


def test_a_damaged_backup_or_a_home_without_a_database_is_refused(tmp_path: Path) -> None:
    home, saved = tmp_path / "home", tmp_path / "backup"
    (home / "artefacts" / "INC-2026-0001").mkdir(parents=True)
    (home / "artefacts" / "INC-2026-0001" / "ticket.json").write_text("{}")
    sqlite3.connect(home / "temporal.db").execute("CREATE TABLE t (x)").connection.commit()
    backup(home, saved)
    (saved / "home" / "artefacts" / "INC-2026-0001" / "ticket.json").write_text('{"changed": true}')
    with pytest.raises(BackupError, match="damaged"):
        restore(saved, tmp_path / "fresh")
    assert not (tmp_path / "fresh" / "temporal.db").exists()
    with pytest.raises(BackupError, match="no Temporal dev server database"):
        backup(tmp_path / "empty", tmp_path / "b2")
