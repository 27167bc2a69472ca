"""Step 6, communicate: the cadence of briefs from acknowledgement to resolution (re-timed by a severity change),
which audiences each tick briefs, and the closing brief at resolution."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.incident import briefs, gates
from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    import workflows.briefing as briefing
    import workflows.incident.markers as markers
    from playbook.messages import BriefInput
    from playbook.models import ApprovalStatus, Brief, Role, Step
    from workflows.incident.calls import QUICK


class Communication:
    def __init__(self, core: IncidentCore) -> None:
        self.core = core
        self._cadence_changed = False

    def severity_changed(self) -> None:
        """Re-time the cadence to the new severity's interval."""
        self._cadence_changed = True

    async def cadence(self) -> None:
        core, s = self.core, self.core.state
        while not core.resolved():
            minutes = core.playbook().severity.levels[s.severity].cadence_minutes
            if minutes == 0:
                s.next_brief_due = None
                core.publish()
                await workflow.wait_condition(lambda: core.resolved() or self._cadence_changed)
                self._cadence_changed = False
                continue
            interval = timedelta(minutes=minutes)
            if s.next_brief_due is None:
                s.next_brief_due = workflow.now() + interval
                core.publish()
            due = s.next_brief_due
            await core.wait(lambda: core.resolved() or self._cadence_changed, due - workflow.now(),
                            f"brief #{s.brief_seq + 1} due")
            if core.resolved():
                break
            if self._cadence_changed:
                self._cadence_changed = False
                # The new severity's cadence, not the one this wait started with.
                minutes = core.playbook().severity.levels[s.severity].cadence_minutes
                if minutes == 0:
                    continue  # the top of the loop stops the briefs
                anchor = s.acknowledged_at or workflow.now()
                last = self._last_brief_at() or anchor
                s.next_brief_due = max(last + timedelta(minutes=minutes), workflow.now())
                core.publish()
                continue
            core.brief_in_progress = True
            try:
                await self._issue_brief(due + interval)
            finally:
                core.brief_in_progress = False
            nxt = due + interval
            s.next_brief_due = nxt if nxt > workflow.now() else workflow.now() + interval
            core.publish()
        s.next_brief_due = None

    def _last_brief_at(self) -> datetime | None:
        drafted = [e.at for e in self.core.state.timeline if e.step == Step.COMMUNICATE
                   and e.what.startswith("brief #") and e.what.endswith("drafted")]
        return drafted[-1] if drafted else None

    async def _issue_brief(self, next_due: datetime) -> None:
        if not markers.patched(markers.BRIEFS_PER_AUDIENCE):
            await self._issue_brief_v0(next_due)
            return
        core, s = self.core, self.core.state
        s.brief_seq += 1
        seq = s.brief_seq
        audiences = briefing.due(core.playbook().communicate, s.severity, s.detection.kind, seq)
        if not audiences:
            core.system(Step.COMMUNICATE, f"brief #{seq}: no audience is briefed at {s.severity.value}")
            return
        # Each audience on its own: a brief waiting for its communications release never holds up the others.
        sent = await asyncio.gather(*(briefs.brief_audience(core, seq, name, audience, next_due)
                                      for name, audience in audiences.items()))
        if any(sent):
            s.briefs_sent += 1

    async def final_briefs(self) -> None:
        """The closing 'resolved' brief, to every audience briefed during the incident (or configured for it).

        It runs as a task beside the review's wait, not before it: its gates (the SME, then for external
        audiences the communications release, each with its backup) can take up to twice their timeouts, and the
        48-hour retrospective's reminders and escalation must keep their times whatever they do. An unapproved
        closing brief expires like any other and says so on the timeline. The incident closes after the
        retrospective once this task is done too (at most those timeouts later), because a closed incident
        refuses the approvals the closing brief still waits for.
        """
        core, s = self.core, self.core.state
        try:
            audiences = briefing.closing_audiences(core.playbook().communicate, s.severity, s.detection.kind,
                                                   (e.what for e in s.timeline), s.brief_seq)
            if not audiences:
                core.system(Step.COMMUNICATE, "no final brief: no audience was briefed during the incident")
                return
            s.brief_seq += 1
            seq = s.brief_seq
            sent = await asyncio.gather(*(briefs.brief_audience(core, seq, name, audience, None, closing=True)
                                          for name, audience in audiences.items()))
            if any(sent):
                s.briefs_sent += 1
        finally:
            core.brief_in_progress = False

    async def _issue_brief_v0(self, next_due: datetime) -> None:
        """Before briefs per audience: the one tactical brief, gated without Slack posts (kept so incidents
        started then replay)."""
        core, s = self.core, self.core.state
        pb = core.playbook()
        s.brief_seq += 1
        seq = s.brief_seq
        brief = await workflow.execute_activity(
            "draft_brief", BriefInput(state=s.for_activity(), seq=seq, next_update_due=next_due),
            result_type=Brief, summary=f"Communicate: draft brief #{seq}", **QUICK)
        core.system(Step.COMMUNICATE, f"brief #{seq} drafted", {"title": brief.title})
        status = await gates.gate(core, Step.COMMUNICATE, f"brief #{seq}: {brief.title}",
                                  "stakeholder messages need the domain SME's approval", Role.DOMAIN_SME,
                                  timedelta(minutes=pb.communicate.approval_timeout_minutes),
                                  request_id=f"brief-{seq}")
        if status != ApprovalStatus.APPROVED:
            core.system(Step.COMMUNICATE, f"brief #{seq} not sent: {status.value}")
            return
        approver = s.approval(f"brief-{seq}").decided_by or ""  # type: ignore[union-attr]
        delivered, failed = await briefs.deliver(core, seq, briefing.RESPONDERS, pb.communicate.channels, brief,
                                                 approver)
        if delivered:
            s.briefs_sent += 1
        core.system(Step.COMMUNICATE, f"brief #{seq} sent to {', '.join(delivered) or 'no channel'}",
                    {"failed": failed} if failed else None)
