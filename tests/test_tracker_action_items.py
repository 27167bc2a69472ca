"""Action items in the tracker: each becomes an issue linked to the incident's ticket; closing it in GitHub or Jira
(a signed webhook to the intake) closes the item in Firebreak, and marking it done in Firebreak closes the issue.

The real intake app on uvicorn, the real worker on the time-skipping server, the trackers' fakes
(tests/fake_github.py, tests/fake_jira.py) through the real clients.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from intake.app import create_app
from integrations import audit
from integrations.artefacts import ArtefactStore
from playbook.config import load_playbook
from playbook.models import ActionItem, HumanAction, Resolution, RetrospectiveNotes, Role, Ticket
from playbook.state import ActionItemInput
from tests.behaviour import open_incident, started, terminate_leftovers, worker  # noqa: F401
from tests.fake_github import TOKEN, FakeGitHub
from tests.fake_jira import EMAIL, FakeJira
from tests.fake_jira import TOKEN as JIRA_TOKEN
from tests.intake.support import config as intake_config
from tests.intake.support import secrets as intake_secrets
from tests.intake.support import serving as serving_api
from tests.support import serving, wait_for, write_playbook
from tests.test_action_items import item_when
from workflows.action_items import ActionItemWorkflow
from workflows.incident import IncidentWorkflow

SECRET = "whsec-test"


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"FIREBREAK_GITHUB_TOKEN": TOKEN, "FIREBREAK_GITHUB_WEBHOOK_SECRET": SECRET,
                        "FIREBREAK_JIRA_EMAIL": EMAIL, "FIREBREAK_JIRA_API_TOKEN": JIRA_TOKEN,
                        "FIREBREAK_JIRA_WEBHOOK_SECRET": SECRET}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with serving(FakeGitHub(), poll_interval=0.05) as fake:
        yield fake


async def test_github_items_close_both_ways(ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                            home: Path, github: FakeGitHub, secrets_env: None) -> None:
    playbook = write_playbook(tmp_path, f"""
[tickets]
backend = "github"
[tickets.github]
repository = "acme/incidents"
api_url = "{github.url}"
timeout_seconds = 1
""")
    cfg = intake_config()
    app = create_app(cfg, intake_secrets(cfg), client=ts_env.client, task_queue=task_queue)
    async with serving_api(app) as api, worker(ts_env.client, task_queue, playbook, home):
        handle, state = await open_incident(ts_env, task_queue)
        number = str(state.number)
        await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER))
        await wait_for(handle, lambda s: s.retrospective_path is not None)
        await handle.signal(IncidentWorkflow.retrospective_done, RetrospectiveNotes(
            by="ian", role=Role.INCIDENT_COMMANDER, root_cause="missing guardrail",
            action_items=[ActionItem(what="add toxicity regression suite", owner="olu"),
                          ActionItem(what="review logging policy", owner="sam")]))
        await wait_for(handle, lambda s: s.status.value == "closed")
        first = started(ts_env.client.get_workflow_handle_for(ActionItemWorkflow.run, f"action-{number}-1"))
        second = started(ts_env.client.get_workflow_handle_for(ActionItemWorkflow.run, f"action-{number}-2"))
        one = await item_when(first, lambda i: i.ticket is not None)
        two = await item_when(second, lambda i: i.ticket is not None)
        assert {one.ticket.key, two.ticket.key} == {"acme/incidents#2", "acme/incidents#3"}  # type: ignore[union-attr]
        assert all("Part of #1" in github.issues[n]["body"] for n in (2, 3))
        for _ in range(200):  # the ticket's close is its own activity, after the incident says closed
            if github.issues[1]["state"] == "closed":
                break
            await ts_env.sleep(1)
        assert github.issues[1]["state"] == "closed"  # the incident's own ticket, closed with the incident

        # Closed on GitHub: the signed webhook closes the item in Firebreak.
        issue_number = int(one.ticket.key.rsplit("#", 1)[1])  # type: ignore[union-attr]
        body = json.dumps(github.close(issue_number)).encode()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": "issues"}
        r = await api.http.post("/v1/trackers/github", content=body,
                                headers={**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64})
        assert r.status_code == 401 and (await first.query(ActionItemWorkflow.get_item)).status == "open"
        r = await api.http.post("/v1/trackers/github", content=body,
                                headers={**headers, "X-Hub-Signature-256": signature(body)})
        assert r.status_code == 200 and r.json()["outcome"] == "recorded", r.text
        done = await item_when(first, lambda i: i.status == "done")
        assert done.done_by == "dana" and done.closed_in_tracker
        assert github.comments[issue_number] == []  # not told back what it said itself
        closed = audit.events(ArtefactStore(home / "artefacts"), incident=first.id)
        assert [(e["what"], e["who"], e["origin"]) for e in closed] == [
            ("closed_in_tracker", "dana", "github webhook via http 127.0.0.1")]

        # Done in Firebreak: the issue closes on GitHub, saying who did it.
        await second.signal(ActionItemWorkflow.mark_done, HumanAction(by="sam", role=Role.DOMAIN_SME,
                                                                      action_id="d2", comment="reviewed"))
        other = int(two.ticket.key.rsplit("#", 1)[1])  # type: ignore[union-attr]
        await item_when(second, lambda i: i.status == "done")
        for _ in range(200):
            if github.issues[other]["state"] == "closed":
                break
            await ts_env.sleep(1)
        assert github.issues[other]["state"] == "closed"
        assert github.comments[other][0]["body"].startswith("Done in Firebreak by sam. reviewed")


async def test_a_jira_item_moved_to_done_closes_in_firebreak(ts_env: WorkflowEnvironment, task_queue: str,
                                                             tmp_path: Path, home: Path, secrets_env: None) -> None:
    with serving(FakeJira(), poll_interval=0.05) as jira:
        playbook = write_playbook(tmp_path, f"""
