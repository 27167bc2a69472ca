"""The audit log: people's actions through the intake's HTTP routes and Slack buttons (real uvicorn, real dev
server, real worker), token issue and revoke and export through real `firebreak` subprocesses, the playbook seen
at start, and `firebreak audit` reading them back with its filters."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
from temporalio.testing import WorkflowEnvironment

from activities.context import ActivityContext
from integrations import audit
from integrations.artefacts import ArtefactStore
from integrations.pgstore import PostgresStore
from tests.behaviour import terminate_leftovers  # noqa: F401  (autouse)
from tests.intake.support import bearer
from tests.intake.test_people import open_incident, people_api, press
from tests.servers.postgres import PostgresServer
from tests.support import incident_worker, wait_for, write_playbook

FIREBREAK = str(Path(sys.executable).parent / "firebreak")
HERE = f"cli {getpass.getuser()}@{socket.gethostname()}"


def firebreak(home: Path, playbook: Path, *args: str, user: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FIREBREAK_HOME": str(home), "FIREBREAK_PLAYBOOK": str(playbook), "FIREBREAK_USER": user}
    env.pop("FIREBREAK_DATABASE_URL", None)
    return subprocess.run([FIREBREAK, *args], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


async def test_actions_through_http_and_slack_are_audited_with_where_they_came_from(
        dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    async with people_api(dev_env, task_queue, tmp_path) as (api, tokens, playbook):
        ian, _ = tokens.issue("ian")
        async with incident_worker(dev_env.client, task_queue, playbook, home):
            handle, number = await open_incident(dev_env, task_queue)
            r = await api.http.post(f"/v1/incidents/{number}/acknowledge", headers=bearer(ian))
            assert r.status_code == 200, r.text
            await wait_for(handle, lambda s: bool(s.pending_approvals()))
            status, body, _ = await press(api, "U0OLU", f"approve|{number}|stabilise-1")
            assert status == 200, body
            noted = firebreak(home, playbook, "--address", dev_env.client.service_client.config.target_host,
                              "note", number, "private words", "--as", "ian", "--role", "incident_commander")
            assert noted.returncode == 0, noted.stderr
            await handle.terminate("test over")

    events = audit.events(ArtefactStore(home / "artefacts"), incident=number)
    assert [(e["what"], e["who"], e["origin"]) for e in events] == [
        ("acknowledge", "ian", "http 127.0.0.1"), ("approve", "olu", "slack user U0OLU via http 127.0.0.1"),
        ("add_note", "ian", HERE)]
    assert "private words" not in (home / "artefacts" / audit.LOG).read_text()
    assert events[1]["details"]["request_id"] == "stabilise-1" and events[1]["details"]["workflow_id"] == handle.id
    assert "comment" not in events[1]["details"]  # what people write stays in the incident's history

    shown = firebreak(home, playbook, "audit", "--incident", number, "--who", "olu", "--json")
    assert shown.returncode == 0, shown.stderr
    assert [e["what"] for e in json.loads(shown.stdout)] == ["approve"]
    table = firebreak(home, playbook, "audit", "--since", "1h")
    assert "slack user U0OLU" in table.stdout and number in table.stdout
    assert "no audit events match" in firebreak(home, playbook, "audit", "--since", "2999-01-01").stdout


def test_tokens_and_export_are_audited_and_the_playbook_only_when_it_changes(tmp_path: Path) -> None:
    playbook, home = write_playbook(tmp_path), tmp_path / "home"
    store = ArtefactStore(home / "artefacts")
    store.write("INC-2026-0001/ticket.json", "{}")
    assert firebreak(home, playbook, "token", "issue", "olu", user="ian").returncode == 0
    assert firebreak(home, playbook, "token", "revoke", "olu").returncode == 0
    out = tmp_path / "out"
    out.mkdir()
    exported = firebreak(home, playbook, "export", "INC-2026-0001", "--out", str(out), user="ian")
    assert exported.returncode == 0, exported.stderr

    ctx = ActivityContext(store=store, playbook_path=playbook)
    ctx.note_playbook("worker")
    ctx.note_playbook("worker")  # unchanged: nothing new
    playbook.write_text(playbook.read_text() + "\n# changed\n")
    ctx.note_playbook("worker")

    events = json.loads(firebreak(home, playbook, "audit", "--json").stdout)
    assert [(e["what"], e["who"], e["origin"]) for e in events] == [
        ("token issued", "ian", HERE), ("token revoked", getpass.getuser(), HERE), ("export", "ian", HERE),
        ("playbook seen", "worker", f"worker {getpass.getuser()}@{socket.gethostname()}"),
        ("playbook seen", "worker", f"worker {getpass.getuser()}@{socket.gethostname()}")]
    issued, revoked = events[0]["details"], events[1]["details"]
    assert issued["person"] == "olu" and revoked["token_ids"] == issued["token_ids"]
    assert events[2]["incident"] == "INC-2026-0001" and events[2]["details"]["files"] == 1
    first, second = events[3]["details"], events[4]["details"]
    assert second["previous_sha256"] == first["sha256"] != second["sha256"]
    assert first["path"] == str(playbook)


def test_postgresql_keeps_the_audit_log_as_rows(postgres: PostgresServer, tmp_path: Path) -> None:
    url = postgres.url(f"t_{uuid.uuid4().hex[:12]}")
    one, two = PostgresStore(url), PostgresStore(url)  # two hosts, one log
    playbook = write_playbook(tmp_path)
    ActivityContext(store=one, playbook_path=playbook).note_playbook("worker")
    ActivityContext(store=two, playbook_path=playbook).note_playbook("intake")  # the same playbook: no new line
    assert audit.record(two, "export", "ian", "cli ian@elsewhere", "INC-2026-0001", key="event:1")
    assert not audit.record(one, "export", "ian", "cli ian@elsewhere", "INC-2026-0001", key="event:1")  # a retry
    assert [(e["what"], e["who"]) for e in audit.events(one)] == [("playbook seen", "worker"), ("export", "ian")]
    assert [e["who"] for e in audit.events(two, who="ian", incident="INC-2026-0001")] == ["ian"]
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT count(*) FROM log_lines WHERE path = %s", (audit.LOG,)).fetchone()
    assert rows == (2,)
