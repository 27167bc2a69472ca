"""[communicate.incident_channel]: a Slack channel of the incident's own, through the real slack_sdk WebClient against
tests/fake_slack.py (Slack's conversations.* methods as documented): created when the incident opens (a name taken
by another channel gets a suffix), the responders invited by their roster Slack ids, each timeline entry posted
once (a 429 retried without posting twice), archived at close; and nothing at all sent to Slack when it is off."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web import SlackResponse
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.incident_channel import IncidentChannelActivities
from integrations.artefacts import ArtefactStore
from playbook.config import PlaybookError, SlackChannel, parse_playbook
from playbook.incident_channel import RoomOpen, RoomPost, channel_name
from playbook.models import (
    HumanAction,
    IncidentStatus,
    Resolution,
    RetrospectiveNotes,
    Role,
    Severity,
    Step,
    TimelineEntry,
)
from tests.behaviour import open_incident, terminate_leftovers, worker  # noqa: F401  (autouse fixture)
from tests.fake_channels import FakeSlack, channel_secrets, serving  # noqa: F401  (autouse fixture)
from tests.fake_slack import BOT_USER
from tests.support import ROSTER, LocalContext, state_of, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

SLACK_IDS = {"ian": "U0IAN", "bea": "U0BEA", "olu": "U0OLU", "sam": "U0SAM", "cat": "U0CAT"}
EVERY = 60
AT = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


def _roster() -> str:
    text = ROSTER
    for person, uid in SLACK_IDS.items():
        text = text.replace(f"[roster.people.{person}]\n", f"[roster.people.{person}]\nslack_id = \"{uid}\"\n")
    return text


def _playbook(tmp_path: Path, slack: FakeSlack, enabled: bool) -> Path:
    room = f"[communicate.incident_channel]\nenabled = true\nchannel = \"ops_slack\"\npost_every_seconds = {EVERY}\n"
    return write_playbook(tmp_path, f"""
