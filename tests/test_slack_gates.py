"""Slack buttons on every approval gate, not only briefs: an action's approval request is posted to the approval
channels with Approve / Reject buttons (no 'edit the text' hint: an action takes none), and once decided from any
source (here a signal, as the CLI and the HTTP API send it) or expired, every posted message is replaced by who
decided and when, without buttons (chat.update on the stored channel id and ts). slack_sdk against the fake Slack
(tests/fake_slack.py, which refuses a chat.update of a message it never posted); time-skipping server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from playbook.models import ApprovalStatus, Role
from tests.behaviour import open_incident, terminate_leftovers, worker  # noqa: F401  (autouse)
from tests.fake_channels import FakeSlack, channel_secrets, serving  # noqa: F401  (autouse)
from tests.support import decision, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

BODY = """
[[severity.rules]]
kinds = ["toxicity"]
severity = "SEV3"
[actions.rollback_prompt]
kind = "manual"
instructions = "Roll ${{service}} back"
[actions.page_vendor]
kind = "manual"
instructions = "Ask the vendor"
[services."*"]
stabilise = ["rollback_prompt", "page_vendor"]
[approvals]
timeout_minutes = 5
[channels.ops_slack]
kind = "slack"
channel = "C0INCIDENT"
base_url = "{url}/api/"
[communicate]
approval_channels = ["ops_slack"]
"""


def request_message(slack: FakeSlack, request_id: str) -> dict | None:  # type: ignore[type-arg]
    return next((m for m in slack.approval_requests() if any(
        e.get("value", "").endswith(f"|{request_id}") for b in m["blocks"] if b["type"] == "actions"
        for e in b["elements"])), None)


async def test_an_action_gate_has_buttons_and_loses_them_once_decided_anywhere(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    with serving(FakeSlack()) as slack:
        playbook = write_playbook(tmp_path, BODY.format(url=slack.url))
        async with worker(ts_env.client, task_queue, playbook, home):
            handle, state = await open_incident(ts_env, task_queue)
            number = state.number
            await wait_for(handle, lambda s: s.approval("stabilise-1") is not None)
            await wait_for(handle, lambda s: request_message(slack, "stabilise-1") is not None, attempts=50)
            posted = request_message(slack, "stabilise-1")
            assert posted is not None
            buttons = [e["value"] for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
            assert buttons == [f"approve|{number}|stabilise-1", f"reject|{number}|stabilise-1"]
            assert "Roll support-bot back" in posted["blocks"][0]["text"]["text"]
            assert not any("edit the text" in str(b) for b in posted["blocks"])

            await handle.signal(IncidentWorkflow.approve, decision("stabilise-1", "olu", Role.AI_OPS))
            await wait_for(handle, lambda s: any(u["ts"] == posted["ts"] for u in slack.updates), attempts=50)
            update = next(u for u in slack.updates if u["ts"] == posted["ts"])
            assert update["channel"] == posted["channel_id"]
            assert "actions" not in [b["type"] for b in update["blocks"]]
            assert update["blocks"][-1]["elements"][0]["text"].startswith("Approved by olu at ")
            assert "Roll support-bot back" in update["blocks"][0]["text"]["text"]  # the request stays readable

            # Nobody decides the next one: escalated, then expired; its message says so, without buttons.
            await wait_for(handle, lambda s: request_message(slack, "stabilise-2") is not None, attempts=50)
            second = request_message(slack, "stabilise-2")
            assert second is not None
            await wait_for(handle, lambda s: getattr(s.approval("stabilise-2"), "status", None)
                                   == ApprovalStatus.EXPIRED, env=ts_env, step=timedelta(minutes=2),
                                   attempts=30)
            await wait_for(handle, lambda s: any(u["ts"] == second["ts"] for u in slack.updates), attempts=50)
            line = next(u for u in slack.updates if u["ts"] == second["ts"])["blocks"][-1]["elements"][0]["text"]
            assert line.startswith("Expired at "), line
