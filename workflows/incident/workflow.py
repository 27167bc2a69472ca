"""IncidentWorkflow: one AI incident walked through the playbook's seven steps, with people in the loop.

This file is the run loop, the signals and the queries; each phase lives in its own room, functions over the
incident core (workflows/incident/core.py), or a small class holding it where the room keeps runtime state
(Alerts: the dedup sets; Communication: the cadence's re-time flag; Review: the closing brief's task):

    alerts.py       alerts joining the incident, counted once per alert id
    acknowledge.py  step 1: open, page, escalate until acknowledged
    paging.py       who is on call (schedules fill roles); the PagerDuty alert's trigger, acknowledge, resolve
    respond.py      steps 2-5: the service plan's actions under the approval policy, the evidence pack
    gates.py        approval gates and who may decide them
    mitigations.py  outcomes, the undo registry, keep/undo at resolution
    remedy.py       prompt patch candidates, the regression gate, patches and retests while monitoring
    communicate.py  step 6: the brief cadence and the closing brief (briefs.py: one brief to one audience)
    review.py       step 7: the retrospective, its action items, closing
    serious.py      EU AI Act serious incidents: the reporting clock, the reports, legal's hold on changes
    channel_room.py the incident's own Slack channel: opened, responders invited, the timeline posted, archived
    visibility.py   search attributes and the UI's current details (pure functions of the state)

Deterministic orchestration only. Side effects are activities called by name; the playbook is snapshotted
into the state when the incident opens, so a playbook edit never changes a running incident's replay.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

from workflows.incident import acknowledge, gates, mitigations, paging, remedy, respond, snapshots
from workflows.incident.alerts import Alerts
from workflows.incident.channel_room import ChannelRoom
from workflows.incident.communicate import Communication
from workflows.incident.core import IncidentCore
from workflows.incident.review import Review
from workflows.incident.serious import Serious

with workflow.unsafe.imports_passed_through():
    from playbook.models import (
        ActionOutcome,
        ApprovalRequest,
        ApprovalStatus,
        Decision,
        Detection,
        HumanAction,
        IncidentStatus,
        Resolution,
        RetrospectiveNotes,
        RoleAssignment,
        SeverityChange,
        TimelineEntry,
    )
    from playbook.remedy import PatchText
    from playbook.serious import AwareChange, ReportFiled, SeriousMark
    from playbook.state import IncidentInput, IncidentState, IncidentSummary
    from workflows.incident.people import IC_ONLY
    from workflows.unreadable import read_input


@workflow.defn
class IncidentWorkflow:
    @workflow.init
    def __init__(self, request: Any) -> None:  # an IncidentInput, read here (workflows/unreadable.py)
        request = read_input(IncidentInput, request, "the incident's start input")
        self.core = IncidentCore(request.carried or IncidentState(workflow_id=workflow.info().workflow_id,
                                                                  detection=request.detection, drill=request.drill))
        self.state = self.core.state
        self._alerts = Alerts(self.core)
        self._communication = Communication(self.core)
        self._review = Review(self.core, self._communication)
        self._serious = Serious(self.core)
        self._room = ChannelRoom(self.core)
        if request.carried is None:
            self._alerts.count(request.detection)
        elif self.state.playbook is not None:
            self.state.playbook = snapshots.shared(self.state.playbook)

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, _: Any) -> IncidentSummary:
        core, s = self.core, self.state
        if s.number is None:
            await acknowledge.open_incident(core)
        self._serious.resume()
        self._room.resume()
        if s.status == IncidentStatus.OPEN and not await acknowledge.await_acknowledgement(core):
            return core.continue_as_new()
        if s.status in (IncidentStatus.ACKNOWLEDGED, IncidentStatus.MONITORING):
            cadence = asyncio.create_task(self._communication.cadence())
            await respond.respond(core)
            if not core.resolved():
                core.set(status=IncidentStatus.MONITORING)
                await remedy.monitor(core)
            if not core.resolved():
                cadence.cancel()
                return core.continue_as_new()
            await cadence
        if core.resolved() and s.status != IncidentStatus.CLOSED:
            await paging.resolved(core)
            await mitigations.carry_out_undos(core)
        if s.status != IncidentStatus.CLOSED and not await self._review.review():
            return core.continue_as_new()
        await self._serious.settle()
        await self._room.close()
        await workflow.wait_condition(workflow.all_handlers_finished)
        core.flush()
        return IncidentSummary(workflow_id=s.workflow_id, number=s.number, severity=s.severity, status=s.status,
                               alert_count=s.alert_count, briefs_sent=s.briefs_sent,
                               retrospective_path=s.retrospective_path)

    # ------------------------------------------------------------------ queries

    @workflow.query
    def get_state(self) -> IncidentState:
        return self.state

    @workflow.query
    def get_timeline(self) -> list[TimelineEntry]:
        return self.state.timeline

    @workflow.query
    def pending_approvals(self) -> list[ApprovalRequest]:
        return self.state.pending_approvals()

    @workflow.query
    def action_outcome(self, action_id: str) -> ActionOutcome | None:
        return self.state.outcome(action_id)

    # ------------------------------------------------------------------ signals

    @workflow.signal
    def alert(self, detection: Detection) -> None:
        """A repeat or a new alert for this incident; counted once per alert id."""
        self._alerts.count(detection)
        self.core.publish()

    @workflow.signal
    def alert_batch(self, detections: list[Any]) -> None:
        """Many alerts in one signal: what the intake sends when it coalesces a storm. Each is read on its own: one
        that cannot be read is dropped with a warning and a timeline entry, and the others count."""
        if self._alerts.count_batch(detections):
            self.core.publish()

    @workflow.signal
    async def acknowledge(self, action: HumanAction) -> None:
        await acknowledge.on_acknowledge(self.core, action)

    @workflow.signal
    async def approve(self, decision: Decision) -> None:
        await gates.decide(self.core, decision, ApprovalStatus.APPROVED)

    @workflow.signal
    async def reject(self, decision: Decision) -> None:
        await gates.decide(self.core, decision, ApprovalStatus.REJECTED)

    @workflow.signal
    async def set_severity(self, change: SeverityChange) -> None:
        core, s = self.core, self.state
        if not await core.admit(change, "change severity", IC_ONLY):
            return
        before = s.severity
        if before == change.severity:
            core.refuse(change, "change severity", f"severity is already {before.value}")
            return
        s.severity = change.severity
        self._communication.severity_changed()
        core.accept(change, s.step, f"severity {before.value} -> {change.severity.value}", {"reason": change.comment})
        await core.ticket_update(f"severity-{len(s.timeline)}", f"Severity changed {before.value} -> "
                                 f"{change.severity.value} by {change.by}: {change.comment}")

    @workflow.signal
    async def assign_role(self, assignment: RoleAssignment) -> None:
        core, s = self.core, self.state
        if not await core.admit(assignment, "assign a role", IC_ONLY):
            return
        if assignment.person not in core.playbook().roster.people:
            core.refuse(assignment, "assign a role", f"{assignment.person} is not on the roster", "invalid")
            return
        roles = s.assignments.setdefault(assignment.person, [])
        if assignment.assign_role not in roles:
            roles.append(assignment.assign_role)
        core.accept(assignment, s.step, f"{assignment.person} assigned {assignment.assign_role.value}")

    @workflow.signal
    async def add_note(self, note: HumanAction) -> None:
        if not await self.core.admit(note, "add a note", set()):
            return
        if not note.comment.strip():
            self.core.refuse(note, "add a note", "the note is empty", "invalid")
            return
        self.core.accept(note, self.state.step, "note", {"text": note.comment})

    @workflow.signal
    async def resolve(self, resolution: Resolution) -> None:
        core, s = self.core, self.state
        if not await core.admit(resolution, "resolve", IC_ONLY):
            return
        if core.resolved():
            core.refuse(resolution, "resolve", f"already resolved by {s.resolved_by}")
            return
        refusal = mitigations.resolution_refusal(core, resolution)
        if refusal:
            core.refuse(resolution, "resolve", refusal)
            return
        s.resolved_at, s.resolved_by = workflow.now(), resolution.by
        s.resolution_summary = resolution.comment
        mitigations.take_choices(core, resolution)
        core.accept(resolution, s.step, "resolved", {"summary": resolution.comment})

    @workflow.signal
    async def retest(self, action: HumanAction) -> None:
        """Run the incident's regression suites again (after the candidate was fixed)."""
        await remedy.request_retest(self.core, action)

    @workflow.signal
    async def patch(self, text: PatchText) -> None:
        """A new patch text (IC or AI Ops): a new candidate version, tested and gated like the first."""
        await remedy.request_patch(self.core, text)

    @workflow.signal
    async def retrospective_done(self, notes: RetrospectiveNotes) -> None:
        await self._review.retrospective_done(notes)

    @workflow.signal
    async def mark_serious(self, mark: SeriousMark) -> None:
        """A serious incident under the EU AI Act (Art. 73): the incident commander or legal, with the case."""
        await self._serious.mark(mark)

    @workflow.signal
    async def serious_aware(self, change: AwareChange) -> None:
        await self._serious.aware(change)

    @workflow.signal
    async def serious_reported(self, report: ReportFiled) -> None:
        await self._serious.filed(report)

    @workflow.signal
    async def override_hold(self, decision: Decision) -> None:
        """The incident commander lets an action held for legal run, for safety (the reason is recorded)."""
        await self._serious.override(decision)
