"""Pages where people are: a Slack page asking for acknowledgement carries an Acknowledge button (the value
POST /v1/slack/actions reads) and is replaced with chat.update, without the button, once someone acknowledged;
an e-mail page goes to the paged person's address through the channel's SMTP server (a real aiosmtpd)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from intake.slack_actions import parse_slack_action
from playbook.models import IncidentStatus, Role
from tests.behaviour import open_incident, read_jsonl, terminate_leftovers, worker  # noqa: F401
from tests.fake_channels import FakeSlack, channel_secrets, serving, smtp_sink  # noqa: F401  (autouse)
from tests.support import ROSTER, human, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

IAN_MAIL = ROSTER.replace('name = "Ian Commander"', 'name = "Ian Commander"\ncontact = "ian@example.com"')


def playbook_text(slack: FakeSlack, smtp_port: int) -> str:
    return f"""
[channels.ops_slack]
kind = "slack"
channel = "C0INCIDENT"
base_url = "{slack.url}/api/"
[channels.pager_mail]
kind = "email"
host = "127.0.0.1"
port = {smtp_port}
sender = "firebreak@example.com"
to = ["oncall@example.com"]
[communicate]
notify_channels = ["ops_slack", "pager_mail"]
"""


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["value"] for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


async def test_a_slack_page_is_acknowledged_and_replaced_and_mail_reaches_the_person(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    with serving(FakeSlack()) as slack, smtp_sink() as smtp:
        playbook = write_playbook(tmp_path, playbook_text(slack, smtp.port), IAN_MAIL)
        async with worker(ts_env.client, task_queue, playbook, home):
            handle, state = await open_incident(ts_env, task_queue, acknowledge=False)
            number = str(state.number)
            await wait_for(handle, lambda s: len(read_jsonl(home / "artefacts" / number
                                                            / "notifications-sent.jsonl")) == 2)
            [page] = slack.messages
            assert buttons(page) == [f"ack|{number}"]
            click = parse_slack_action(("payload=" + json.dumps({  # the value as Slack hands it back on a click
                "type": "block_actions", "user": {"id": "U0IAN"},
                "actions": [{"value": buttons(page)[0], "action_ts": "1.0"}]})).encode())
            assert (click.verb, click.ref) == ("ack", number)
            [mail] = smtp.messages
            assert mail["To"] == "ian@example.com" and mail["Subject"] == f"[{number}] {number} needs acknowledgement"

            await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
            await wait_for(handle, lambda s: s.status != IncidentStatus.OPEN)
            for _ in range(200):
                if slack.updates:
                    break
                await ts_env.sleep(1)
        [update] = slack.updates
        posted = read_jsonl(home / "artefacts" / number / "notifications-sent.jsonl")
        assert update["ts"] == next(p["slack_ts"] for p in posted if p["channel"] == "ops_slack")
        assert buttons(update) == [] and "Acknowledged by ian." in json.dumps(update["blocks"])
