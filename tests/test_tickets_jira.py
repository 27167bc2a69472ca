"""`[tickets] backend = "jira"`: the incident's ticket in Jira Cloud, through the backend's real httpx client
against tests/fake_jira.py (written from Atlassian's REST v3 description; it says where each shape comes from).

Backend cases talk to the fake directly; the workflow cases run the incident on the time-skipping server, where an
attempt lost after Jira created the issue, a storm of 429s and an expired API token are what a user would meet.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.context import ActivityContext
from activities.tickets import TicketActivities
from integrations.artefacts import ArtefactStore
from integrations.jira import JiraTicketBackend
from integrations.ticket_base import TrackerCredentialRefused
from playbook.config import TicketConfig
from playbook.config.trackers import JiraTracker
from playbook.messages import ItemTicketClose, ItemTicketInput, TicketInput, TicketUpdate
from playbook.models import IncidentStatus, Role, Severity, Ticket
from tests.behaviour import open_incident, terminate_leftovers, whats, worker  # noqa: F401
from tests.fake_jira import EMAIL, TOKEN, FakeJira
from tests.support import detection, human, serving, wait_for, write_playbook
from workflows.incident import IncidentWorkflow


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    with serving(FakeJira(), poll_interval=0.05) as fake:
        yield fake


@pytest.fixture
def jira_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREBREAK_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("FIREBREAK_JIRA_API_TOKEN", TOKEN)


def tracker(fake: FakeJira, **extra: object) -> JiraTracker:
    return JiraTracker(url=fake.url, project="OPS", timeout_seconds=1, **extra)  # type: ignore[arg-type]


def ticket_input(number: str = "INC-2026-0007", severity: Severity = Severity.SEV1) -> TicketInput:
    return TicketInput(workflow_id="incident-x", number=number, severity=severity, detection=detection(),
                       opened_at=datetime.now(UTC))


def update(ticket: Ticket, key: str, text: str, status: IncidentStatus) -> TicketUpdate:
    return TicketUpdate(ticket=ticket, key=f"incident-x/INC-2026-0007/ticket/{key}", text=text,
                        severity=Severity.SEV1, status=status)


def test_the_ticket_is_created_once_commented_once_per_update_and_done_on_resolve(jira: FakeJira) -> None:
    backend = JiraTicketBackend(tracker(jira, custom_fields={"customfield_10050": "${service} / ${model}"}),
                                EMAIL, TOKEN)
    ticket = backend.create(ticket_input())
    assert (ticket.key, ticket.url, ticket.backend) == ("OPS-1", f"{jira.url}/browse/OPS-1", "jira")
    fields = jira.issues["OPS-1"]["fields"]
    assert fields["priority"] == {"name": "Highest"} and fields["issuetype"] == {"name": "Task"}
    assert fields["labels"] == ["firebreak", "firebreak-INC-2026-0007"]
    assert fields["customfield_10050"] == "support-bot / "
    assert fields["summary"].startswith("INC-2026-0007: SEV1 toxicity on support-bot")

    assert backend.create(ticket_input()) == ticket  # found by its label, not created again
    assert len(jira.issues) == 1

    assert backend.update(update(ticket, "acknowledged", "Acknowledged by ian", IncidentStatus.ACKNOWLEDGED))
    assert not backend.update(update(ticket, "acknowledged", "Acknowledged by ian", IncidentStatus.ACKNOWLEDGED))
    assert jira.issues["OPS-1"]["status"] == "To Do"
    backend.update(update(ticket, "resolved", "Resolved by ian: rolled back", IncidentStatus.RESOLVED))
    assert jira.texts("OPS-1") == ["Acknowledged by ian", "Resolved by ian: rolled back"]
    assert jira.issues["OPS-1"]["status"] == "Done"
    # Closing later: no close transition by default; the comment is still added once.
    backend.update(update(ticket, "closed", "Closed", IncidentStatus.CLOSED))
    assert jira.texts("OPS-1")[-1] == "Closed" and jira.issues["OPS-1"]["status"] == "Done"


def test_an_update_on_the_second_page_of_comments_is_still_found(jira: FakeJira) -> None:
    backend = JiraTicketBackend(tracker(jira), EMAIL, TOKEN)
    ticket = backend.create(ticket_input())
    jira.issues["OPS-1"]["comments"] = [{"id": str(30000 + n), "body": {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": f"chatter {n}"}]}]}} for n in range(110)]
    assert backend.update(update(ticket, "findings", "Investigation findings", IncidentStatus.ACKNOWLEDGED))
    assert not backend.update(update(ticket, "findings", "Investigation findings", IncidentStatus.ACKNOWLEDGED))
    assert jira.texts("OPS-1").count("Investigation findings") == 1


def test_an_action_item_is_an_issue_linked_to_the_incident_and_closes_once(jira: FakeJira) -> None:
    backend = JiraTicketBackend(tracker(jira), EMAIL, TOKEN)
    incident = backend.create(ticket_input())
    item = ItemTicketInput(workflow_id="action-INC-2026-0007-1", incident_number="INC-2026-0007",
                           incident_ticket=incident, tickets=TicketConfig(backend="jira", jira=tracker(jira)), seq=1,
                           what="Add a toxicity eval to CI", owner="ian", due=datetime(2026, 12, 24, tzinfo=UTC))
    issue = backend.open_item(item)
    assert issue is not None and issue.key == "OPS-2"
    assert backend.open_item(item) == issue and len(jira.issues) == 2 and len(jira.links) == 1
    assert jira.links[0] == {"type": {"name": "Relates"}, "inwardIssue": {"key": "OPS-2"},
                             "outwardIssue": {"key": "OPS-1"}}
    assert "firebreak-action-INC-2026-0007-1" in jira.issues["OPS-2"]["labels"]
    close = ItemTicketClose(ticket=issue, tickets=item.tickets, done_by="ian", note="merged")
    assert backend.close_item(close) is True
    assert jira.issues["OPS-2"]["status"] == "Done" and jira.texts("OPS-2") == ["Done in Firebreak by ian. merged"]


def test_a_transition_jira_does_not_offer_is_a_clear_refusal(jira: FakeJira) -> None:
    backend = JiraTicketBackend(tracker(jira, resolve_transition="Resolve Issue"), EMAIL, TOKEN)
    ticket = backend.create(ticket_input())
    with pytest.raises(Exception, match="no transition named 'Resolve Issue' for OPS-1 .*'Done'"):
        backend.update(update(ticket, "resolved", "Resolved", IncidentStatus.RESOLVED))


def test_an_expired_token_and_a_rate_limit_become_temporal_failures(jira: FakeJira, jira_env: None,
                                                                    tmp_path: Path) -> None:
    acts = TicketActivities(ActivityContext(store=ArtefactStore(tmp_path), playbook_path=tmp_path / "p.toml"))
    request = ticket_input().model_copy(update={"tickets": TicketConfig(backend="jira", jira=tracker(jira))})
    jira.rate_limit_next, jira.retry_after = 1, 7
    with pytest.raises(ApplicationError) as limited:
        ActivityEnvironment().run(acts.create_ticket, request)
    assert limited.value.next_retry_delay == timedelta(seconds=7) and not limited.value.non_retryable
    jira.token = "rotated"
    with pytest.raises(ApplicationError) as refused:
        ActivityEnvironment().run(acts.create_ticket, request)
    assert refused.value.non_retryable and refused.value.type == "TrackerCredentialRefused"
    assert "401" in refused.value.message and "FIREBREAK_JIRA_API_TOKEN" in refused.value.message
    with pytest.raises(TrackerCredentialRefused, match="FIREBREAK_JIRA_EMAIL"):
        JiraTicketBackend(tracker(jira), "", "")


def jira_playbook(tmp_path: Path, fake: FakeJira) -> Path:
    return write_playbook(tmp_path, f"""
