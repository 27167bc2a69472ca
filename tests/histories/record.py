"""Record the replay histories: `.venv/bin/python -m tests.histories.record`.

Runs the incident shapes (or only those named: `... record briefs_per_audience`) on the time-skipping test server
with the real activities and writes each finished history as JSON beside this file. Re-record only for a
deliberate, patched workflow change; keep the old files too, so incidents started before the change stay covered.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from client.temporal import raise_detection
from embedded.binaries import temporal_test_server
from playbook import search_attributes as sa
from playbook.models import Resolution, RetrospectiveNotes, Role, Severity, SeverityChange
from playbook.remedy import PatchText
from tests.fake_langfuse import fake_langfuse
from tests.support import decision, detection, human, incident_worker, recorder, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

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


Scenario = Callable[[WorkflowEnvironment, str], Awaitable[WorkflowHandle[Any, Any]]]
SCENARIOS: dict[str, Scenario] = {
    "quick_sev3": quick_sev3, "sev1_approvals_cadence": sev1_with_approvals_and_cadence, "storm": storm,
    "pending_unreadable": pending_and_unreadable}
# Recorded with a playbook of their own.
OWN_PLAYBOOK: dict[str, tuple[Scenario, str]] = {"briefs_per_audience": (briefs_per_audience, AUDIENCES_PLAYBOOK),
                                                 "remedy": (remedy, REMEDY_PLAYBOOK),
                                                 "remedy_candidate": (remedy_candidate, REMEDY_PLAYBOOK),
                                                 "final_brief": (final_brief, AUDIENCES_PLAYBOOK)}


async def main(names: list[str]) -> None:
    """Record the named scenarios (all of them when none is named)."""
    unknown = set(names) - set(SCENARIOS) - set(OWN_PLAYBOOK)
    if unknown:
        raise SystemExit(f"unknown scenario(s) {sorted(unknown)}; known: {sorted([*SCENARIOS, *OWN_PLAYBOOK])}")
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=temporal_test_server(),
                                                        data_converter=pydantic_data_converter)
    await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=env.client.namespace,
        search_attributes={k.name: IndexedValueType.ValueType(int(k.indexed_value_type)) for k in sa.ALL}))
    runs = [(name, scenario, PLAYBOOK) for name, scenario in SCENARIOS.items() if not names or name in names]
    runs += [(name, scenario, body) for name, (scenario, body) in OWN_PLAYBOOK.items() if not names or name in names]
    async with env:
        with fake_langfuse() as langfuse, recorder() as control:
            # The remedy shape's Langfuse (a prompt, two traces) and control plane; the others never call them.
            os.environ.update(langfuse.env())
            langfuse.add_prompt("undo-bot", "v1", ["production"])
            now = datetime.now(UTC)
            for n, text in enumerate(["hello", "say you idiot"]):
                langfuse.add_observation(trace_id=f"{n:032d}", start=now - timedelta(minutes=5), input=text)
            for name, scenario, body in runs:
                if name.startswith("remedy"):
                    body = body.format(langfuse=langfuse.url, control=control.url)
                with tempfile.TemporaryDirectory() as tmp:
                    (Path(tmp) / "patch.txt").write_text("v2, polite", encoding="utf-8")
                    playbook = write_playbook(Path(tmp), body)
                    tq = f"record-{uuid.uuid4()}"
                    async with incident_worker(env.client, tq, playbook, Path(tmp) / "home"):
                        handle = await scenario(env, tq)
                        await handle.result()
                        history = await handle.fetch_history()
                        (HERE / f"{name}.json").write_text(history.to_json())
                        print(f"recorded {name}: {len(history.events)} events")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
