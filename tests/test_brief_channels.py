"""Briefs per audience through real channel clients (slack_sdk, smtplib, httpx) against servers on 127.0.0.1 that
speak Slack's, Statuspage's and SMTP's shapes: one message per brief and channel even when an attempt is retried,
a channel that is down never holds up the others, an external brief waits for the communications release, and
what the domain SME edited is what goes out, archived beside the draft."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from activities.communicate import CommunicateActivities
from activities.context import ActivityContext
from intake.app import create_app
from intake.people import People
from intake.slack_actions import parse_slack_action
from intake.tokens import TokenStore
from integrations.artefacts import ArtefactStore
from playbook.config import load_playbook
from playbook.messages import SendBrief, SendResult
from playbook.models import ApprovalStatus, Role, Severity
from playbook.state import IncidentState
from tests.behaviour import (  # noqa: F401  (terminate_leftovers is an autouse fixture)
    advance_to,
    open_incident,
    read_jsonl,
    terminate_leftovers,
    whats,
    worker,
)
from tests.fake_channels import (  # noqa: F401  (channel_secrets is an autouse fixture)
    KIM,
    SLACK_TOKEN,
    STATUSPAGE_KEY,
    FakeSlack,
    FakeStatuspage,
    channel_secrets,
    serving,
    smtp_sink,
)
from tests.intake.support import bearer
from tests.intake.support import config as intake_config
from tests.intake.support import secrets as intake_secrets
from tests.intake.support import serving as serving_api
from tests.support import ROSTER, decision, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

FIREBREAK = str(Path(sys.executable).parent / "firebreak")
def channels(slack: FakeSlack, smtp_port: int, statuspage: FakeStatuspage | None = None) -> str:
    text = f"""
[channels.ops_hook]
kind = "slack_webhook"
url = "{slack.url}/services/T0/B0/X0"
[channels.ops_slack]
kind = "slack"
channel = "C0INCIDENT"
base_url = "{slack.url}/api/"
[channels.leaders_mail]
kind = "email"
host = "127.0.0.1"
port = {smtp_port}
sender = "firebreak@example.com"
to = ["leaders@example.com"]
"""
    if statuspage is not None:
        text += f"""
[channels.status]
kind = "statuspage"
page_id = "{statuspage.page_id}"
api_key_env = "STATUSPAGE_KEY"
base_url = "{statuspage.url}/v1"
component_ids = ["cmp1"]
component_status = "degraded_performance"
"""
    return text


def sent(state: IncidentState, label: str) -> bool:
    return any(e.what.startswith(f"{label} sent to ") or e.what.startswith(f"{label} not sent") for e in state.timeline)


def pending(state: IncidentState) -> list[str]:
    return sorted(a.request_id for a in state.pending_approvals())


async def approve(handle: Any, request_id: str, by: str, role: Role, text: str | None = None) -> None:
    d = decision(request_id, by, role)
    d.text = text
    await handle.signal(IncidentWorkflow.approve, d)
    await wait_for(handle, lambda s: s.outcome(d.action_id) is not None)
    outcome = await handle.query(IncidentWorkflow.action_outcome, d.action_id)
    assert outcome is not None and outcome.accepted, outcome


async def test_audiences_channels_retries_and_the_communications_release(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    with serving(FakeSlack()) as slack, serving(FakeStatuspage()) as statuspage, smtp_sink() as smtp:
        playbook = write_playbook(tmp_path, roster=ROSTER + KIM, body=channels(slack, smtp.port, statuspage) + """
