"""Microsoft Teams as a page and brief channel: an Adaptive Card through a Workflows webhook URL (httpx against
tests/fake_teams.py, which refuses anything off Microsoft's documented shape), with a link to approve or
acknowledge in Firebreak (a webhook's card cannot post a click back). A page during a real incident (time-skipping
server, real activities) survives Teams' 429 with Retry-After; a brief retried after it was sent posts one card."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.communicate import CommunicateActivities
from activities.context import ActivityContext
from integrations.artefacts import ArtefactStore
from playbook.config import TeamsChannel, load_playbook
from playbook.messages import SendBrief
from playbook.models import Brief, IncidentStatus, Severity
from tests.behaviour import open_incident, read_jsonl, terminate_leftovers, worker  # noqa: F401  (autouse)
from tests.fake_channels import channel_secrets, serving  # noqa: F401  (autouse)
from tests.fake_teams import FakeTeams, problem
from tests.support import wait_for, write_playbook

LINK = "https://firebreak.example.com/board/incidents/{incident}"


def playbook_text() -> str:
    return f"""
[channels.ops_teams]
kind = "teams"
url_env = "TEAMS_OPS_URL"
link_url = "{LINK}"
[communicate]
notify_channels = ["ops_teams"]
"""


async def test_a_page_reaches_teams_as_a_card_with_a_link_to_act(ts_env: WorkflowEnvironment, task_queue: str,
                                                                 tmp_path: Path, home: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(FakeTeams()) as teams:
        monkeypatch.setenv("TEAMS_OPS_URL", teams.webhook_url())
        teams.limited = 1  # the first post is throttled: 429, Retry-After 7
        playbook = write_playbook(tmp_path, playbook_text())
        async with worker(ts_env.client, task_queue, playbook, home):
            handle, state = await open_incident(ts_env, task_queue, acknowledge=False)
            number = str(state.number)
            sent = home / "artefacts" / number / "notifications-sent.jsonl"
            await wait_for(handle, lambda s: len(read_jsonl(sent)) >= 1, env=ts_env)
        assert teams.limited == 0 and teams.refused == []
        [card] = teams.cards  # throttled once, then posted once
        assert card["version"] == "1.4" and card["body"][0]["text"].startswith(f"{number}: ")
        assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Approve or acknowledge in Firebreak",
                                    "url": LINK.replace("{incident}", number)}]
        assert read_jsonl(sent)[0]["teams_status"] == "202"


def test_a_brief_is_one_card_however_often_it_is_retried(tmp_path: Path) -> None:
    with serving(FakeTeams()) as teams:
        cfg = TeamsChannel(url=teams.webhook_url())
        activities = CommunicateActivities(ActivityContext(store=ArtefactStore(tmp_path / "artefacts"),
                                                           playbook_path=tmp_path / "playbook.toml"))
        brief = Brief(incident_number="INC-2026-0042", seq=1, severity=Severity.SEV2,
                      status=IncidentStatus.ACKNOWLEDGED, title="INC-2026-0042 update #1",
                      text="# Update\n\n**Impact:** refunds answered wrongly", drafted_at=datetime.now(UTC))
        request = SendBrief(key="incident-x/brief-1/ops_teams", channel="ops_teams", channel_config=cfg,
                            brief=brief, approved_by="sam")
        assert activities.send_brief(request).detail == "sent"
        assert activities.send_brief(request).detail == "already sent"
    [card] = teams.cards
    assert "refunds answered wrongly" in card["body"][1]["text"] and "Approved by sam." in card["body"][1]["text"]
    assert "actions" not in card  # no link_url configured: no link


def test_the_fake_refuses_what_teams_refuses() -> None:
    good = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                                "content": {"type": "AdaptiveCard", "version": "1.4", "body": [
                                                    {"type": "TextBlock", "text": "hi"}]}}]}
    assert problem(good) is None
    submit = {"type": "Action.Submit", "title": "Approve"}
    bad = {**good, "attachments": [{**good["attachments"][0], "content": {  # type: ignore[dict-item]
        **good["attachments"][0]["content"], "actions": [submit]}}]}  # type: ignore[index]
    assert "needs a bot" in str(problem(bad))
    assert problem({"type": "message", "attachments": []}) is not None


def test_a_teams_channel_is_accepted_for_pages_and_briefs(tmp_path: Path) -> None:
    pb = load_playbook(write_playbook(tmp_path, playbook_text()))[0]
    assert isinstance(pb.channels["ops_teams"], TeamsChannel)
