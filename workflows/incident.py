"""IncidentWorkflow: one AI incident walked through the playbook's seven steps, with people in the loop.

Deterministic orchestration only. Side effects are activities called by name; the playbook is snapshotted
into the state when the incident opens, so a playbook edit never changes a running incident's replay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from playbook import alert_labels
    from playbook import search_attributes as sa
    from playbook.config import (
        Audience,
        LangfusePromptPatchAction,
        ManualAction,
        Playbook,
        PromptfooRegressionAction,
        SlackChannel,
        render_for_people,
    )
    from playbook.current_details import current_details
    from playbook.messages import (
        ActionResult,
        ActionRun,
        ApprovalPost,
        BriefInput,
        EvidenceInput,
        EvidencePack,
        Notification,
        OpenedIncident,
        OpenIncidentInput,
        RetrospectiveInput,
        SendBrief,
        SendResult,
        TicketInput,
        TicketUpdate,
    )
    from playbook.models import (
        ActionOutcome,
        ApprovalRequest,
        ApprovalStatus,
        Brief,
        Decision,
        Detection,
        HumanAction,
        IncidentStatus,
        MitigationRecord,
        Resolution,
        RetrospectiveNotes,
        Role,
        RoleAssignment,
        SeverityChange,
        Step,
        Ticket,
        TimelineEntry,
    )
    from playbook.remedy import PatchText
    from playbook.state import (
        ALERT_SUMMARY_EVERY,
        ALERTS_ON_TIMELINE,
        ActionItemInput,
        IncidentInput,
        IncidentState,
        IncidentSummary,
    )
    from workflows import briefing

from workflows.remedy import REMEDY_PATCH, RemedyMixin, _cause
from workflows.unreadable import read_input, readable_alerts
from workflows.visibility import pending_values

SYSTEM = "firebreak"
RESPONSE_STEPS = (Step.STABILISE, Step.CONTAIN, Step.INVESTIGATE, Step.REMEDIATE)
ACK_ROLES = {Role.INCIDENT_COMMANDER, Role.AI_OPS}
IC_ONLY = {Role.INCIDENT_COMMANDER}
ARCHIVE_CHANNEL = "archive"

QUICK: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=30),
         "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10)}
EXTERNAL: dict[str, Any] = {"start_to_close_timeout": timedelta(minutes=2),
            "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)}
ARCHIVE_TIMEOUT = timedelta(seconds=30)
FINAL_BRIEF_PATCH = "final-brief-v1"
HTTP_MARGIN = timedelta(seconds=5)


def _http_call(timeout_seconds: float) -> dict[str, Any]:
    """EXTERNAL, with the start-to-close timeout following the call's own HTTP timeout plus a margin, so an
    attempt lost with its worker (kill -9, OOM, a node gone) is retried within seconds, not minutes."""
    return {**EXTERNAL, "start_to_close_timeout": timedelta(seconds=timeout_seconds) + HTTP_MARGIN}


@workflow.defn
class IncidentWorkflow(RemedyMixin):
    @workflow.init
    def __init__(self, request: Any) -> None:  # an IncidentInput, read here (workflows/unreadable.py)
        request = read_input(IncidentInput, request, "the incident's start input")
        self.state: IncidentState = request.carried or IncidentState(
            workflow_id=workflow.info().workflow_id, detection=request.detection)
        self._cadence_changed = False
        self._brief_in_progress = False
        self._closing: asyncio.Task[None] | None = None
        self._published: dict[str, Any] = {}
        # Sets mirror the state's id lists so a storm's dedup stays O(1) per alert.
        self._seen = set(self.state.seen_alert_ids)
        self._resolved_ids = set(self.state.resolved_alert_ids)
        self._source_acked = set(self.state.source_acknowledged_ids)
        if request.carried is None:
            self._count_alert(request.detection)

    # ------------------------------------------------------------------ run

    @workflow.run
    async def run(self, request: Any) -> IncidentSummary:
        if self.state.number is None:
            await self._open()
        if self.state.status == IncidentStatus.OPEN and not await self._await_acknowledgement():
            return self._continue_as_new()
        if self.state.status in (IncidentStatus.ACKNOWLEDGED, IncidentStatus.MONITORING):
            cadence = asyncio.create_task(self._cadence())
            await self._respond()
            if not self._resolved():
                self._set(status=IncidentStatus.MONITORING)
                await self._monitor()
            if not self._resolved():
                cadence.cancel()
                return self._continue_as_new()
            await cadence
        if self._resolved() and self.state.status != IncidentStatus.CLOSED:
            await self._carry_out_undos()
        if self.state.status != IncidentStatus.CLOSED and not await self._review():
            return self._continue_as_new()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return IncidentSummary(workflow_id=self.state.workflow_id, number=self.state.number,
                               severity=self.state.severity, status=self.state.status,
                               alert_count=self.state.alert_count, briefs_sent=self.state.briefs_sent,
                               retrospective_path=self.state.retrospective_path)

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
        self._count_alert(detection)
        self._publish()

    @workflow.signal
    def alert_batch(self, detections: list[Any]) -> None:
        """Many alerts in one signal: what the intake sends when it coalesces a storm. Each is read on its own: one
        that cannot be read is dropped with a warning and a timeline entry, and the others count."""
        readable = readable_alerts(detections)
        if readable is None:
            return
        for detection in readable[0]:
            self._count_alert(detection)
        for problem in readable[1]:
            self._record(self.state.step, "alert dropped: it cannot be read", {"why": problem})
        self._publish()

    @workflow.signal
    async def acknowledge(self, action: HumanAction) -> None:
        if not await self._admit(action, "acknowledge", ACK_ROLES, allow_escalated=self.state.ack_escalated_to):
            return
        if self.state.acknowledged_at is not None:
            self._refuse(action, "acknowledge", f"already acknowledged by {self.state.acknowledged_by}")
            return
        self.state.acknowledged_at, self.state.acknowledged_by = workflow.now(), action.by
        self._accept(action, Step.DETECT, "acknowledged", {"comment": action.comment} if action.comment else None)

    @workflow.signal
    async def approve(self, decision: Decision) -> None:
        await self._decide(decision, ApprovalStatus.APPROVED)

    @workflow.signal
    async def reject(self, decision: Decision) -> None:
        await self._decide(decision, ApprovalStatus.REJECTED)

    @workflow.signal
    async def set_severity(self, change: SeverityChange) -> None:
        if not await self._admit(change, "change severity", IC_ONLY):
            return
        before = self.state.severity
        if before == change.severity:
            self._refuse(change, "change severity", f"severity is already {before.value}")
            return
        self.state.severity = change.severity
        self._cadence_changed = True
        self._accept(change, self.state.step, f"severity {before.value} -> {change.severity.value}",
                     {"reason": change.comment})
        await self._ticket_update(f"severity-{len(self.state.timeline)}",
                                  f"Severity changed {before.value} -> {change.severity.value} by {change.by}: "
                                  f"{change.comment}")

    @workflow.signal
    async def assign_role(self, assignment: RoleAssignment) -> None:
        if not await self._admit(assignment, "assign a role", IC_ONLY):
            return
        assert self.state.playbook is not None
        if assignment.person not in self.state.playbook.roster.people:
            self._refuse(assignment, "assign a role", f"{assignment.person} is not on the roster")
            return
        roles = self.state.assignments.setdefault(assignment.person, [])
        if assignment.assign_role not in roles:
            roles.append(assignment.assign_role)
        self._accept(assignment, self.state.step,
                     f"{assignment.person} assigned {assignment.assign_role.value}")

    @workflow.signal
    async def add_note(self, note: HumanAction) -> None:
        if not await self._admit(note, "add a note", set()):
            return
        if not note.comment.strip():
            self._refuse(note, "add a note", "the note is empty")
            return
        self._accept(note, self.state.step, "note", {"text": note.comment})

    @workflow.signal
    async def resolve(self, resolution: Resolution) -> None:
        if not await self._admit(resolution, "resolve", IC_ONLY):
            return
        if self._resolved():
            self._refuse(resolution, "resolve", f"already resolved by {self.state.resolved_by}")
            return
        refusal = self._resolution_refusal(resolution)
        if refusal:
            self._refuse(resolution, "resolve", refusal)
            return
        self.state.resolved_at, self.state.resolved_by = workflow.now(), resolution.by
        self.state.resolution_summary = resolution.comment
        self._take_choices(resolution)
        self._accept(resolution, self.state.step, "resolved", {"summary": resolution.comment})

    @workflow.signal
    async def retest(self, action: HumanAction) -> None:
        """Run the incident's regression suites again (after the candidate was fixed)."""
        await self._request_retest(action)

    @workflow.signal
    async def patch(self, text: PatchText) -> None:
        """A new patch text (IC or AI Ops): a new candidate version, tested and gated like the first."""
        await self._request_patch(text)

    @workflow.signal
    async def retrospective_done(self, notes: RetrospectiveNotes) -> None:
        if not await self._admit(notes, "record the retrospective", IC_ONLY):
            return
        if not self._resolved():
            self._refuse(notes, "record the retrospective", "the retrospective is held after the incident is resolved")
            return
        if self.state.retrospective is not None:
            self._refuse(notes, "record the retrospective", "the retrospective is already recorded")
            return
        self.state.retrospective = notes
        self._accept(notes, Step.REVIEW, "retrospective held",
                     {"action_items": len(notes.action_items), "root_cause": notes.root_cause})

    # ------------------------------------------------------------------ step 1: detect & acknowledge

    async def _open(self) -> None:
        info = workflow.info()
        opened = await workflow.execute_activity(
            "open_incident", OpenIncidentInput(workflow_id=info.workflow_id, chain_id=info.first_execution_run_id,
                                               detection=self.state.detection),
            result_type=OpenedIncident, summary="Detect: classify severity, number the incident", **QUICK)
        s = self.state
        s.number, s.severity, s.severity_reason = opened.number, opened.severity, opened.severity_reason
        s.playbook, s.playbook_ref, s.opened_at = opened.playbook, opened.playbook_ref, workflow.now()
        if opened.last_deploy and not s.detection.deploy_id and workflow.patched(alert_labels.LAST_DEPLOY_PATCH):
            s.detection = s.detection.model_copy(update={"deploy_id": opened.last_deploy})  # from the deploy log
        self._record(Step.DETECT, f"incident opened as {s.severity.value}",
                     {"reason": s.severity_reason, "kind": s.detection.kind.value, "services": s.detection.services,
                      "metrics": s.detection.metrics, "deploy_id": s.detection.deploy_id})
        s.ticket = await workflow.execute_activity(
            "create_ticket", TicketInput(workflow_id=s.workflow_id, number=opened.number, severity=s.severity,
                                         detection=s.detection, opened_at=s.opened_at),
            result_type=Ticket, summary=f"Detect: ticket {opened.number}", **QUICK)
        self._record(Step.DETECT, f"ticket {s.ticket.key} created", {"url": s.ticket.url})
        self._publish()

    async def _await_acknowledgement(self) -> bool:
        """Page the incident commander, escalate along the backup chain. False when it is time to continue as new."""
        pb, s = self._playbook(), self.state
        chain = self._escalation_chain(pb.roster.primary(Role.INCIDENT_COMMANDER))
        if not s.ack_paged:
            await self._notify("ack-0", [chain[0]], f"{s.number} needs acknowledgement",
                               f"{s.severity.value} {s.detection.kind.value} on "
                               f"{', '.join(s.detection.services)}: acknowledge it.")
            s.ack_paged = True

        def settled() -> bool:
            return s.acknowledged_at is not None or self._resolved()

        while not settled():
            level = len(s.ack_escalated_to)
            if s.ack_exhausted:  # every escalation done: wait as long as it takes
                await workflow.wait_condition(lambda: settled() or self._may_continue_as_new())
                if not settled():
                    return False
                break
            timeout = timedelta(minutes=pb.severity.levels[s.severity].ack_timeout_minutes)
            if await self._wait(lambda: settled() or self._may_continue_as_new(), timeout,
                                "acknowledgement deadline"):
                if not settled():
                    return False
                break
            level += 1
            if level >= len(chain):
                s.ack_exhausted = True
                self._record(Step.DETECT, "nobody acknowledged; every escalation is exhausted, still waiting",
                             {"escalated_to": s.ack_escalated_to})
                self._publish()
                continue
            target = chain[level]
            self.state.ack_escalated_to.append(target)
            self._record(Step.DETECT, f"not acknowledged in time; escalated to {target}",
                         {"after_minutes": timeout.total_seconds() / 60})
            await self._notify(f"ack-{level}", [target], f"ESCALATION: {self.state.number} is unacknowledged",
                               f"Nobody acknowledged {self.state.number} within {timeout}. You are the backup.")
        if self.state.acknowledged_at is not None:
            self._set(status=IncidentStatus.ACKNOWLEDGED)
            await self._ticket_update("acknowledged", f"Acknowledged by {self.state.acknowledged_by}")
        elif self._resolved():
            self._set(status=IncidentStatus.ACKNOWLEDGED)
        return True

    # ------------------------------------------------------------------ steps 2-5

    async def _respond(self) -> None:
        for step in RESPONSE_STEPS:
            if step in self.state.steps_done:
                continue
            if self._resolved():
                self._record(step, "skipped: the incident was resolved first")
            else:
                self._set(step=step)
                if step == Step.INVESTIGATE:
                    await self._investigate()
                else:
                    await self._run_actions(step)
            self.state.steps_done.append(step)

    async def _run_actions(self, step: Step) -> None:
        pb = self._playbook()
        names = pb.actions_for(self.state.service, step)
        if not names:
            self._record(step, f"no {step.value} actions in the playbook for {self.state.service}")
            return
        for name in names:
            if self._resolved():
                self._mitigation(step, name, "skipped", "incident resolved")
                continue
            await self._run_action(step, name)

    async def _run_action(self, step: Step, name: str) -> None:
        pb = self._playbook()
        action = pb.actions[name]
        mode = pb.approvals.mode_for(name, self.state.severity)
        role = Role(mode.split(":", 1)[1]) if mode.startswith("approve:") else Role.AI_OPS
        if isinstance(action, ManualAction):
            # A person does it, so the person confirms it: AI Ops unless this action's policy names a role.
            explicit = pb.approvals.actions.get(name, {}).get(self.state.severity, "")
            doer = Role(explicit.split(":", 1)[1]) if explicit.startswith("approve:") else Role.AI_OPS
            instructions = render_for_people(action.instructions, self._variables(name))
            status = await self._gate(step, f"{name}: {instructions}",
                                      "manual runbook step: approve once it is done", doer)
            done = status == ApprovalStatus.APPROVED
            self._mitigation(step, name, "done" if done else status.value,
                             "confirmed by a person" if done else "not confirmed")
            if done:
                self._register(step, name, "confirmed by a person", self._manual_undo(name, action),
                               by=self._confirmed_by(step, name))
            return
        if isinstance(action, LangfusePromptPatchAction) and workflow.patched(REMEDY_PATCH):
            await self._run_prompt_patch(step, name, action, mode, role)
            return
        if mode.startswith("approve:"):
            status = await self._gate(step, f"run {name}" + (f": {action.description}" if action.description
                                                              else ""),
                                      f"playbook policy for {self.state.severity.value}: {mode}", role)
            proceed_anyway = status == ApprovalStatus.EXPIRED and pb.approvals.on_expiry == "proceed"
            if status != ApprovalStatus.APPROVED and not proceed_anyway:
                self._mitigation(step, name, status.value, "not run")
                return
        if isinstance(action, PromptfooRegressionAction) and workflow.patched(REMEDY_PATCH):
            await self._run_regression(step, name, action)
            return
        run = ActionRun(key=self._key(step.value, name), incident_number=self._number(), step=step, name=name,
                        action=action, variables=self._variables(name))
        try:
            result = await workflow.execute_activity("run_action", run, result_type=ActionResult,
                                                     summary=f"{step.value.capitalize()}: {name}",
                                                     **_http_call(action.timeout_seconds))
        except ActivityError as err:
            await self._failed(step, name, _cause(err))
            return
        self._mitigation(step, name, "done", result.detail)
        self._register(step, name, result.detail, result.undo)
        if mode == "auto_with_notice":
            await self._notify(f"notice-{step.value}-{name}", [self._primary(Role.INCIDENT_COMMANDER)],
                               f"{self._number()}: {name} ran automatically", result.detail)

    async def _investigate(self) -> None:
        pb = self._playbook()
        pack = await workflow.execute_activity(
            "collect_evidence", EvidenceInput(incident_number=self._number(), workflow_id=self.state.workflow_id,
                                              detection=self.state.detection, sources=pb.evidence,
                                              variables=self._variables("collect_evidence")),
            result_type=EvidencePack, summary="Investigate: collect the evidence pack",
            start_to_close_timeout=timedelta(minutes=5), heartbeat_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_attempts=3))
        self.state.evidence_manifest = pack.manifest_path
        failed = [i.name for i in pack.items if i.error]
        self._record(Step.INVESTIGATE, f"evidence pack: {len(pack.items) - len(failed)} item(s) collected"
                     + (f", {len(failed)} failed" if failed else ""),
                     {"manifest": pack.manifest_path,
                      "items": [{"name": i.name, "sha256": i.sha256, "error": i.error} for i in pack.items]})
        findings = [f"{i.name}: {i.summary}" for i in pack.items if i.summary]
        if findings and workflow.patched("findings-v1"):
            # The blast radius and the last deploys go to the ticket and the briefs, not only the evidence folder.
            self.state.findings = findings
            await self._ticket_update("findings", "Investigation findings:\n" + "\n".join(f"- {f}" for f in findings))

    # ------------------------------------------------------------------ step 6: communicate

    async def _cadence(self) -> None:
        while not self._resolved():
            minutes = self._playbook().severity.levels[self.state.severity].cadence_minutes
            if minutes == 0:
                self.state.next_brief_due = None
                self._publish()
                await workflow.wait_condition(lambda: self._resolved() or self._cadence_changed)
                self._cadence_changed = False
                continue
            interval = timedelta(minutes=minutes)
            if self.state.next_brief_due is None:
                self.state.next_brief_due = workflow.now() + interval
                self._publish()
            due = self.state.next_brief_due
            await self._wait(lambda: self._resolved() or self._cadence_changed, due - workflow.now(),
                             f"brief #{self.state.brief_seq + 1} due")
            if self._resolved():
                break
            if self._cadence_changed:
                self._cadence_changed = False
                # The new severity's cadence, not the one this wait started with.
                minutes = self._playbook().severity.levels[self.state.severity].cadence_minutes
                if minutes == 0:
                    continue  # the top of the loop stops the briefs
                anchor = self.state.acknowledged_at or workflow.now()
                last = self._last_brief_at() or anchor
                self.state.next_brief_due = max(last + timedelta(minutes=minutes), workflow.now())
                self._publish()
                continue
            self._brief_in_progress = True
            try:
                await self._issue_brief(due + interval)
            finally:
                self._brief_in_progress = False
            nxt = due + interval
            self.state.next_brief_due = nxt if nxt > workflow.now() else workflow.now() + interval
            self._publish()
        self.state.next_brief_due = None

    def _last_brief_at(self) -> datetime | None:
        drafted = [e.at for e in self.state.timeline if e.step == Step.COMMUNICATE and e.what.startswith("brief #")
                   and e.what.endswith("drafted")]
        return drafted[-1] if drafted else None

    async def _issue_brief(self, next_due: datetime) -> None:
        if not workflow.patched("briefs-per-audience-v1"):
            await self._issue_brief_v0(next_due)
            return
        pb, s = self._playbook(), self.state
        s.brief_seq += 1
        seq = s.brief_seq
        audiences = briefing.due(pb.communicate, s.severity, s.detection.kind, seq)
        if not audiences:
            self._record(Step.COMMUNICATE, f"brief #{seq}: no audience is briefed at {s.severity.value}")
            return
        # Each audience on its own: a brief waiting for its communications release never holds up the others.
        sent = await asyncio.gather(*(self._brief_audience(seq, name, audience, next_due)
                                      for name, audience in audiences.items()))
        if any(sent):
            s.briefs_sent += 1

    async def _final_briefs(self) -> None:
        """The closing 'resolved' brief, to every audience briefed during the incident (or configured for it).

        It runs as a task beside the review's wait, not before it: its gates (the SME, then for external
        audiences the communications release, each with its backup) can take up to twice their timeouts, and the
        48-hour retrospective's reminders and escalation must keep their times whatever they do. An unapproved
        closing brief expires like any other and says so on the timeline. The incident closes after the
        retrospective once this task is done too (at most those timeouts later), because a closed incident
        refuses the approvals the closing brief still waits for.
        """
        pb, s = self._playbook(), self.state
        try:
            audiences = briefing.closing_audiences(pb.communicate, s.severity, s.detection.kind,
                                                   (e.what for e in s.timeline), s.brief_seq)
            if not audiences:
                self._record(Step.COMMUNICATE, "no final brief: no audience was briefed during the incident")
                return
            s.brief_seq += 1
            seq = s.brief_seq
            sent = await asyncio.gather(*(self._brief_audience(seq, name, audience, None, closing=True)
                                          for name, audience in audiences.items()))
            if any(sent):
                s.briefs_sent += 1
        finally:
            self._brief_in_progress = False

    async def _brief_audience(self, seq: int, name: str, audience: Audience, next_due: datetime | None,
                              closing: bool = False) -> bool:
        """Draft, SME approval (maybe with edits), communications release when external, send. True when sent.
        A closing brief's gates are not settled by the resolution (they are asked after it)."""
        pb = self._playbook()
        label, rid = briefing.label(seq, name, closing), briefing.request_id(seq, name, closing)
        try:
            brief = await workflow.execute_activity(
                "draft_brief", BriefInput(state=self.state.for_activity(), seq=seq, next_update_due=next_due,
                                          audience=name, shape=audience.shape),
                result_type=Brief, summary=f"Communicate: draft {label}", **QUICK)
        except ActivityError as err:  # the other audiences' briefs go on
            self._record(Step.COMMUNICATE, f"{label} not drafted", {"error": _cause(err)})
            return False
        self._record(Step.COMMUNICATE, f"{label} drafted", {"title": brief.title, "audience": name,
                                                             "shape": audience.shape})
        why = "stakeholder messages need the domain SME's approval (approve with --text-file to send an edit)"
        status = await self._gate_posted(brief, f"{label}: {brief.title}", why, Role.DOMAIN_SME,
                                         timedelta(minutes=pb.communicate.approval_timeout_minutes), rid,
                                         until_resolved=not closing)
        if status != ApprovalStatus.APPROVED:
            self._record(Step.COMMUNICATE, f"{label} not sent: {status.value}")
            return False
        request = self.state.approval(rid)
        assert request is not None
        approver = request.decided_by or ""
        if request.text is not None and request.text.strip() != brief.text.strip():
            self.state.record(workflow.now(), Step.COMMUNICATE, approver, Role.DOMAIN_SME.value,
                              f"{label} edited by {approver}", briefing.diff_stat(brief.text, request.text))
            brief = brief.model_copy(update={"draft_text": brief.text, "text": request.text,
                                             "edited_by": approver})
        request.text = None  # the brief carries it from here and the comms archive keeps it; the state stays small
        released_by = None
        if audience.external:
            release = rid + briefing.RELEASE
            why = "external messages need the communications role's release after the domain SME's approval"
            subject = f"release {label} to {', '.join(audience.channels) or 'the archive'}: {brief.title}"
            status = await self._gate_posted(brief, subject, why, Role.COMMUNICATIONS,
                                             timedelta(minutes=pb.communicate.release_timeout_minutes), release,
                                             until_resolved=not closing)
            if status != ApprovalStatus.APPROVED:
                self._record(Step.COMMUNICATE, f"{label} not sent: release {status.value}")
                return False
            released_by = self.state.approval(release).decided_by  # type: ignore[union-attr]
        return await self._send_brief(seq, name, audience, brief, approver, released_by, closing)

    async def _send_brief(self, seq: int, name: str, audience: Audience, brief: Brief, approver: str,
                          released_by: str | None, closing: bool = False) -> bool:
        """One activity per channel, each retried on its own; failures go on the timeline, one line a channel."""
        pb, label = self._playbook(), briefing.label(seq, name, closing)
        channels = [ARCHIVE_CHANNEL, *audience.channels]

        def send(channel: str) -> Any:
            cfg = pb.channels.get(channel)
            return workflow.execute_activity(
                "send_brief", SendBrief(key=self._key(*briefing.key_parts(seq, name, closing), channel),
                                        channel=channel, channel_config=cfg, brief=brief, approved_by=approver,
                                        released_by=released_by, external_id=self.state.channel_refs.get(channel)),
                result_type=SendResult, summary=f"Communicate: {label} to {channel}",
                **(_http_call(cfg.timeout_seconds) if cfg is not None
                   else {**EXTERNAL, "start_to_close_timeout": ARCHIVE_TIMEOUT}))

        results = await asyncio.gather(*(send(c) for c in channels), return_exceptions=True)
        delivered = [c for c, r in zip(channels, results, strict=True) if isinstance(r, SendResult)]
        failed = {c: _cause(r) for c, r in zip(channels, results, strict=True) if isinstance(r, BaseException)}
        for result in results:
            if isinstance(result, SendResult) and result.external_id:
                self.state.channel_refs[result.channel] = result.external_id
        self._record(Step.COMMUNICATE, f"{label} sent to {', '.join(delivered) or 'no channel'}",
                     {"failed": failed} if failed else None)
        for channel, error in failed.items():
            self._record(Step.COMMUNICATE, f"{label} to {channel} failed after retries", {"error": error})
        return bool(set(delivered) - {ARCHIVE_CHANNEL}) or delivered == channels

    async def _gate_posted(self, brief: Brief, subject: str, why: str, role: Role, timeout: timedelta,
                           request_id: str, until_resolved: bool = True) -> ApprovalStatus:
        """The approval gate, with the request also posted to the Slack approval channels once it exists."""
        gate = asyncio.create_task(self._gate(Step.COMMUNICATE, subject, why, role, timeout, request_id=request_id,
                                              until_resolved=until_resolved))
        await self._post_approval(request_id, brief, subject, why)
        return await gate

    async def _post_approval(self, request_id: str, brief: Brief, subject: str, why: str) -> None:
        """The approval request, with the draft and buttons, in each Slack approval channel (failures noted)."""
        pb = self._playbook()
        await asyncio.sleep(0)  # let the gate record the request first, so a button pressed at once finds it
        for channel in pb.communicate.approval_channels:
            cfg = pb.channels.get(channel)
            if not isinstance(cfg, SlackChannel):
                continue
            post = ApprovalPost(key=self._key("approval", request_id, channel), incident_number=self._number(),
                                request_id=request_id, channel=channel, channel_config=cfg, subject=subject,
                                why=why, text=brief.text)
            try:
                await workflow.execute_activity("post_approval_request", post, result_type=str,
                                                summary=f"Communicate: ask for {request_id} in {channel}",
                                                **_http_call(cfg.timeout_seconds))
            except ActivityError as err:
                self._record(Step.COMMUNICATE, f"could not post {request_id} to {channel}", {"error": _cause(err)})

    async def _issue_brief_v0(self, next_due: datetime) -> None:
        """Before briefs per audience: the one tactical brief (kept so incidents started then replay)."""
        pb = self._playbook()
        self.state.brief_seq += 1
        seq = self.state.brief_seq
        brief = await workflow.execute_activity(
            "draft_brief", BriefInput(state=self.state.for_activity(), seq=seq, next_update_due=next_due),
            result_type=Brief, summary=f"Communicate: draft brief #{seq}", **QUICK)
        self._record(Step.COMMUNICATE, f"brief #{seq} drafted", {"title": brief.title})
        status = await self._gate(Step.COMMUNICATE, f"brief #{seq}: {brief.title}",
                                  "stakeholder messages need the domain SME's approval", Role.DOMAIN_SME,
                                  timedelta(minutes=pb.communicate.approval_timeout_minutes),
                                  request_id=f"brief-{seq}")
        if status != ApprovalStatus.APPROVED:
            self._record(Step.COMMUNICATE, f"brief #{seq} not sent: {status.value}")
            return
        approver = self.state.approval(f"brief-{seq}").decided_by or ""  # type: ignore[union-attr]
        channels = [ARCHIVE_CHANNEL, *pb.communicate.channels]
        sends = [workflow.execute_activity(
            "send_brief", SendBrief(key=self._key("brief", str(seq), channel), channel=channel,
                                    channel_config=pb.channels.get(channel), brief=brief, approved_by=approver),
            result_type=SendResult, summary=f"Communicate: brief #{seq} to {channel}",
            **(_http_call(cfg.timeout_seconds) if (cfg := pb.channels.get(channel)) is not None
               else {**EXTERNAL, "start_to_close_timeout": ARCHIVE_TIMEOUT}))
            for channel in channels]
        results = await asyncio.gather(*sends, return_exceptions=True)
        delivered = [c for c, r in zip(channels, results, strict=True) if isinstance(r, SendResult)]
        failed = {c: _cause(r) for c, r in zip(channels, results, strict=True) if isinstance(r, BaseException)}
        if delivered:
            self.state.briefs_sent += 1
        self._record(Step.COMMUNICATE, f"brief #{seq} sent to {', '.join(delivered) or 'no channel'}",
                     {"failed": failed} if failed else None)

    # ------------------------------------------------------------------ step 7: review

    async def _review(self) -> bool:
        """Wait for the retrospective with reminders and escalation. False when it is time to continue as new."""
        s, cfg = self.state, self._playbook().review
        assert s.resolved_at is not None
        if s.retrospective_due is None:
            s.retrospective_due = s.resolved_at + timedelta(hours=cfg.deadline_hours)
            self._set(status=IncidentStatus.RESOLVED, step=Step.REVIEW)
            await self._ticket_update("resolved", f"Resolved by {s.resolved_by}: {s.resolution_summary}")
            s.retrospective_path = await self._write_retrospective(final=False)
            await self._notify("retro-due", self._review_owners(), f"{self._number()}: retrospective due",
                               f"Hold the retrospective by {s.retrospective_due:%Y-%m-%d %H:%M} UTC. "
                               f"Draft: {s.retrospective_path}")
            if workflow.patched(FINAL_BRIEF_PATCH):
                self._brief_in_progress = True  # no continue-as-new while the closing brief waits
                self._closing = asyncio.create_task(self._final_briefs())
        done: Callable[[], bool] = lambda: s.retrospective is not None  # noqa: E731
        give_up = s.resolved_at + timedelta(hours=cfg.give_up_after_hours)
        while not done():
            reminders = cfg.reminder_hours[s.review_reminders_sent:]
            if reminders:
                at, label = s.resolved_at + timedelta(hours=reminders[0]), "retrospective reminder"
            elif not s.review_escalated:
                at, label = s.retrospective_due, "retrospective deadline"
            else:
                at, label = give_up, "retrospective given up"
            if await self._wait(lambda: done() or self._may_continue_as_new(), at - workflow.now(), label):
                if done():
                    break
                return False
            if reminders:
                s.review_reminders_sent += 1
                self._record(Step.REVIEW, f"reminder {s.review_reminders_sent}: retrospective due "
                             f"{s.retrospective_due:%Y-%m-%d %H:%M} UTC")
                await self._notify(f"retro-reminder-{s.review_reminders_sent}", self._review_owners(),
                                   f"{self._number()}: retrospective reminder",
                                   f"The retrospective is due {s.retrospective_due:%Y-%m-%d %H:%M} UTC.")
            elif not s.review_escalated:
                s.review_escalated = True
                ic = self._primary(Role.INCIDENT_COMMANDER)
                up = self._escalation_chain(ic)[1:2] or [ic]
                self._record(Step.REVIEW, f"retrospective overdue; escalated to {', '.join(up)}")
                await self._notify("retro-escalation", up, f"OVERDUE: {self._number()} retrospective",
                                   f"The retrospective was due {s.retrospective_due:%Y-%m-%d %H:%M} UTC.")
            else:
                self._record(Step.REVIEW, "closed without a retrospective: nobody recorded one "
                             f"within {cfg.give_up_after_hours} hours")
                break
        if done():
            s.retrospective_path = await self._write_retrospective(final=True)
            self._record(Step.REVIEW, "retrospective written", {"path": s.retrospective_path})
            if workflow.patched("action-items-v1"):
                await self._track_action_items()
        if self._closing is not None and not self._closing.done():
            # Bounded by its gates' timeouts; a closed incident would refuse the approvals it waits for.
            self._record(Step.REVIEW, "closing once the final brief is sent or expires")
            await self._closing
        s.closed_at = workflow.now()
        self._set(status=IncidentStatus.CLOSED)
        await self._ticket_update("closed", "Closed" + ("" if done() else " without a retrospective"))
        return True

    async def _track_action_items(self) -> None:
        """One ActionItemWorkflow per action item, independent of this incident, reminding its owner until done."""
        s = self.state
        assert s.retrospective is not None and s.playbook is not None
        if not s.retrospective.action_items:
            return
        items = [ActionItemInput(incident_number=self._number(), incident_workflow_id=s.workflow_id, seq=seq,
                                 item=item, assigned_at=workflow.now(), playbook=s.playbook,
                                 escalate_to=self._primary(Role.INCIDENT_COMMANDER))
                 for seq, item in enumerate(s.retrospective.action_items, 1)]
        try:
            started = await workflow.execute_activity("track_action_items", items, result_type=list[str],
                                                      summary=f"Review: track {len(items)} action item(s)", **QUICK)
        except ActivityError as err:
            self._record(Step.REVIEW, "could not start tracking the action items", {"error": _cause(err)})
            return
        self._record(Step.REVIEW, f"{len(started)} action item(s) tracked until done", {"workflows": started})

    async def _write_retrospective(self, final: bool) -> str:
        return await workflow.execute_activity(
            "write_retrospective", RetrospectiveInput(state=self.state.for_activity(), final=final), result_type=str,
            summary=f"Review: {'final' if final else 'draft'} retrospective", **QUICK)

    def _review_owners(self) -> list[str]:
        return list(dict.fromkeys([self._primary(Role.INCIDENT_COMMANDER), self._primary(Role.DOMAIN_SME)]))

    # ------------------------------------------------------------------ approval gates

    async def _gate(self, step: Step, subject: str, why: str, role: Role, timeout: timedelta | None = None,
                    request_id: str | None = None, until_resolved: bool = True) -> ApprovalStatus:
        """Ask `role` to decide; on timeout escalate to the backup once; then expire. The resolution cancels it
        unless `until_resolved` is False (the closing brief's gates, asked after the resolution)."""
        pb = self._playbook()
        timeout = timeout or timedelta(minutes=pb.approvals.timeout_minutes)
        rid = request_id or f"{step.value}-{len(self.state.approvals) + 1}"
        req = ApprovalRequest(request_id=rid, step=step, subject=subject, why=why, role=role,
                              requested_at=workflow.now(), deadline=workflow.now() + timeout,
                              severity=self.state.severity)
        self.state.approvals.append(req)
        self._record(step, f"approval requested: {subject}", {"request_id": rid, "role": role.value,
                                                               "deadline": req.deadline.isoformat()})
        self._publish()
        primary = self._primary(role)
        await self._notify(f"approval-{rid}", [primary], f"{self._number()}: approval needed ({rid})",
                           f"{subject}\nWhy: {why}\nDecide by {req.deadline:%H:%M} UTC: "
                           f"firebreak approve {self._number()} {rid}")

        def cancelled() -> bool:
            return until_resolved and self._resolved()

        def decided() -> bool:
            return req.status != ApprovalStatus.PENDING or cancelled()

        if not await self._wait(decided, timeout, f"approval {rid} deadline"):
            backup = self._escalation_chain(primary)[1:2]
            if backup:
                req.escalated_to.extend(backup)
                req.deadline = workflow.now() + timeout
                self._record(step, f"approval {rid} timed out; escalated to {backup[0]}")
                self._publish()
                await self._notify(f"approval-{rid}-escalated", backup, f"ESCALATION: {self._number()} {rid}",
                                   f"{primary} did not decide in time. {subject}\nWhy: {why}")
                await self._wait(decided, timeout, f"approval {rid} escalated deadline")
        if req.status == ApprovalStatus.PENDING:
            req.status = ApprovalStatus.CANCELLED if cancelled() else ApprovalStatus.EXPIRED
            req.decided_at = workflow.now()
            self._record(step, f"approval {rid} {req.status.value}"
                         + ("" if cancelled() else f"; policy on expiry: {pb.approvals.on_expiry}"))
        self._publish()
        return req.status

    async def _decide(self, decision: Decision, status: ApprovalStatus) -> None:
        verb = "approve" if status == ApprovalStatus.APPROVED else "reject"
        req = self.state.approval(decision.request_id)
        escalated = req.escalated_to if req else []
        if not await self._admit(decision, f"{verb} {decision.request_id}", set(), allow_escalated=escalated):
            return
        if req is None:
            known = ", ".join(a.request_id for a in self.state.pending_approvals()) or "none pending"
            self._refuse(decision, verb, f"no approval request '{decision.request_id}' (pending: {known})")
            return
        if req.status != ApprovalStatus.PENDING:
            self._refuse(decision, verb, f"request {req.request_id} is already {req.status.value}"
                         + (f" by {req.decided_by}" if req.decided_by else ""))
            return
        if decision.role != req.role and decision.by not in req.escalated_to:
            self._refuse(decision, verb, f"request {req.request_id} needs the role {req.role.value}; "
                         f"{decision.by} acted as {decision.role.value}")
            return
        if briefing.is_release(req.request_id) and status == ApprovalStatus.APPROVED:
            sme = self.state.approval(req.request_id.removesuffix(briefing.RELEASE))
            if sme is not None and sme.decided_by == decision.by:
                self._refuse(decision, verb, f"{decision.by} approved this brief as domain SME; its release needs a "
                             f"second person in the communications role")
                return
        if decision.text is not None:
            problem = self._edit_problem(req, status, decision.text)
            if problem:
                self._refuse(decision, verb, problem)
                return
            req.text = decision.text
        req.status, req.decided_by, req.decided_at = status, decision.by, workflow.now()
        req.comment = decision.comment
        self._accept(decision, req.step, f"{req.request_id} {status.value}", {"subject": req.subject,
                                                                              "comment": decision.comment}
                     | ({"edited": True} if decision.text is not None else {}))

    @staticmethod
    def _edit_problem(req: ApprovalRequest, status: ApprovalStatus, text: str) -> str | None:
        """Why an approval may not carry this edited text, or None when it may."""
        if status != ApprovalStatus.APPROVED:
            return "edited text goes with an approval, not a rejection"
        if req.step != Step.COMMUNICATE or not briefing.is_brief_approval(req.request_id):
            return (f"request {req.request_id} takes no text: only a brief's approval by the domain SME "
                    f"may carry an edited brief")
        if not text.strip():
            return "the edited brief is empty"
        return None

    # ------------------------------------------------------------------ people and permissions

    async def _admit(self, action: HumanAction, what: str, roles: set[Role],
                     allow_escalated: list[str] | None = None) -> bool:
        """Is this person on the roster, in the role they claim, and is the role allowed? Refusals are recorded."""
        await workflow.wait_condition(lambda: self.state.playbook is not None)
        if self.state.status == IncidentStatus.CLOSED:
            self._refuse(action, what, f"incident {self._number()} is closed")
            return False
        roster = self._playbook().roster
        if action.by not in roster.people:
            self._refuse(action, what, f"'{action.by}' is not on the roster")
            return False
        if action.role not in self.state.roles_of(action.by):
            self._refuse(action, what, f"{action.by} does not hold the role {action.role.value}")
            return False
        if roles and action.role not in roles and action.by not in (allow_escalated or []):
            needed = " or ".join(sorted(r.value for r in roles))
            self._refuse(action, what, f"only {needed} may {what}; {action.by} acted as {action.role.value}")
            return False
        return True

    def _refuse(self, action: HumanAction, what: str, reason: str) -> None:
        self.state.record(workflow.now(), self.state.step, action.by, action.role.value,
                          f"refused: {what}", {"reason": reason})
        self.state.remember_outcome(ActionOutcome(action_id=action.action_id, accepted=False, message=reason))
        self._publish()

    def _accept(self, action: HumanAction, step: Step, what: str, details: dict[str, Any] | None = None) -> None:
        self.state.record(workflow.now(), step, action.by, action.role.value, what, details)
        self.state.remember_outcome(ActionOutcome(action_id=action.action_id, accepted=True, message=what))
        self._publish()

    def _escalation_chain(self, person: str) -> list[str]:
        people = self._playbook().roster.people
        chain = [person]
        while (nxt := people[chain[-1]].backup) is not None and nxt not in chain:
            chain.append(nxt)
        return chain

    def _primary(self, role: Role) -> str:
        assigned = [p for p, roles in self.state.assignments.items() if role in roles]
        return assigned[-1] if assigned else self._playbook().roster.primary(role)

    # ------------------------------------------------------------------ helpers

    def _count_alert(self, detection: Detection) -> None:
        s = self.state
        alert_id = detection.identity()
        note = alert_labels.source_note(detection)  # the sender's acknowledgement, a monitor's NO_DATA ...
        if note and (detection.firing or workflow.patched(alert_labels.NOTES_PATCH)):
            # Not an alert (the incident's acknowledgement stays with the roster): on the timeline once per id.
            if alert_id not in self._source_acked:
                self._source_acked.add(alert_id)
                s.source_acknowledged_ids.append(alert_id)
                if len(s.source_acknowledged_ids) <= ALERTS_ON_TIMELINE:
                    self._record(s.step, f"alert {alert_id} {note}", {"summary": detection.summary},
                                 actor=detection.source)
            return
        if not detection.firing:
            if alert_id in self._resolved_ids:
                return
            self._resolved_ids.add(alert_id)
            s.resolved_alert_ids.append(alert_id)
            if len(s.resolved_alert_ids) <= ALERTS_ON_TIMELINE:
                self._record(s.step, f"alert {alert_id} resolved at the source", actor=detection.source)
            return
        if alert_id in self._seen:
            return
        self._seen.add(alert_id)
        s.seen_alert_ids.append(alert_id)
        s.alert_count += 1
        if workflow.patched(alert_labels.PATCH):  # what the first alert did not name, a later one may
            s.detection, s.labels_seen = alert_labels.merge(s.detection, s.labels_seen, detection)
        if s.alert_count <= ALERTS_ON_TIMELINE:
            self._record(s.step, f"alert {alert_id} received", {"summary": detection.summary,
                                                                "metrics": detection.metrics}, actor=detection.source)
        elif s.alert_count % ALERT_SUMMARY_EVERY == 0:
            self._record(s.step, f"{s.alert_count} distinct alerts so far", actor=detection.source)

    def _record(self, step: Step, what: str, details: dict[str, Any] | None = None, actor: str = SYSTEM) -> None:
        self.state.record(workflow.now(), step, actor, "system" if actor == SYSTEM else "source", what, details)

    def _mitigation(self, step: Step, action: str, outcome: str, detail: str) -> None:
        self.state.mitigations.append(MitigationRecord(step=step, action=action, outcome=outcome, detail=detail,
                                                       at=workflow.now()))
        self._record(step, f"{action}: {outcome}", {"detail": detail})

    def _set(self, status: IncidentStatus | None = None, step: Step | None = None) -> None:
        if status is not None:
            self.state.status = status
        if step is not None:
            self.state.step = step
        self._publish()

    def _resolved(self) -> bool:
        return self.state.resolved_at is not None

    def _may_continue_as_new(self) -> bool:
        return (workflow.info().is_continue_as_new_suggested() and not self._brief_in_progress
                and workflow.all_handlers_finished())

    def _continue_as_new(self) -> NoReturn:
        self._record(self.state.step, "history is long; continuing as a new run")
        workflow.continue_as_new(IncidentInput(detection=self.state.detection, carried=self.state))

    async def _wait(self, condition: Callable[[], bool], timeout: timedelta, summary: str) -> bool:
        """True when the condition came true, False when the timeout passed first."""
        if condition():
            return True
        if timeout <= timedelta(0):
            return False
        try:
            await workflow.wait_condition(condition, timeout=timeout, timeout_summary=summary)
        except TimeoutError:
            return condition()
        return True

    async def _notify(self, key: str, to: list[str], subject: str, text: str) -> None:
        pb = self._playbook()
        note = Notification(key=self._key("notify", key), incident_number=self._number(), to=to,
                            contacts={p: pb.roster.people[p].contact for p in to if p in pb.roster.people},
                            subject=subject, text=text,
                            channels={n: pb.channels[n] for n in pb.communicate.notify_channels})
        try:
            # The log append plus each paging webhook in turn, so a lost attempt is retried within seconds.
            await workflow.execute_activity("notify", note, result_type=int,
                                            summary=f"{self._step_label()}: notify {', '.join(to)}: {subject}"[:200],
                                            **_http_call(sum(c.timeout_seconds for c in note.channels.values())
                                                         + ARCHIVE_TIMEOUT.total_seconds()))
        except ActivityError as err:
            self._record(self.state.step, f"could not notify {', '.join(to)}", {"error": _cause(err)})

    async def _ticket_update(self, key: str, text: str) -> None:
        if self.state.ticket is None:
            return
        try:
            await workflow.execute_activity(
                "update_ticket", TicketUpdate(ticket=self.state.ticket, key=self._key("ticket", key), text=text,
                                              severity=self.state.severity, status=self.state.status),
                result_type=bool, summary=f"{self._step_label()}: update ticket {self.state.ticket.key}: {text[:80]}",
                **QUICK)
        except ActivityError as err:
            self._record(self.state.step, "ticket update failed", {"error": _cause(err)})

    def _key(self, *parts: str) -> str:
        """Idempotency key: the incident chain plus what the side effect is, never the attempt."""
        return "/".join([self.state.workflow_id, self._number(), *parts])

    def _number(self) -> str:
        return self.state.number or self.state.workflow_id

    def _playbook(self) -> Playbook:
        assert self.state.playbook is not None, "the playbook is loaded when the incident opens"
        return self.state.playbook

    def _variables(self, action: str) -> dict[str, str | int | None]:
        s, d = self.state, self.state.detection
        known = self._playbook().plan_for(s.service).known_good
        return {"incident_id": s.workflow_id, "incident_number": self._number(), "severity": s.severity.value,
                "service": s.service, "kind": d.kind.value, "summary": d.summary, "model": d.model,
                "prompt_name": d.prompt_name, "prompt_version": d.prompt_version, "deploy_id": d.deploy_id,
                "known_good_model": known.model, "known_good_prompt_name": known.prompt_name,
                "known_good_prompt_version": known.prompt_version, "action": action}

    def _publish(self) -> None:
        """Keep search attributes and the UI's current details in step with the state."""
        s = self.state
        values: dict[str, Any] = {
            "IncidentSeverity": s.severity.value, "IncidentStatus": s.status.value, "IncidentStep": s.step.value,
            "AlertCount": s.alert_count, "AffectedService": s.service, "SignalKind": s.detection.kind.value,
        }
        if s.number:
            values["IncidentNumber"] = s.number
        if not self._published:
            values["DetectedAt"] = s.detection.detected_at
        values |= pending_values(s, self._published)
        keys = {k.name: k for k in sa.ALL}
        changed = [keys[k].value_set(v) for k, v in values.items() if self._published.get(k) != v]
        if changed:
            workflow.upsert_search_attributes(changed)  # type: ignore[arg-type]
            self._published.update(values)
        workflow.set_current_details(current_details(s, self._primary))

    def _step_label(self) -> str:
        """The step an activity summary names, as the UI's timeline shows it ("Stabilise: ...")."""
        return self.state.step.value.capitalize()
