"""Serious incidents under the EU AI Act (Art. 73): the reporting clock from when the provider became aware, the
reminders to legal, the draft reports through the domain SME's and legal's gates, the report to the authority on
record, the retrospective and risk register carrying it, and legal's hold on changes with the IC's safety override.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from playbook.config import SeriousCase
from playbook.models import ApprovalStatus, Decision, IncidentStatus, Resolution, RetrospectiveNotes, Role
from playbook.serious import AwareChange, ReportFiled, SeriousMark
from tests.behaviour import (  # noqa: F401  (terminate_leftovers is an autouse fixture)
    advance_to,
    near,
    open_incident,
    read_jsonl,
    terminate_leftovers,
    whats,
    worker,
)
from tests.support import ROSTER, decision, state_of, wait_for, write_playbook
from workflows.incident import IncidentWorkflow

LEGAL = ROSTER + """
[roster.people.lea]
name = "Lea Legal"
roles = ["legal"]
"""
QUIET = """
[severity.levels.SEV3]
cadence_minutes = 0
ack_timeout_minutes = 60
"""


def _aid() -> str:
    return str(uuid.uuid4())


async def _outcome(handle, action_id: str):  # type: ignore[no-untyped-def]
    await wait_for(handle, lambda s: s.outcome(action_id) is not None)
    return await handle.query(IncidentWorkflow.action_outcome, action_id)


async def test_the_clock_the_reports_and_the_filing(ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path,
                                                    home: Path) -> None:
    playbook = write_playbook(tmp_path, QUIET, roster=LEGAL)
    async with worker(ts_env.client, task_queue, playbook, home) as ctx:
        handle, state = await open_incident(ts_env, task_queue)
        folder = ctx.store.root / str(state.number)
        # An AI Ops engineer may not mark it; the incident commander may, and must say why.
        olu = SeriousMark(by="olu", role=Role.AI_OPS, case=SeriousCase.WIDESPREAD, comment="x", action_id=_aid())
        await handle.signal(IncidentWorkflow.mark_serious, olu)
        assert not (await _outcome(handle, olu.action_id)).accepted
        now = await ts_env.get_current_time()
        aware = now - timedelta(hours=2)
        mark = SeriousMark(by="ian", role=Role.INCIDENT_COMMANDER, case=SeriousCase.WIDESPREAD, aware_at=aware,
                           comment="the bot told every customer the same account data", action_id=_aid())
        await handle.signal(IncidentWorkflow.mark_serious, mark)
        assert (await _outcome(handle, mark.action_id)).accepted
        state = await wait_for(handle, lambda s: s.approval("ai-act-initial-sme") is not None)
        assert state.serious is not None and state.serious.deadline == aware + timedelta(days=2)
        draft = (folder / "ai-act" / "initial-report.md").read_text()
        for part in ("Serious incident report (initial)", "widespread infringement", "## The AI system",
                     "support-bot", "## The harm", "## Timeline", "## Evidence index", "## Corrective measures"):
            assert part in draft
        marked = [n for n in read_jsonl(folder / "notifications.jsonl") if "serious incident" in n["subject"]]
        assert [n["to"] for n in marked] == [["lea"]]

        # The domain SME checks the facts, then legal approves it for filing.
        await handle.signal(IncidentWorkflow.approve, decision("ai-act-initial-sme", "sam", Role.DOMAIN_SME))
        await wait_for(handle, lambda s: s.approval("ai-act-initial-legal") is not None)
        assert (await state_of(handle)).approval("ai-act-initial-legal").role == Role.LEGAL  # type: ignore[union-attr]
        await handle.signal(IncidentWorkflow.approve, decision("ai-act-initial-legal", "lea", Role.LEGAL))
        await wait_for(handle, lambda s: "AI Act initial report approved for filing" in whats(s))

        # Legal corrects when the provider became aware (with a reason): the deadline moves with it.
        later = aware + timedelta(hours=1)
        change = AwareChange(by="lea", role=Role.LEGAL, aware_at=later, comment="causal link established at 10:00",
                             action_id=_aid())
        await handle.signal(IncidentWorkflow.serious_aware, change)
        assert (await _outcome(handle, change.action_id)).accepted
        state = await state_of(handle)
        deadline = later + timedelta(days=2)
        assert state.serious is not None and state.serious.deadline == deadline
        assert state.serious.aware_edits[0].reason == "causal link established at 10:00"

        # Reminders to legal 24 h and 4 h before, then overdue to legal and the incident commander.
        await advance_to(ts_env, deadline - timedelta(hours=24) + timedelta(minutes=1))
        state = await state_of(handle)
        assert [w for w in whats(state) if w.startswith("AI Act report")] == ["AI Act report due 24h before: "
                                                                             "reminder before-24h"]
        await advance_to(ts_env, deadline + timedelta(minutes=1))
        state = await state_of(handle)
        reminders = [e for e in state.timeline if e.what.startswith("AI Act report")]
        assert [e.details["to"] for e in reminders] == [["lea"], ["lea"], ["lea", "ian"]]
        assert near(reminders[-1].at, deadline)
        subjects = [n["subject"] for n in read_jsonl(folder / "notifications.jsonl") if "AI Act" in n["subject"]]
        assert subjects[-1].endswith("AI Act serious-incident report due now")

        # Legal records the report to the authority: reference and time, late by a minute.
        filed = ReportFiled(by="lea", role=Role.LEGAL, reference="MSA-2026-118", action_id=_aid())
        await handle.signal(IncidentWorkflow.serious_reported, filed)
        assert (await _outcome(handle, filed.action_id)).accepted
        state = await state_of(handle)
        entry = next(e for e in state.timeline if e.what == "initial report sent to the authority")
        assert entry.details["reference"] == "MSA-2026-118" and entry.details["in_time"] is False
        await advance_to(ts_env, deadline + timedelta(hours=30))
        assert not [w for w in whats(await state_of(handle)) if w.startswith("AI Act report OVERDUE")]

        # Resolved and reviewed: the complete report is drafted and gated, the incident closes, and the run ends
        # only once legal records the complete report as filed.
        await handle.signal(IncidentWorkflow.resolve, Resolution(by="ian", role=Role.INCIDENT_COMMANDER,
                                                                 comment="rolled back"))
        await wait_for(handle, lambda s: s.retrospective_path is not None)
        await handle.signal(IncidentWorkflow.retrospective_done, RetrospectiveNotes(
            by="ian", role=Role.INCIDENT_COMMANDER, root_cause="a cached answer keyed without the user id"))
        state = await wait_for(handle, lambda s: s.approval("ai-act-complete-sme") is not None)
        complete = (folder / "ai-act" / "complete-report.md").read_text()
        assert "a cached answer keyed without the user id" in complete
        await handle.signal(IncidentWorkflow.approve, decision("ai-act-complete-sme", "sam", Role.DOMAIN_SME))
        await wait_for(handle, lambda s: s.approval("ai-act-complete-legal") is not None)
        state = await wait_for(handle, lambda s: s.status == IncidentStatus.CLOSED)
        assert "waiting for the AI Act complete report to be recorded as filed" in whats(state)
        # A closed incident still takes legal's approval and the filing.
        await handle.signal(IncidentWorkflow.approve, decision("ai-act-complete-legal", "lea", Role.LEGAL))
        await wait_for(handle, lambda s: "AI Act complete report approved for filing" in whats(s))
        await handle.signal(IncidentWorkflow.serious_reported, ReportFiled(
            by="lea", role=Role.LEGAL, kind="complete", reference="MSA-2026-118/2", action_id=_aid()))
        assert (await handle.result()).status == IncidentStatus.CLOSED

        retro = json.loads((folder / "retrospective.json").read_text())["serious_incident"]
        assert retro["case"] == "widespread" and retro["initial_report"]["reference"] == "MSA-2026-118"
        assert retro["reported_in_time"] is False
        assert "## Serious incident (EU AI Act Art. 73)" in (folder / "retrospective.md").read_text()
        risk = json.loads((ctx.store.root / "_risk_register" / f"{state.number}.json").read_text())
        assert risk["serious_incident"]["deadline"] == deadline.isoformat()


RULED = """
[[severity.rules]]
kinds = ["toxicity"]
severity = "SEV3"
serious = "death"