[communicate]
approval_channels = ["ops_slack"]
[communicate.audiences.responders]
shape = "tactical"
channels = ["ops_hook", "ops_slack"]
[communicate.audiences.leadership]
shape = "executive"
channels = ["leaders_mail"]
every = 2
[communicate.audiences.customers]
shape = "executive"
channels = ["status"]
external = true
""")
        real = CommunicateActivities(ActivityContext(store=ArtefactStore(home / "artefacts"), playbook_path=playbook))
        attempts: list[tuple[int, str, str, int]] = []

        @activity.defn(name="send_brief")
        def flaky_send_brief(request: SendBrief) -> SendResult:
            """Every first attempt sends and archives, then its worker is 'lost': the retry must not resend."""
            result = real.send_brief(request)
            attempts.append((request.brief.seq, request.brief.audience, request.channel, activity.info().attempt))
            if activity.info().attempt == 1:
                raise RuntimeError("worker lost after the brief was sent and archived")
            return result

        async with worker(ts_env.client, task_queue, playbook, home, replace={"send_brief": flaky_send_brief}) as ctx:
            handle, state = await open_incident(ts_env, task_queue, Severity.SEV1)
            acked = state.acknowledged_at
            assert acked is not None
            await advance_to(ts_env, acked + timedelta(minutes=31))
            state = await wait_for(handle, lambda s: len(s.pending_approvals()) == 3)
            assert pending(state) == ["brief-1", "brief-1-customers", "brief-1-leadership"]
            number = str(state.number)

            # Each approval request is in Slack with the draft and buttons the intake's Slack route understands.
            asks = await _until(lambda: len(slack.approval_requests()) == 3 and slack.approval_requests())
            values = sorted(e["value"] for m in asks for b in m["blocks"] if b["type"] == "actions"
                            for e in b["elements"])
            assert values == sorted(f"{verb}|{number}|{rid}" for verb in ("approve", "reject")
                                    for rid in ("brief-1", "brief-1-customers", "brief-1-leadership"))
            payload = {"type": "block_actions", "user": {"id": "U0SAM"}, "actions": [{"value": values[0]}]}
            assert parse_slack_action(urlencode({"payload": json.dumps(payload)}).encode())[1:4] == (
                "approve", number, values[0].split("|")[2])

            for rid in ("brief-1", "brief-1-leadership", "brief-1-customers"):
                await approve(handle, rid, "sam", Role.DOMAIN_SME)
            state = await wait_for(handle, lambda s: sent(s, "brief #1") and sent(s, "brief #1 (leadership)")
                                   and "brief-1-customers-release" in pending(s), ts_env)
            # The customers' brief waits for the communications role: nothing public yet.
            assert statuspage.incidents == {} and not sent(state, "brief #1 (customers)")
            assert state.approval("brief-1-customers-release").role == Role.COMMUNICATIONS  # type: ignore[union-attr]
            await approve(handle, "brief-1-customers-release", "cat", Role.COMMUNICATIONS)
            state = await wait_for(handle, lambda s: sent(s, "brief #1 (customers)"), ts_env)

            # Second tick: responders and customers (leadership is every second tick); the page is updated.
            await advance_to(ts_env, acked + timedelta(minutes=61))
            state = await wait_for(handle, lambda s: pending(s) == ["brief-2", "brief-2-customers"], ts_env)
            await approve(handle, "brief-2", "sam", Role.DOMAIN_SME)
            await approve(handle, "brief-2-customers", "cat", Role.DOMAIN_SME)
            await wait_for(handle, lambda s: "brief-2-customers-release" in pending(s), ts_env)
            # Four eyes: whoever approved the text as domain SME does not also release it.
            same = decision("brief-2-customers-release", "cat", Role.COMMUNICATIONS)
            await handle.signal(IncidentWorkflow.approve, same)
            await wait_for(handle, lambda s: s.outcome(same.action_id) is not None)
            refused = await handle.query(IncidentWorkflow.action_outcome, same.action_id)
            assert refused is not None and not refused.accepted and "second person" in refused.message
            await approve(handle, "brief-2-customers-release", "kim", Role.COMMUNICATIONS)
            state = await wait_for(handle, lambda s: sent(s, "brief #2") and sent(s, "brief #2 (customers)"), ts_env)

    # Audiences of one tick are sent concurrently, so their lines may land in either order under load.
    assert sorted(w for w in whats(state) if " sent to " in w) == sorted([
        "brief #1 sent to archive, ops_hook, ops_slack", "brief #1 (leadership) sent to archive, leaders_mail",
        "brief #1 (customers) sent to archive, status", "brief #2 sent to archive, ops_hook, ops_slack",
        "brief #2 (customers) sent to archive, status"])
    assert state.briefs_sent == 2
    # Every send was retried once, and the retry found the first attempt's message: one message per brief and channel.
    sends = {(seq, aud, ch) for seq, aud, ch, _ in attempts}
    assert sorted(attempts) == sorted((*s, n) for s in sends for n in (1, 2)) and len(sends) == 12
    assert len(slack.webhook_messages) == 2 and len(slack.brief_messages()) == 2
    assert [m["channel"] for m in slack.brief_messages()] == ["C0INCIDENT"] * 2
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["To"] == "leaders@example.com" and "executive update #1" in mail["Subject"]
    assert "Business impact and risk" in mail.get_content() and "Approved by sam." in mail.get_content()
    # One Statuspage incident, created by brief #1 and updated by brief #2; customers see no internals.
    assert [m for m, _ in statuspage.calls] == ["POST", "PATCH"]
    (incident,) = statuspage.incidents.values()
    assert incident["status"] == "monitoring" and statuspage.statuses(incident) == {"cmp1": "degraded_performance"}
    assert len(incident["incident_updates"]) == 2
    assert all("toxicity_p95" not in u["body"] and "d-123" not in u["body"] for u in incident["incident_updates"])
    assert state.channel_refs == {"status": incident["id"]}
    comms = ctx.store.root / number / "comms"
    archive = read_jsonl(comms / "archive.jsonl")
    briefs = sorted((r["seq"], r["audience"], r["channel"]) for r in archive if r["kind"] == "brief")
    assert briefs == sorted(sends)  # one archive line per brief and channel, the archive copy included
    assert [r["released_by"] for r in archive if r.get("audience") == "customers"] == ["cat"] * 2 + ["kim"] * 2
    # What the public page shows, read from Statuspage's answer (an array of component objects).
    assert [r["components"] for r in archive if r["channel"] == "status"] == [
        {"Support assistant (cmp1)": "degraded_performance"}] * 2
    assert sorted(p.name for p in comms.glob("*-brief.md")) == [
        "0001-brief.md", "0001-customers-brief.md", "0001-leadership-brief.md", "0002-brief.md",
        "0002-customers-brief.md"]


async def test_a_channel_down_and_the_smes_edit(ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                                home: Path) -> None:
    with serving(FakeSlack()) as slack, smtp_sink() as smtp:
        slack.webhook_status = 500  # the incoming webhook is down for the whole test
        playbook = write_playbook(tmp_path, channels(slack, smtp.port) + """
