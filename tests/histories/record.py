"""Record the replay histories: `.venv/bin/python -m tests.histories.record`.

Runs the incident shapes (or only those named: `... record briefs_per_audience`) on the time-skipping test server
with the real activities and writes each finished history as JSON beside this file. Re-record only for a
deliberate, patched workflow change; keep the old files too, so incidents started before the change stay covered.

Besides incidents: an ActionItemWorkflow (reminded, escalated, refused and done), WatchWorkflow runs (a breach
reported, a failed read) and a chain of incident runs joined by continue-as-new, recorded on the dev server with a
low history limit (the time-skipping server never suggests continuing as new), so the carried-state path replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from client.temporal import raise_detection
from embedded.binaries import temporal_cli
from integrations.artefacts import ArtefactStore
from integrations.deploys import record_deploy
from playbook import search_attributes as sa
from playbook.config import load_playbook
from playbook.models import ActionItem, HumanAction, Resolution, RetrospectiveNotes, Role, Severity, SeverityChange
from playbook.remedy import PatchText
from playbook.serious import ReportFiled
from playbook.watch import WatchInput
from tests.fake_langfuse import fake_langfuse
from tests.support import (
    decision,
    detection,
    human,
    incident_worker,
    recorder,
    time_skipping_env,
    wait_for,
    write_playbook,
)
from workflows.action_items import ActionItemWorkflow
from workflows.incident import IncidentWorkflow
from workflows.watch import WatchWorkflow

HERE = Path(__file__).resolve().parent
PLAYBOOK = """
[[severity.rules]]
kinds = ["pii_in_logs"]
severity = "SEV1"
[actions.rollback_prompt]
kind = "manual"
instructions = "Roll ${service} back"
[actions.purge_caches]
kind = "manual"
instructions = "Purge ${service} caches"
[approvals.actions.purge_caches]
SEV1 = "approve:incident_commander"
[services."*"]
stabilise = ["rollback_prompt"]
contain = ["purge_caches"]
"""
# The remediation shape (on its own service): an http action with an undo, a prompt patch promoted after
# approval, a failing promptfoo suite (echo provider) overridden at resolution, and the http action undone.
REMEDY_PLAYBOOK = """
[evidence.traces]
kind = "langfuse"
base_url = "{langfuse}"
[actions.disable_tools]
kind = "http"
url = "{control}/disable"
[actions.disable_tools.undo]
url = "{control}/enable"
[actions.patch_prompt]
kind = "langfuse_prompt_patch"
base_url = "{langfuse}"
text_file = "patch.txt"
[actions.regression_suite]
kind = "promptfoo_regression"
evidence = "traces"
provider = "echo"
[approvals.actions.disable_tools]
SEV3 = "auto"
[approvals.actions.regression_suite]
SEV3 = "auto"
[services.undo-bot]
known_good = {{ prompt_name = "undo-bot", prompt_version = 1 }}
contain = ["disable_tools"]
remediate = ["patch_prompt", "regression_suite"]
"""
# A serious incident (EU AI Act): marked by a rule, a prompt rollback held and released by the IC's safety
# override (then approved; it fails: nothing listens there), the initial report gated and filed, the complete
# report gated and filed after the retrospective.
SERIOUS_PLAYBOOK = """
[[severity.rules]]
kinds = ["toxicity"]
severity = "SEV3"
serious = "other"
[severity.levels.SEV3]
cadence_minutes = 0
ack_timeout_minutes = 60
[actions.rollback]
kind = "langfuse_prompt_rollback"
base_url = "http://127.0.0.1:9"
prompt_name = "support"
prompt_version = "12"
[services."*"]
stabilise = ["rollback"]
"""
Recorded = dict[str, WorkflowHandle[Any, Any]]  # history file stem -> the run recorded there
RETRO = RetrospectiveNotes(by="ian", role=Role.INCIDENT_COMMANDER, root_cause="bad prompt",
                           contributing_factors=["no test"], preventative_actions=["add test"])


async def quick_sev3(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    handle = await raise_detection(env.client, detection(kind="hallucination", severity_hint=Severity.SEV3),
                                   task_queue=tq)
    await wait_for(handle, lambda s: s.ticket is not None)
    await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
    await wait_for(handle, lambda s: bool(s.pending_approvals()))
    await handle.signal(IncidentWorkflow.approve, decision("stabilise-1", "olu", Role.AI_OPS))
    await wait_for(handle, lambda s: any(a.request_id == "contain-2" for a in s.pending_approvals()))
    await handle.signal(IncidentWorkflow.reject, decision("contain-2", "olu", Role.AI_OPS, "not needed"))
    await wait_for(handle, lambda s: s.status.value == "monitoring")
    await handle.signal(IncidentWorkflow.resolve, Resolution(
        by="ian", role=Role.INCIDENT_COMMANDER, comment="fixed"))
    await wait_for(handle, lambda s: s.retrospective_path is not None)
    await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
    return handle


async def _request(handle: WorkflowHandle[Any, Any], subject: str) -> str:
    state = await wait_for(handle, lambda s: any(a.subject.startswith(subject) for a in s.approvals))
    return next(a.request_id for a in state.approvals if a.subject.startswith(subject))


async def serious(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    handle = await raise_detection(env.client, detection(), task_queue=tq)
    await wait_for(handle, lambda s: s.ticket is not None)
    await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
    hold = "ai-act-hold-stabilise-rollback"
    await wait_for(handle, lambda s: s.approval(hold) is not None and s.approval("ai-act-initial-sme") is not None)
    await handle.signal(IncidentWorkflow.override_hold, decision(hold, "ian", Role.INCIDENT_COMMANDER, "harm"))
    await handle.signal(IncidentWorkflow.approve, decision("ai-act-initial-sme", "sam", Role.DOMAIN_SME))
    await wait_for(handle, lambda s: s.approval("ai-act-initial-legal") is not None
                   and any(a.subject.startswith("run rollback") for a in s.approvals))
    await handle.signal(IncidentWorkflow.approve, decision("ai-act-initial-legal", "ian", Role.INCIDENT_COMMANDER))
    await handle.signal(IncidentWorkflow.approve, decision(await _request(handle, "run rollback"), "ian",
                                                           Role.INCIDENT_COMMANDER))
    await handle.signal(IncidentWorkflow.serious_reported, ReportFiled(by="ian", role=Role.INCIDENT_COMMANDER,
                                                                        reference="MSA-1"))
    # The rollback's retries back off for minutes of (skipped) time before it is recorded as failed.
    await wait_for(handle, lambda s: s.status.value == "monitoring", env=env, step=timedelta(seconds=30))
    await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER, comment="ok"))
    await wait_for(handle, lambda s: s.retrospective_path is not None)
    await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
    await wait_for(handle, lambda s: s.approval("ai-act-complete-sme") is not None)
    await handle.signal(IncidentWorkflow.approve, decision("ai-act-complete-sme", "sam", Role.DOMAIN_SME))
    await wait_for(handle, lambda s: s.approval("ai-act-complete-legal") is not None)
    await handle.signal(IncidentWorkflow.approve, decision("ai-act-complete-legal", "ian", Role.INCIDENT_COMMANDER))
    await handle.signal(IncidentWorkflow.serious_reported, ReportFiled(
        by="ian", role=Role.INCIDENT_COMMANDER, kind="complete", reference="MSA-1/2"))
    return handle


async def pending_and_unreadable(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    """quick_sev3 with its pending requests published (pending-listing-v1), a batch holding an alert that cannot be
    read (readable-alerts-v1) and a single alert that cannot be read (dropped by the SDK)."""
    handle = await raise_detection(env.client, detection(kind="hallucination", severity_hint=Severity.SEV3),
                                   task_queue=tq)
    await wait_for(handle, lambda s: s.ticket is not None)
    good = detection(kind="hallucination", alert_id="a-2").model_dump(mode="json")
    await handle.signal("alert_batch", [good, {**good, "alert_id": "a-3", "metrics": {"rate": None}}])
    await handle.signal("alert", {**good, "alert_id": "a-4", "metrics": {"rate": None}})
    await wait_for(handle, lambda s: s.alert_count == 2)
    await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
    await wait_for(handle, lambda s: bool(s.pending_approvals()))
    await handle.signal(IncidentWorkflow.approve, decision("stabilise-1", "olu", Role.AI_OPS))
    await wait_for(handle, lambda s: any(a.request_id == "contain-2" for a in s.pending_approvals()))
    await handle.signal(IncidentWorkflow.reject, decision("contain-2", "olu", Role.AI_OPS, "not needed"))
    await wait_for(handle, lambda s: s.status.value == "monitoring")
    await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER, comment="fixed"))
    await wait_for(handle, lambda s: s.retrospective_path is not None)
    await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
    return handle


async def sev1_with_approvals_and_cadence(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    handle = await raise_detection(env.client, detection(kind="pii_in_logs"), task_queue=tq)
    await wait_for(handle, lambda s: s.ticket is not None)
    await env.sleep(timedelta(minutes=6))  # the acknowledgement deadline passes; escalated to the backup
    await handle.signal(IncidentWorkflow.acknowledge, human("bea", Role.INCIDENT_COMMANDER))
    await wait_for(handle, lambda s: bool(s.pending_approvals()))
    await handle.signal(IncidentWorkflow.approve, decision("stabilise-1", "mallory", Role.AI_OPS))  # refused
    await handle.signal(IncidentWorkflow.approve, decision("stabilise-1", "olu", Role.AI_OPS))
    await wait_for(handle, lambda s: any(a.request_id == "contain-2" for a in s.pending_approvals()))
    await handle.signal(IncidentWorkflow.approve, decision("contain-2", "ian", Role.INCIDENT_COMMANDER))
    await wait_for(handle, lambda s: s.status.value == "monitoring")
    for _ in range(20):  # an hour: two briefs, each approved by the SME
        await env.sleep(timedelta(minutes=3))
        state = await handle.query(IncidentWorkflow.get_state)
        for request in state.pending_approvals():
            await handle.signal(IncidentWorkflow.approve, decision(request.request_id, "sam", Role.DOMAIN_SME))
    await handle.signal(IncidentWorkflow.set_severity, SeverityChange(
        by="ian", role=Role.INCIDENT_COMMANDER, severity=Severity.SEV2, comment="contained"))
    await handle.signal(IncidentWorkflow.resolve, Resolution(
        by="ian", role=Role.INCIDENT_COMMANDER, comment="contained"))
    await wait_for(handle, lambda s: s.retrospective_path is not None)
    await env.sleep(timedelta(hours=25))  # the first reminder
    await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
    return handle


async def storm(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    fingerprint = f"storm-{uuid.uuid4().hex[:6]}"
    first = detection(fingerprint=fingerprint, alert_id="s-0", kind="cost_spike", severity_hint=Severity.SEV4)
    handle = await raise_detection(env.client, first, task_queue=tq)
    for batch in range(5):
        await handle.signal(IncidentWorkflow.alert_batch, [
            detection(fingerprint=fingerprint, alert_id=f"s-{i % 150}", kind="cost_spike")
            for i in range(batch * 50, batch * 50 + 50)])
    await handle.signal(IncidentWorkflow.alert, detection(fingerprint=fingerprint, alert_id="s-1", firing=False,
                                                          kind="cost_spike"))
    await wait_for(handle, lambda s: s.alert_count == 150 and s.ticket is not None)
    await handle.signal(IncidentWorkflow.resolve, Resolution(
        by="ian", role=Role.INCIDENT_COMMANDER, comment="false alarm"))
    await wait_for(handle, lambda s: s.retrospective_path is not None)
    await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
    return handle


# A service whose plan runs no action, with a known-good prompt the deploy log has a deploy of.
SOURCES_PLAYBOOK = """
[services.sources-bot]
known_good = { prompt_name = "sources/answer", prompt_version = 3 }
"""


def deploy_log(store: ArtefactStore) -> None:
    """The deploy log as the Langfuse webhook leaves it: version 4 of sources/answer to production an hour ago."""
    record_deploy(store, "delivery-1", {"prompt": "sources/answer", "version": 4, "action": "created",
                                        "labels": ["production"], "by": "Carol Ops",
                                        "at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()})


async def alert_sources(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    """The first alert names no model, prompt or deploy: the deploy log's last deploy fills 'last deploy'
    (last-deploy-v1); then one batch holds a later alert naming a model and a prompt (alert-labels-v1), a Langfuse
    monitor's NO_DATA that is not firing (source-notes-v1) and a PagerDuty acknowledgement; acknowledged, resolved
    and reviewed."""
    first = detection(kind="hallucination", services=["sources-bot"], severity_hint=Severity.SEV3, deploy_id=None)
    handle = await raise_detection(env.client, first, task_queue=tq)
    await wait_for(handle, lambda s: s.ticket is not None)
    same = {"kind": "hallucination", "services": ["sources-bot"], "fingerprint": first.fingerprint, "deploy_id": None}
    await handle.signal(IncidentWorkflow.alert_batch, [
        detection(**same, alert_id="a-2", model="gpt-4o-mini", prompt_name="sources/answer", prompt_version=4),
        detection(**same, alert_id="m-1", firing=False, labels={"langfuse_monitor_severity": "NO_DATA"}),
        detection(**same, alert_id="a-1", labels={"pagerduty_event_action": "acknowledge"})])
    await wait_for(handle, lambda s: s.alert_count == 2 and len(s.source_acknowledged_ids) == 2)
    await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
    await wait_for(handle, lambda s: s.status.value == "monitoring")
    await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER, comment="fixed"))
    await wait_for(handle, lambda s: s.retrospective_path is not None)
    await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
    return handle


AUDIENCES_PLAYBOOK = """
[communicate.audiences.responders]
shape = "tactical"
[communicate.audiences.customers]
shape = "executive"
external = true
"""


async def briefs_per_audience(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    """Briefs for responders and (external) customers: an SME edit, a refused edit, the communications release."""
    handle = await raise_detection(env.client, detection(severity_hint=Severity.SEV1), task_queue=tq)
    await wait_for(handle, lambda s: s.ticket is not None)
    await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
    await wait_for(handle, lambda s: s.next_brief_due is not None)
    await env.sleep(timedelta(minutes=31))
    await wait_for(handle, lambda s: len(s.pending_approvals()) == 2)
    edited = decision("brief-1", "sam", Role.DOMAIN_SME)
    edited.text = "# Update 1\n\nEdited by the SME."
    await handle.signal(IncidentWorkflow.approve, edited)
    await handle.signal(IncidentWorkflow.approve, decision("brief-1-customers", "sam", Role.DOMAIN_SME))
    await wait_for(handle, lambda s: any(a.request_id == "brief-1-customers-release" for a in s.pending_approvals()))
    refused = decision("brief-1-customers-release", "cat", Role.COMMUNICATIONS)
    refused.text = "a release takes no text"
    await handle.signal(IncidentWorkflow.approve, refused)
    await handle.signal(IncidentWorkflow.approve, decision("brief-1-customers-release", "cat", Role.COMMUNICATIONS))
    await wait_for(handle, lambda s: s.briefs_sent == 1 and any(
        e.what.startswith("brief #1 (customers) sent") for e in s.timeline))
    await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER, comment="ok"))
    await wait_for(handle, lambda s: s.retrospective_path is not None)
    await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
    return handle


async def final_brief(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    """The closing brief (final-brief-v1): responders and customers briefed, resolved, both told 'resolved'."""
    handle = await raise_detection(env.client, detection(severity_hint=Severity.SEV1), task_queue=tq)
    await wait_for(handle, lambda s: s.ticket is not None)
    await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
    await wait_for(handle, lambda s: s.next_brief_due is not None)
    await env.sleep(timedelta(minutes=31))
    for prefix in ("brief-1", "brief-final"):
        await wait_for(handle, lambda s: len(s.pending_approvals()) == 2)
        await handle.signal(IncidentWorkflow.approve, decision(prefix, "sam", Role.DOMAIN_SME))
        await handle.signal(IncidentWorkflow.approve, decision(f"{prefix}-customers", "sam", Role.DOMAIN_SME))
        release = f"{prefix}-customers-release"
        await wait_for(handle, lambda s: any(a.request_id == release for a in s.pending_approvals()))  # noqa: B023
        await handle.signal(IncidentWorkflow.approve, decision(release, "cat", Role.COMMUNICATIONS))
        await wait_for(handle, lambda s: not s.pending_approvals())
        if prefix == "brief-1":
            await wait_for(handle, lambda s: s.briefs_sent == 1)
            await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER,
                                                                     comment="ok"))
    await wait_for(handle, lambda s: s.briefs_sent == 2)
    await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
    return handle


async def remedy(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    handle = await raise_detection(env.client, detection(services=["undo-bot"], severity_hint=Severity.SEV3),
                                   task_queue=tq)
    await wait_for(handle, lambda s: s.ticket is not None)
    await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
    state = await wait_for(handle, lambda s: bool(s.pending_approvals()))
    await handle.signal(IncidentWorkflow.approve, decision(state.pending_approvals()[0].request_id, "ian",
                                                           Role.INCIDENT_COMMANDER))
    await wait_for(handle, lambda s: bool(s.regressions) and s.status.value == "monitoring", attempts=600)
    await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER))  # refused
    await handle.signal(IncidentWorkflow.resolve, Resolution(
        by="ian", role=Role.INCIDENT_COMMANDER, comment="patched", undo=["disable_tools"], keep=["patch_prompt"],
        override_regressions="echo provider in the recording"))
    await wait_for(handle, lambda s: s.retrospective_path is not None)
    await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
    return handle


async def remedy_candidate(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    """The candidate tested before its gate (the echo provider fails it; promoted by an explicit approval), a
    patch text sent mid-incident (tested, then rejected), a retest, and the promoted patch undone."""
    handle = await raise_detection(env.client, detection(services=["undo-bot"], severity_hint=Severity.SEV3),
                                   task_queue=tq)
    await wait_for(handle, lambda s: s.ticket is not None)
    await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
    state = await wait_for(handle, lambda s: bool(s.pending_approvals()), attempts=600)
    await handle.signal(IncidentWorkflow.approve, decision(state.pending_approvals()[0].request_id, "ian",
                                                           Role.INCIDENT_COMMANDER, "promote despite the echo"))
    await wait_for(handle, lambda s: len(s.regressions) == 2 and s.status.value == "monitoring", attempts=600)
    await handle.signal(IncidentWorkflow.patch, PatchText(by="olu", role=Role.AI_OPS, text="v3, polite"))
    state = await wait_for(handle, lambda s: bool(s.pending_approvals()), attempts=600)
    await handle.signal(IncidentWorkflow.reject, decision(state.pending_approvals()[0].request_id, "ian",
                                                          Role.INCIDENT_COMMANDER, "still fails"))
    await wait_for(handle, lambda s: s.mitigations[-1].outcome == "rejected", attempts=600)
    await handle.signal(IncidentWorkflow.retest, human("olu", Role.AI_OPS))
    await wait_for(handle, lambda s: len(s.regressions) == 4, attempts=600)
    await handle.signal(IncidentWorkflow.resolve, Resolution(
        by="ian", role=Role.INCIDENT_COMMANDER, comment="patched", undo=["patch_prompt"],
        override_regressions="echo provider in the recording"))
    await wait_for(handle, lambda s: s.retrospective_path is not None)
    await handle.signal(IncidentWorkflow.retrospective_done, RETRO)
    return handle


ACTION_ITEMS_PLAYBOOK = """
[review]
action_item_reminder_hours = 24
action_item_escalate_after = 2
"""


async def action_items(env: WorkflowEnvironment, tq: str) -> Recorded:
    """An incident whose retrospective has two action items (its `track_action_items` step), and the first item's
    ActionItemWorkflow: reminded at its due date, twice more overdue, escalated, refused to a non-owner, done."""
    handle = await raise_detection(env.client, detection(kind="hallucination", severity_hint=Severity.SEV3),
                                   task_queue=tq)
    await wait_for(handle, lambda s: s.ticket is not None)
    await handle.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
    await wait_for(handle, lambda s: s.status.value == "monitoring")
    await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER, comment="ok"))
    await wait_for(handle, lambda s: s.retrospective_path is not None)
    now = await env.get_current_time()
    await handle.signal(IncidentWorkflow.retrospective_done, RETRO.model_copy(update={"action_items": [
        ActionItem(what="add a toxicity regression suite", owner="olu", due=now + timedelta(days=2)),
        ActionItem(what="review the logging policy", owner="sam")]}))
    state = await wait_for(handle, lambda s: s.status.value == "closed")
    first = env.client.get_workflow_handle(f"action-{state.number}-1")
    second = env.client.get_workflow_handle(f"action-{state.number}-2")
    await _item_until(first, lambda item: item.get("reminders_sent") == 0)
    await env.sleep(timedelta(days=2, hours=1))  # due: the first reminder
    await env.sleep(timedelta(days=2))  # two overdue reminders more: the incident commander is told
    await _item_until(first, lambda item: item.get("escalated") is True)
    await first.signal(ActionItemWorkflow.mark_done, HumanAction(by="sam", role=Role.DOMAIN_SME, action_id="x1"))
    await first.signal(ActionItemWorkflow.mark_done, HumanAction(by="olu", role=Role.AI_OPS, action_id="x2",
                                                                 comment="shipped"))
    await second.signal(ActionItemWorkflow.mark_done, HumanAction(by="ian", role=Role.INCIDENT_COMMANDER,
                                                                  action_id="x3"))
    await second.result()
    return {"action_items_incident": handle, "action_item": first}


async def _item_until(handle: WorkflowHandle[Any, Any], predicate: Callable[[dict[str, Any]], bool]) -> None:
    for _ in range(200):
        if predicate((await handle.query(ActionItemWorkflow.get_item)).model_dump(mode="json")):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"action item {handle.id} never reached the condition")


WATCH_PLAYBOOK = """
[watchers.tox]
service = "support-bot"
signal = "toxicity"
score_names = ["toxicity"]
threshold = 0.8
min_count = 2
window_minutes = 15
base_url = "{langfuse}"
[watchers.quiet]
service = "support-bot"
score_names = ["never_scored"]
threshold = 0.8
base_url = "{langfuse}"
[watchers.blind]
service = "support-bot"
score_names = ["toxicity"]
threshold = 0.8
base_url = "http://127.0.0.1:9"
public_key_env = "RECORD_BLIND_PUBLIC_KEY"
secret_key_env = "RECORD_BLIND_SECRET_KEY"
"""


async def _watch(env: WorkflowEnvironment, tq: str, playbook: Path, name: str) -> WorkflowHandle[Any, Any]:
    """One watch run as its schedule starts it, with the clock held (a result wait would skip time freely)."""
    watcher = load_playbook(playbook)[0].watchers[name]
    handle = await env.client.start_workflow(
        WatchWorkflow.run, WatchInput(name=name, watcher=watcher, incident_task_queue=tq),
        id=f"watch-{name}-{uuid.uuid4().hex[:6]}", task_queue=tq)
    with env.auto_time_skipping_disabled(), contextlib.suppress(WorkflowFailureError):
        await handle.result()
    return handle


async def watch(env: WorkflowEnvironment, tq: str, playbook: Path, langfuse: Any) -> Recorded:
    """A breach reported (the Detection raised, the memory saved), a quiet window (nothing to report) and a read
    that fails after its retries."""
    # Its own keys: the langfuse SDK keeps one client per public key. Nothing listens on port 9.
    os.environ.update(RECORD_BLIND_PUBLIC_KEY="pk-lf-blind", RECORD_BLIND_SECRET_KEY="sk-lf-blind")
    now = await env.get_current_time()
    for i in range(3):
        langfuse.add_score(name="toxicity", value=0.93, when=now - timedelta(minutes=1, seconds=i),
                           trace_id=uuid.uuid4().hex)
    breach = await _watch(env, tq, playbook, "tox")
    quiet = await _watch(env, tq, playbook, "quiet")
    failed = await _watch(env, tq, playbook, "blind")
    result = await breach.result()
    incident = env.client.get_workflow_handle(result.incident_workflow_id)
    await wait_for(incident, lambda s: s.ticket is not None)  # quiet before it is terminated
    await incident.terminate("recorded the watch runs only")
    return {"watch_breach": breach, "watch_quiet": quiet, "watch_read_failed": failed}


CHAIN_LIMIT = 40  # limit.historyCount.suggestContinueAsNew on the dev server for the chain


async def continue_as_new(client: Client, tq: str) -> Recorded:
    """An incident that continues as new several times: while unacknowledged (an alert storm), while monitoring
    and while the retrospective is awaited; every run after the first starts from the carried state."""
    fingerprint = f"chain-{uuid.uuid4().hex[:6]}"
    first = await raise_detection(client, detection(fingerprint=fingerprint, alert_id="c-0",
                                                    severity_hint=Severity.SEV3), task_queue=tq)
    await wait_for(first, lambda s: s.ticket is not None)
    for i in range(1, 31):
        await first.signal(IncidentWorkflow.alert, detection(fingerprint=fingerprint, alert_id=f"c-{i}"))
    latest = client.get_workflow_handle(first.id)
    await wait_for(latest, lambda s: s.alert_count == 31)
    await latest.signal(IncidentWorkflow.alert, detection(fingerprint=fingerprint, alert_id="c-1"))  # seen before
    await latest.signal(IncidentWorkflow.acknowledge, human("ian", Role.INCIDENT_COMMANDER))
    await wait_for(latest, lambda s: s.status.value == "monitoring")
    for n in range(12):
        await latest.signal(IncidentWorkflow.add_note, human("ian", Role.INCIDENT_COMMANDER, f"note {n}"))
    await wait_for(latest, lambda s: sum(e.what == "note" for e in s.timeline) == 12)
    await latest.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER, comment="ok"))
    await wait_for(latest, lambda s: s.retrospective_path is not None)
    for n in range(12):
        await latest.signal(IncidentWorkflow.add_note, human("ian", Role.INCIDENT_COMMANDER, f"review note {n}"))
    await wait_for(latest, lambda s: sum(e.what == "note" for e in s.timeline) == 24)
    await latest.signal(IncidentWorkflow.retrospective_done, RETRO)
    await latest.result()
    runs: dict[str, WorkflowHandle[Any, Any]] = {}
    run_id = first.result_run_id
    while run_id:  # each run names the next in its continued-as-new event
        handle = client.get_workflow_handle(first.id, run_id=run_id)
        runs[f"continue_as_new_{len(runs) + 1}"] = handle
        last = (await handle.fetch_history()).events[-1]
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id or None
    return runs


Scenario = Callable[[WorkflowEnvironment, str], Awaitable[WorkflowHandle[Any, Any] | Recorded]]
SCENARIOS: dict[str, Scenario] = {
    "quick_sev3": quick_sev3, "sev1_approvals_cadence": sev1_with_approvals_and_cadence, "storm": storm,
    "pending_unreadable": pending_and_unreadable,
    # Recorded on light-runs-v1 code (one marker, quick steps as local activities); the shapes above are older.
    "light_quick_sev3": quick_sev3, "light_sev1_approvals_cadence": sev1_with_approvals_and_cadence}
# Recorded with a playbook of their own.
OWN_PLAYBOOK: dict[str, tuple[Scenario, str]] = {"briefs_per_audience": (briefs_per_audience, AUDIENCES_PLAYBOOK),
                                                 "remedy": (remedy, REMEDY_PLAYBOOK),
                                                 "remedy_candidate": (remedy_candidate, REMEDY_PLAYBOOK),
                                                 "final_brief": (final_brief, AUDIENCES_PLAYBOOK),
                                                 "action_items": (action_items, ACTION_ITEMS_PLAYBOOK),
                                                 "alert_sources": (alert_sources, SOURCES_PLAYBOOK),
                                                 "serious": (serious, SERIOUS_PLAYBOOK)}
# Written to the worker's artefact store before the scenario runs.
SEEDS: dict[str, Callable[[ArtefactStore], None]] = {"alert_sources": deploy_log}
# Not incident scenarios of the time-skipping server; recorded by their own code below.
OTHERS = ("watch", "continue_as_new")


EXPECTED_TO_FAIL = {"watch_read_failed"}


async def _save(name: str, recorded: WorkflowHandle[Any, Any] | Recorded) -> None:
    for stem, handle in (recorded if isinstance(recorded, dict) else {name: recorded}).items():
        if stem in EXPECTED_TO_FAIL:
            with contextlib.suppress(WorkflowFailureError):
                await handle.result()
        else:
            await handle.result()
        history = await handle.fetch_history()
        (HERE / f"{stem}.json").write_text(history.to_json())
        print(f"recorded {stem}: {len(history.events)} events")


async def main(names: list[str]) -> None:
    """Record the named scenarios (all of them when none is named)."""
    unknown = set(names) - set(SCENARIOS) - set(OWN_PLAYBOOK) - set(OTHERS)
    if unknown:
        raise SystemExit(f"unknown scenario(s) {sorted(unknown)}; "
                         f"known: {sorted([*SCENARIOS, *OWN_PLAYBOOK, *OTHERS])}")
    runs = [(name, scenario, PLAYBOOK) for name, scenario in SCENARIOS.items() if not names or name in names]
    runs += [(name, scenario, body) for name, (scenario, body) in OWN_PLAYBOOK.items() if not names or name in names]
    with fake_langfuse() as langfuse, recorder() as control:
        # The remedy shape's Langfuse (a prompt, two traces) and control plane; the others never call them.
        os.environ.update(langfuse.env())
        langfuse.add_prompt("undo-bot", "v1", ["production"])
        now = datetime.now(UTC)
        for n, text in enumerate(["hello", "say you idiot"]):
            langfuse.add_observation(trace_id=f"{n:032d}", start=now - timedelta(minutes=5), input=text)
        if runs or not names or "watch" in names:
            env = await time_skipping_env()
            async with env:
                for name, scenario, body in runs:
                    body = body.format(langfuse=langfuse.url, control=control.url) if "{langfuse}" in body else body
                    with tempfile.TemporaryDirectory() as tmp:
                        (Path(tmp) / "patch.txt").write_text("v2, polite", encoding="utf-8")
                        playbook = write_playbook(Path(tmp), body)
                        tq = f"record-{uuid.uuid4()}"
                        async with incident_worker(env.client, tq, playbook, Path(tmp) / "home") as ctx:
                            SEEDS.get(name, lambda _: None)(ctx.store)
                            await _save(name, await scenario(env, tq))
                if not names or "watch" in names:
                    with tempfile.TemporaryDirectory() as tmp:
                        playbook = write_playbook(Path(tmp), WATCH_PLAYBOOK.format(langfuse=langfuse.url))
                        tq = f"record-{uuid.uuid4()}"
                        async with incident_worker(env.client, tq, playbook, Path(tmp) / "home"):
                            await _save("watch", await watch(env, tq, playbook, langfuse))
        if not names or "continue_as_new" in names:
            dev = await WorkflowEnvironment.start_local(
                dev_server_existing_path=temporal_cli(), search_attributes=sa.ALL,
                data_converter=pydantic_data_converter,
                dev_server_extra_args=["--dynamic-config-value",
                                       f"limit.historyCount.suggestContinueAsNew={CHAIN_LIMIT}"])
            async with dev:
                with tempfile.TemporaryDirectory() as tmp:
                    tq = f"record-{uuid.uuid4()}"
                    async with incident_worker(dev.client, tq, write_playbook(Path(tmp)), Path(tmp) / "home"):
                        await _save("continue_as_new", await continue_as_new(dev.client, tq))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