[actions.rollback]
kind = "langfuse_prompt_rollback"
base_url = "http://127.0.0.1:9"
prompt_name = "support"
prompt_version = "12"

[services."*"]
stabilise = ["rollback"]
"""


async def test_a_rule_marks_it_and_changes_wait_for_legal_unless_the_ic_overrides(
        ts_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, home: Path) -> None:
    playbook = write_playbook(tmp_path, QUIET + RULED, roster=LEGAL)
    async with worker(ts_env.client, task_queue, playbook, home):
        handle, state = await open_incident(ts_env, task_queue)
        assert state.serious is not None and state.serious.case == SeriousCase.DEATH
        assert state.opened_at is not None and state.serious.deadline == state.opened_at + timedelta(days=10)
        rid = "ai-act-hold-stabilise-rollback"
        state = await wait_for(handle, lambda s: s.approval(rid) is not None)
        held = state.approval(rid)
        assert held is not None and held.role == Role.LEGAL and "firebreak override" in held.why
        assert state.approval("stabilise-2") is None  # the action's own gate waits behind legal's

        # Only the incident commander overrides, and only with a reason.
        for by, role, reason in (("olu", Role.AI_OPS, "users at risk"), ("ian", Role.INCIDENT_COMMANDER, " ")):
            attempt = Decision(request_id=rid, by=by, role=role, comment=reason, action_id=_aid())
            await handle.signal(IncidentWorkflow.override_hold, attempt)
            assert not (await _outcome(handle, attempt.action_id)).accepted
        ok = Decision(request_id=rid, by="ian", role=Role.INCIDENT_COMMANDER, comment="users still harmed",
                      action_id=_aid())
        await handle.signal(IncidentWorkflow.override_hold, ok)
        assert (await _outcome(handle, ok.action_id)).accepted
        state = await wait_for(handle, lambda s: any(a.subject.startswith("run rollback") for a in s.approvals))
        held = state.approval(rid)
        assert held is not None and held.status == ApprovalStatus.APPROVED and held.decided_by == "ian"
        entry = next(e for e in state.timeline if e.what == f"{rid} overridden for safety")
        assert entry.details["reason"] == "users still harmed" and entry.details["safety_override"] is True