[communicate.audiences.responders]
shape = "tactical"
channels = ["ops_hook", "ops_slack", "leaders_mail"]
""")
        async with worker(ts_env.client, task_queue, playbook, home) as ctx:
            handle, state = await open_incident(ts_env, task_queue, Severity.SEV1)
            acked = state.acknowledged_at
            assert acked is not None
            await advance_to(ts_env, acked + timedelta(minutes=31))
            state = await wait_for(handle, lambda s: pending(s) == ["brief-1"])
            number = str(state.number)
            draft = (ctx.store.root / number / "briefs" / "0001-draft.md").read_text()

            # Edited text goes with a domain SME's brief approval only.
            wrong = decision("brief-1", "sam", Role.DOMAIN_SME)
            wrong.text = "   "
            await handle.signal(IncidentWorkflow.approve, wrong)
            await wait_for(handle, lambda s: s.outcome(wrong.action_id) is not None)
            assert "empty" in (await handle.query(IncidentWorkflow.action_outcome, wrong.action_id)).message  # type: ignore

            edited = draft.replace("## Next steps", "## Customer impact\nAbout 40 conversations saw a bad answer; "
                                   "support is contacting them.\n\n## Next steps")
            (tmp_path / "edited.md").write_text(edited)
            env = {**os.environ, "TEMPORAL_ADDRESS": ts_env.client.service_client.config.target_host,
                   "FIREBREAK_PLAYBOOK": str(playbook), "FIREBREAK_HOME": str(home)}
            done = await asyncio.to_thread(subprocess.run, [
                FIREBREAK, "approve", handle.id, "brief-1", "--as", "sam", "--text-file", str(tmp_path / "edited.md")],
                env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
            assert done.returncode == 0, done.stderr
            assert "brief-1 approved" in done.stdout
            state = await wait_for(handle, lambda s: sent(s, "brief #1"), ts_env, step=timedelta(seconds=10))

    # The webhook that is down was retried and reported; the other channels got the brief all the same.
    assert "brief #1 sent to archive, ops_slack, leaders_mail" in whats(state)
    failure = next(e for e in state.timeline if e.what == "brief #1 to ops_hook failed after retries")
    assert "500" in failure.details["error"]
    assert state.briefs_sent == 1
    # What was sent is the SME's text; the draft, the approved text and the diff are archived side by side.
    edit = next(e for e in state.timeline if e.what == "brief #1 edited by sam")
    assert (edit.actor, edit.role) == ("sam", "domain_sme") and edit.details == {"lines_added": 3, "lines_removed": 0}
    assert state.approval("brief-1").status == ApprovalStatus.APPROVED  # type: ignore[union-attr]
    assert "About 40 conversations" in json.dumps(slack.brief_messages()[0]["blocks"])
    assert "About 40 conversations" in smtp.messages[0].get_content()
    comms = ctx.store.root / number / "comms"
    assert (comms / "0001-draft.md").read_text() == draft
    assert (comms / "0001-brief.md").read_text().startswith(edited)
    assert "Edited by sam" in (comms / "0001-brief.md").read_text()
    diff = (comms / "0001-edit.diff").read_text()
    assert "+## Customer impact" in diff and diff.startswith("--- 0001-draft.md")
    archive = read_jsonl(comms / "archive.jsonl")
    assert sorted(r["channel"] for r in archive) == ["archive", "leaders_mail", "ops_slack"]
    assert {r["edited_by"] for r in archive} == {"sam"}


async def _until(check: Any, attempts: int = 200) -> Any:
    for _ in range(attempts):
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met")


async def test_an_http_approval_carries_the_edited_brief(ts_env: WorkflowEnvironment, task_queue: str,
                                                         tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path)
    tokens = TokenStore(tmp_path / "tokens.json")
    people = People(tokens=tokens, roster=load_playbook(playbook)[0].roster)
    cfg = intake_config(people={"outcome_wait_seconds": 5.0})
    app = create_app(cfg, intake_secrets(cfg), client=ts_env.client, task_queue=task_queue, people=people)
    sam, _ = tokens.issue("sam")
    async with serving_api(app) as api, worker(ts_env.client, task_queue, playbook, home) as ctx:
        handle, state = await open_incident(ts_env, task_queue, Severity.SEV1)
        assert state.acknowledged_at is not None
        await advance_to(ts_env, state.acknowledged_at + timedelta(minutes=31))
        await wait_for(handle, lambda s: pending(s) == ["brief-1"])
        url = f"/v1/incidents/{handle.id}/approvals/brief-1"
        r = await api.http.post(url, headers=bearer(sam), json={"decision": "reject", "text": "no"})
        assert r.status_code == 422 and "not a rejection" in r.json()["message"]
        r = await api.http.post(url, headers=bearer(sam), json={"decision": "approve",
                                                                "text": "# Short\n\nAll calm. Ring 555-123-4567."})
        assert r.status_code == 200, r.text
        assert r.json()["redacted"] == {"PHONE": 1}  # redacted before it reached Temporal, and the SME is told
        state = await wait_for(handle, lambda s: sent(s, "brief #1"), ts_env)
    comms = ctx.store.root / str(state.number) / "comms"
    assert (comms / "0001-brief.md").read_text().startswith("# Short\n\nAll calm. Ring [REDACTED:PHONE].")
    assert (comms / "0001-draft.md").exists() and "brief #1 edited by sam" in whats(state)
