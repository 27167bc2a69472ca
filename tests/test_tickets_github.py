"""`[tickets] backend = "github"`: the incident's ticket as a GitHub issue, through githubkit (pinned) against
tests/fake_github.py, whose answers are first parsed with githubkit's own models (generated from GitHub's OpenAPI
description), so the fake cannot drift from what the real API returns without this failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from githubkit_schemas.latest.models import Issue, IssueComment
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.context import ActivityContext
from activities.tickets import TicketActivities
from integrations.artefacts import ArtefactStore
from integrations.github_issues import GitHubTicketBackend
from playbook.config import TicketConfig
from playbook.config.trackers import GitHubTracker
from playbook.messages import ItemTicketClose, ItemTicketInput, TicketInput, TicketUpdate
from playbook.models import IncidentStatus, Severity, Ticket
from tests.behaviour import open_incident, terminate_leftovers, worker  # noqa: F401
from tests.fake_github import TOKEN, FakeGitHub
from tests.support import detection, serving, write_playbook


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with serving(FakeGitHub(), poll_interval=0.05) as fake:
        yield fake


def tracker(fake: FakeGitHub) -> GitHubTracker:
    return GitHubTracker(repository="acme/incidents", api_url=fake.url, timeout_seconds=1)


def ticket_input(severity: Severity = Severity.SEV2) -> TicketInput:
    return TicketInput(workflow_id="incident-x", number="INC-2026-0007", severity=severity, detection=detection(),
                       opened_at=datetime.now(UTC))


def update(ticket: Ticket, key: str, status: IncidentStatus, severity: Severity = Severity.SEV2) -> TicketUpdate:
    return TicketUpdate(ticket=ticket, key=f"incident-x/INC-2026-0007/ticket/{key}", text=f"{key} update",
                        severity=severity, status=status)


def test_the_fakes_answers_parse_as_githubs_own_models(github: FakeGitHub) -> None:
    backend = GitHubTicketBackend(tracker(github), TOKEN)
    ticket = backend.create(ticket_input())
    backend.update(update(ticket, "acknowledged", IncidentStatus.ACKNOWLEDGED))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    issue = Issue.model_validate(httpx.get(f"{github.api}/issues/1", headers=headers).json())
    listed = httpx.get(f"{github.api}/issues", params={"labels": "firebreak-INC-2026-0007", "state": "all"},
                       headers=headers).json()
    comments = httpx.get(f"{github.api}/issues/1/comments", headers=headers).json()
    assert [Issue.model_validate(i).number for i in listed] == [issue.number] == [1]
    assert [IssueComment.model_validate(c).issue_url for c in comments] == [f"{github.api}/issues/1"]


def test_the_ticket_is_found_again_labelled_by_severity_and_kind_and_closed_on_close(github: FakeGitHub) -> None:
    backend = GitHubTicketBackend(tracker(github), TOKEN)
    ticket = backend.create(ticket_input())
    assert (ticket.key, ticket.url) == ("acme/incidents#1", "https://github.com/acme/incidents/issues/1")
    assert backend.create(ticket_input()) == ticket and len(github.issues) == 1
    assert github.issues[1]["label_names"] == ["firebreak", "incident", "severity:sev2", "firebreak-INC-2026-0007",
                                               "kind:toxicity"]
    assert "| severity | SEV2 |" in github.issues[1]["body"]
    assert backend.update(update(ticket, "acknowledged", IncidentStatus.ACKNOWLEDGED))
    assert not backend.update(update(ticket, "acknowledged", IncidentStatus.ACKNOWLEDGED))
    backend.update(update(ticket, "severity-4", IncidentStatus.ACKNOWLEDGED, Severity.SEV1))
    assert "severity:sev1" in github.issues[1]["label_names"] and "severity:sev2" not in github.issues[1]["label_names"]
    backend.update(update(ticket, "resolved", IncidentStatus.RESOLVED, Severity.SEV1))
    assert github.issues[1]["state"] == "open"  # close_on = "closed"
    backend.update(update(ticket, "closed", IncidentStatus.CLOSED, Severity.SEV1))
    assert (github.issues[1]["state"], github.issues[1]["state_reason"]) == ("closed", "completed")
    assert [c["body"].split("\n")[0] for c in github.comments[1]] == [
        "acknowledged update", "severity-4 update", "resolved update", "closed update"]


def test_an_action_item_refers_to_the_incident_and_closes_once(github: FakeGitHub) -> None:
    backend = GitHubTicketBackend(tracker(github), TOKEN)
    incident = backend.create(ticket_input())
    item = ItemTicketInput(workflow_id="action-INC-2026-0007-2", incident_number="INC-2026-0007",
                           incident_ticket=incident, tickets=TicketConfig(backend="github", github=tracker(github)),
                           seq=2, what="Pin the prompt version", owner="ian")
    issue = backend.open_item(item)
    assert issue is not None and issue.key == "acme/incidents#2" and backend.open_item(item) == issue
    assert "Part of #1" in github.issues[2]["body"]
    assert github.issues[2]["label_names"] == ["firebreak", "action-item", "firebreak-action-INC-2026-0007-2"]
    close = ItemTicketClose(ticket=issue, tickets=item.tickets, done_by="ian")
    assert backend.close_item(close) is True and backend.close_item(close) is False
    assert github.issues[2]["state"] == "closed" and len(github.comments[2]) == 1


def test_a_secondary_rate_limit_and_a_bad_token_become_temporal_failures(github: FakeGitHub, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREBREAK_GITHUB_TOKEN", TOKEN)
    acts = TicketActivities(ActivityContext(store=ArtefactStore(tmp_path), playbook_path=tmp_path / "p.toml"))
    request = ticket_input().model_copy(update={"tickets": TicketConfig(backend="github", github=tracker(github))})
    github.secondary_limit_next, github.retry_after = 1, 9
    with pytest.raises(ApplicationError) as limited:
        ActivityEnvironment().run(acts.create_ticket, request)
    assert limited.value.next_retry_delay == timedelta(seconds=9) and not limited.value.non_retryable
    github.token = "revoked"
    with pytest.raises(ApplicationError) as refused:
        ActivityEnvironment().run(acts.create_ticket, request)
    assert refused.value.non_retryable and "401" in refused.value.message
    assert "FIREBREAK_GITHUB_TOKEN" in refused.value.message


async def test_an_attempt_lost_after_github_created_the_issue_leaves_one_ticket(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path, github: FakeGitHub,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREBREAK_GITHUB_TOKEN", TOKEN)
    github.stall_after_create = 1.5
    playbook = write_playbook(tmp_path, f"""
[tickets]
backend = "github"
[tickets.github]
repository = "acme/incidents"
api_url = "{github.url}"
timeout_seconds = 1
""")
    async with worker(ts_env.client, task_queue, playbook, home):
        handle, state = await open_incident(ts_env, task_queue)
    assert state.ticket is not None and state.ticket.key == "acme/incidents#1" and list(github.issues) == [1]
    assert github.calls.count(("POST", "/repos/acme/incidents/issues")) == 1
    assert github.comments[1][0]["body"].startswith("Acknowledged by ian")