[tickets]
backend = "jira"
[tickets.jira]
url = "{fake.url}"
project = "OPS"
timeout_seconds = 1
""")


async def test_an_attempt_lost_after_jira_created_the_issue_leaves_one_ticket(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path, jira: FakeJira,
        jira_env: None) -> None:
    jira.stall_after_create = 1.5  # the answer never reaches the worker within its 1 s timeout
    async with worker(ts_env.client, task_queue, jira_playbook(tmp_path, jira), home):
        handle, state = await open_incident(ts_env, task_queue, severity=Severity.SEV2)
    assert state.ticket is not None and (state.ticket.key, state.ticket.backend) == ("OPS-1", "jira")
    assert list(jira.issues) == ["OPS-1"]
    assert jira.calls.count(("POST", "/rest/api/3/issue")) == 1
    assert jira.calls.count(("POST", "/rest/api/3/search/jql")) == 2  # the retry looked it up first
    assert jira.issues["OPS-1"]["fields"]["priority"] == {"name": "High"}
    assert jira.texts("OPS-1") == ["Acknowledged by ian"]


async def test_a_429_storm_still_opens_one_ticket(ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                                  home: Path, jira: FakeJira, jira_env: None) -> None:
    jira.rate_limit_next = 3
    async with worker(ts_env.client, task_queue, jira_playbook(tmp_path, jira), home):
        handle, state = await open_incident(ts_env, task_queue, acknowledge=False)
    assert state.ticket is not None and state.ticket.key == "OPS-1" and len(jira.issues) == 1
    assert "ticket OPS-1 created" in whats(state) and jira.calls.count(("POST", "/rest/api/3/search/jql")) == 4


async def test_an_expired_token_is_on_the_timeline_and_the_incident_goes_on(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path, jira: FakeJira,
        jira_env: None) -> None:
    jira.token = "rotated"  # the worker's FIREBREAK_JIRA_API_TOKEN is no longer Jira's
    async with worker(ts_env.client, task_queue, jira_playbook(tmp_path, jira), home):
        handle, state = await open_incident(ts_env, task_queue, acknowledge=False)
        refused = next(e for e in state.timeline if e.what.startswith("could not open the ticket in jira"))
        assert "401" in refused.details["error"] and "FIREBREAK_JIRA_API_TOKEN" in refused.details["error"]
        assert state.ticket is not None and state.ticket.backend == "local"
        assert jira.issues == {} and jira.calls.count(("POST", "/rest/api/3/search/jql")) == 1  # not retried
        await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
        state = await wait_for(handle, lambda s: s.acknowledged_at is not None)
    assert "Acknowledged by ian" in (home / "artefacts" / str(state.number) / "ticket.md").read_text()