[tickets]
backend = "jira"
[tickets.jira]
url = "{jira.url}"
project = "OPS"
timeout_seconds = 1
""")
        jira.issues["OPS-1"] = {"id": "10001", "key": "OPS-1", "self": "", "project": "OPS", "summary": "incident",
                                "labels": ["firebreak-INC-2026-0009"], "fields": {}, "status": "Done",
                                "comments": []}
        cfg = intake_config()
        app = create_app(cfg, intake_secrets(cfg), client=ts_env.client, task_queue=task_queue)
        async with serving_api(app) as api, worker(ts_env.client, task_queue, playbook, home):
            request = ActionItemInput(
                incident_number="INC-2026-0009", incident_workflow_id="incident-9", seq=1,
                item=ActionItem(what="rotate the eval key", owner="olu"), assigned_at=datetime.now(UTC),
                playbook=load_playbook(playbook)[0], escalate_to="ian",
                incident_ticket=Ticket(key="OPS-1", url=f"{jira.url}/browse/OPS-1", backend="jira"))
            item = started(await ts_env.client.start_workflow(
                ActionItemWorkflow.run, request, id="action-INC-2026-0009-1", task_queue=task_queue))
            opened = await item_when(item, lambda i: i.ticket is not None)
            assert opened.ticket is not None and opened.ticket.key == "OPS-2"
            assert jira.links == [{"type": {"name": "Relates"}, "inwardIssue": {"key": "OPS-2"},
                                   "outwardIssue": {"key": "OPS-1"}}]
            jira.issues["OPS-2"]["status"] = "Done"  # someone moves it to Done in Jira
            event = {"timestamp": 1764475200000, "webhookEvent": "jira:issue_updated",
                     "issue_event_type_name": "issue_generic",
                     "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Olu Ade"},
                     "issue": {"id": "10002", "key": "OPS-2", "self": f"{jira.url}/rest/api/3/issue/10002",
                               "fields": {"labels": jira.issues["OPS-2"]["labels"],
                                          "status": {"name": "Done", "statusCategory": {"key": "done"}}}}}
            body = json.dumps(event).encode()
            r = await api.http.post("/v1/trackers/jira", content=body,
                                    headers={"Content-Type": "application/json", "X-Hub-Signature": signature(body)})
            assert r.status_code == 200 and r.json()["outcome"] == "recorded", r.text
            done = await item_when(item, lambda i: i.status == "done")
            assert done.done_by == "Olu Ade" and jira.texts("OPS-2") == []


async def test_an_item_closed_on_github_without_a_webhook_is_seen_by_the_poll(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path, github: FakeGitHub,
        secrets_env: None) -> None:
    playbook = write_playbook(tmp_path, f"""
[tickets]
backend = "github"
item_poll_minutes = 30
[tickets.github]
repository = "acme/incidents"
api_url = "{github.url}"
timeout_seconds = 1
""")
    github.issues[1] = {"number": 1, "title": "INC-2026-0011", "body": "", "state": "open", "state_reason": None,
                        "label_names": ["firebreak-INC-2026-0011"]}
    github.comments[1] = []
    async with worker(ts_env.client, task_queue, playbook, home):
        request = ActionItemInput(
            incident_number="INC-2026-0011", incident_workflow_id="incident-11", seq=1,
            item=ActionItem(what="add a canary", owner="olu"), assigned_at=datetime.now(UTC),
            playbook=load_playbook(playbook)[0], escalate_to="ian",
            incident_ticket=Ticket(key="acme/incidents#1", url="https://github.com/acme/incidents/issues/1",
                                   backend="github"))
        item = started(await ts_env.client.start_workflow(
            ActionItemWorkflow.run, request, id="action-INC-2026-0011-1", task_queue=task_queue))
        opened = await item_when(item, lambda i: i.ticket is not None)
        assert opened.ticket is not None and opened.ticket.key == "acme/incidents#2"
        github.close(2)  # closed on github.com; no webhook reaches the intake
        await ts_env.sleep(timedelta(minutes=31))
        done = await item_when(item, lambda i: i.status == "done")
        assert done.done_by == "dana" and done.closed_in_tracker and github.comments[2] == []