[channels.ops_slack]
kind = "slack"
channel = "#incidents"
base_url = "{slack.url}/api/"
{room if enabled else ""}""", roster=_roster())


def _posted_indices(slack: FakeSlack, channel_id: str) -> list[int]:
    return [int(i) for m in slack.messages if m["channel_id"] == channel_id
            for i in re.findall(r"^`#(\d+)`", m["text"], re.M)]


async def _close(handle: WorkflowHandle[Any, Any]) -> None:
    await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER, comment="fixed"))
    await wait_for(handle, lambda s: s.retrospective_path is not None)
    await handle.signal(IncidentWorkflow.retrospective_done, RetrospectiveNotes(
        by="ian", role=Role.INCIDENT_COMMANDER, root_cause="prompt v13", contributing_factors=[],
        preventative_actions=[], action_items=[]))
    assert (await handle.result()).status == IncidentStatus.CLOSED


async def test_the_incident_gets_its_channel_its_people_its_timeline_once_and_an_archive_at_close(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    with serving(FakeSlack()) as slack:
        slack.rate_limit(1, 2)  # the first timeline message is answered 429, Retry-After: 2
        async with worker(ts_env.client, task_queue, _playbook(tmp_path, slack, True), home):
            handle, state = await open_incident(ts_env, task_queue, Severity.SEV2)
            state = await wait_for(handle, lambda s: s.incident_room is not None and s.incident_room.posted > 0,
                                   ts_env)
            room = state.incident_room
            assert room is not None and room.channel_id is not None
            assert room.name == channel_name("", str(state.number)) == str(state.number).lower()
            assert slack.rooms[room.channel_id]["name"] == room.name
            # Each role's holder on the roster, all with Slack ids: ian, bea (ai_ops' first is bea), sam, cat.
            assert slack.members[room.channel_id] >= {BOT_USER, "U0IAN", "U0SAM", "U0CAT"}
            assert ("/api/chat.postMessage", "ratelimited") in slack.refused
            await handle.signal(IncidentWorkflow.add_note, _note("customer tickets spiking"))
            await ts_env.sleep(timedelta(seconds=EVERY + 1))
            await wait_for(handle, lambda s: any("customer tickets" in m["text"] for m in slack.messages), ts_env)
            await _close(handle)
            state = await state_of(handle)
    room = state.incident_room
    assert room is not None and room.archived and slack.rooms[str(room.channel_id)]["is_archived"]
    assert state.timeline[-1].what == f"Slack channel #{room.name} archived"
    indices = _posted_indices(slack, str(room.channel_id))
    assert sorted(indices) == list(range(len(state.timeline) - 1)), "every entry but the archive's, once each"
    assert len([m for m in slack.messages if m["channel_id"] == room.channel_id]) < len(indices), "batched"
    assert slack.calls.count("conversations.create") == 1 and slack.calls.count("conversations.archive") == 1


def _note(text: str) -> HumanAction:
    return HumanAction(by="sam", role=Role.DOMAIN_SME, comment=text)


async def test_off_by_default_no_slack_call_at_all(ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                                    home: Path) -> None:
    with serving(FakeSlack()) as slack:
        async with worker(ts_env.client, task_queue, _playbook(tmp_path, slack, False), home):
            handle, _ = await open_incident(ts_env, task_queue, Severity.SEV2)
            await _close(handle)
            state = await state_of(handle)
    assert state.incident_room is None and slack.calls == []


def test_a_taken_name_is_suffixed_unless_it_is_this_incidents_and_a_retried_post_skips_what_was_posted(
        tmp_path: Path) -> None:
    with serving(FakeSlack(channels={"inc-2026-0007": "C0OTHER"})) as slack:
        cfg = SlackChannel(channel="#incidents", base_url=f"{slack.url}/api/")
        rooms = IncidentChannelActivities(LocalContext(store=ArtefactStore(tmp_path), playbook_path=tmp_path / "p"))
        ask = RoomOpen(incident_number="INC-2026-0007", workflow_id="incident-7", name="inc-2026-0007", config=cfg)
        first = rooms.open_incident_channel(ask)
        assert first.name == "inc-2026-0007-2" and not first.reused  # someone else's channel keeps its name
        again = rooms.open_incident_channel(ask)  # a retried attempt: this incident's own channel, reused
        assert (again.channel_id, again.name, again.reused) == (first.channel_id, first.name, True)
        assert SlackResponse(client=None, http_verb="POST", api_url="", req_args={}, headers={}, status_code=200,
                             data={"ok": True, "channels": list(slack.rooms.values())}).validate()
        entries = [TimelineEntry(at=AT, step=Step.DETECT, actor="firebreak", role="system",
                                 what=f"entry {i} for ops@example.com") for i in range(3)]
        post = RoomPost(key="incident-7/INC-2026-0007/incident-channel", incident_number="INC-2026-0007",
                        channel_id=first.channel_id, first=4, entries=entries, config=cfg)
        slack.rate_limit(1, 7)
        with pytest.raises(ApplicationError) as limited:
            rooms.post_to_incident_channel(post)
        assert limited.value.next_retry_delay == timedelta(seconds=7)
        assert rooms.post_to_incident_channel(post) == 3 and rooms.post_to_incident_channel(post) == 3
        texts = [m["text"] for m in slack.messages]
        assert len(texts) == 1 and _posted_indices(slack, first.channel_id) == [4, 5, 6]
        assert "ops@example.com" not in texts[0] and "[REDACTED:EMAIL]" in texts[0]


def test_the_playbook_refuses_a_room_without_a_slack_channel() -> None:
    for body in ("", "[channels.hook]\nkind = \"webhook\"\nurl = \"https://example.com/h\"\n"):
        with pytest.raises(PlaybookError, match="incident_channel"):
            parse_playbook(ROSTER + body + "[communicate.incident_channel]\nenabled = true\nchannel = \"hook\"\n")
    assert not parse_playbook(ROSTER).communicate.incident_channel.enabled
