"""A decided approval message loses its buttons even when the click's response_url cannot be used: Slack takes a
response_url 5 times within 30 minutes of the click (tests/fake_slack.py enforces both); past that, or when Slack
refuses it, the intake updates the message with chat.update on the channel id and ts the worker stored when it
posted the request. Real intake, real dev server, real worker, slack_sdk against the fake Slack.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from slack_sdk.webhook import WebhookClient
from temporalio.testing import WorkflowEnvironment

from activities.communicate import CommunicateActivities
from activities.context import ActivityContext
from intake.app import create_app
from intake.people import People
from intake.tokens import TokenStore
from integrations.artefacts import ArtefactStore
from playbook.config import SlackChannel, load_playbook
from playbook.messages import ApprovalPost
from tests.fake_channels import FakeSlack, channel_secrets, serving  # noqa: F401  (autouse fixture)
from tests.intake.support import config, secrets
from tests.intake.support import serving as serving_api
from tests.intake.test_people import BODY, SLACK_ROSTER, SLACK_SECRET, decided, open_incident, press
from tests.support import incident_worker, wait_for, write_playbook


async def _until(check: object, polls: int = 100) -> None:
    for _ in range(polls):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met")


async def test_chat_update_replaces_the_message_when_the_response_url_cannot(
        dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    with serving(FakeSlack(channels={"incidents": "C0INCIDENT"})) as slack:
        playbook = write_playbook(tmp_path, BODY % uuid.uuid4().hex[:6].upper().replace("0", "A") + f"""
[channels.ops_slack]
kind = "slack"
channel = "#incidents"
base_url = "{slack.url}/api/"
""", SLACK_ROSTER)
        pb = load_playbook(playbook)[0]
        store = ArtefactStore(home / "artefacts")
        people = People(tokens=TokenStore(tmp_path / "tokens.json"), roster=pb.roster,
                        slack_secret=SLACK_SECRET.encode(), channels=dict(pb.channels), store=store)
        cfg = config(people={"outcome_wait_seconds": 2.0}, slack={"response_hosts": ["127.0.0.1"]})
        app = create_app(cfg, secrets(cfg), client=dev_env.client, task_queue=task_queue, people=people)
        channel = pb.channels["ops_slack"]
        assert isinstance(channel, SlackChannel)
        posting = CommunicateActivities(ActivityContext(store=store, playbook_path=playbook))
        async with serving_api(app) as api, incident_worker(dev_env.client, task_queue, playbook, home):
            for late in (True, False):
                handle, number = await open_incident(dev_env, task_queue)
                assert (await press(api, "U0IAN", f"ack|{number}"))[0] == 200
                await wait_for(handle, lambda s: bool(s.pending_approvals()))
                # The worker posts the request (as the communicate step does) and stores its channel id and ts.
                ts = posting.post_approval_request(ApprovalPost(
                    key=f"{handle.id}/approval/stabilise-1/ops_slack", incident_number=number,
                    request_id="stabilise-1", channel="ops_slack", channel_config=channel,
                    subject="Roll support-bot back", why="toxicity p95", text="the draft"))
                message = {"type": "message", "text": f"{number}: approval needed", "ts": ts,
                           "blocks": slack.messages[-1]["blocks"]}
                url = slack.response_url()
                if late:  # clicked 31 minutes ago (the request itself is fresh)
                    clicked = time.time() - 31 * 60
                else:  # clicked now, but the response_url is used up
                    clicked = time.time()
                    for i in range(5):
                        assert WebhookClient(url, retry_handlers=[]).send(text=f"use {i}").status_code == 200
                before = len(slack.responses)
                status, body, took = await press(api, "U0OLU", f"approve|{number}|stabilise-1", response_url=url,
                                                 message=message, clicked=clicked)
                assert status == 200 and took < 3 and "approved" in body["text"], (took, body)
                await wait_for(handle, decided)
                await _until(lambda ts=ts: any(u["ts"] == ts for u in slack.updates))
                update = next(u for u in slack.updates if u["ts"] == ts)
                assert update["channel"] == "C0INCIDENT"  # the stored id: chat.update takes no names
                assert "actions" not in [b["type"] for b in update["blocks"]]
                assert update["blocks"][-1]["elements"][0]["text"].startswith("Approved by Olu Ops (olu, ai_ops) at ")
                assert len(slack.responses) == before  # the response_url was not (successfully) used
                await handle.terminate("test over")
    # Only the used-up response_url was tried (and refused); the late click went straight to chat.update.
    assert [error for _, error in slack.refused if error == "expired_url"] == ["expired_url"]
