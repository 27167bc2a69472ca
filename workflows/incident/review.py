"""Step 7, review: after the resolution, the retrospective within its deadline (reminders before, escalation
after, given up at last), written as an artefact, its action items tracked as their own workflows; then closed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.incident.communicate import Communication
from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    import workflows.incident.markers as markers
    from playbook.messages import RetrospectiveInput
    from playbook.models import IncidentStatus, RetrospectiveNotes, Role, Step
    from playbook.state import ActionItemInput
    from workflows.incident.calls import QUICK, cause
    from workflows.incident.people import IC_ONLY

class Review:
    def __init__(self, core: IncidentCore, communication: Communication) -> None:
        self.core, self.communication = core, communication
        self._closing: asyncio.Task[None] | None = None

    async def review(self) -> bool:
        """Wait for the retrospective with reminders and escalation. False when it is time to continue as new."""
        core, s = self.core, self.core.state
        cfg = core.playbook().review
        assert s.resolved_at is not None
        if s.retrospective_due is None:
            s.retrospective_due = s.resolved_at + timedelta(hours=cfg.deadline_hours)
            core.set(status=IncidentStatus.RESOLVED, step=Step.REVIEW)
            await core.ticket_update("resolved", f"Resolved by {s.resolved_by}: {s.resolution_summary}")
            s.retrospective_path = await self._write_retrospective(final=False)
            await core.notify("retro-due", self._owners(), f"{core.number()}: retrospective due",
                              f"Hold the retrospective by {s.retrospective_due:%Y-%m-%d %H:%M} UTC. "
                              f"Draft: {s.retrospective_path}")
            if markers.patched(markers.FINAL_BRIEF):
                core.brief_in_progress = True  # no continue-as-new while the closing brief waits
                self._closing = asyncio.create_task(self.communication.final_briefs())
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
            if await core.wait(lambda: done() or core.may_continue_as_new(), at - workflow.now(), label):
                if done():
                    break
                return False
            if reminders:
                s.review_reminders_sent += 1
                core.system(Step.REVIEW, f"reminder {s.review_reminders_sent}: retrospective due "
                            f"{s.retrospective_due:%Y-%m-%d %H:%M} UTC")
                await core.notify(f"retro-reminder-{s.review_reminders_sent}", self._owners(),
                                  f"{core.number()}: retrospective reminder",
                                  f"The retrospective is due {s.retrospective_due:%Y-%m-%d %H:%M} UTC.")
            elif not s.review_escalated:
                s.review_escalated = True
                ic = core.primary(Role.INCIDENT_COMMANDER)
                up = core.escalation_chain(ic)[1:2] or [ic]
                core.system(Step.REVIEW, f"retrospective overdue; escalated to {', '.join(up)}")
                await core.notify("retro-escalation", up, f"OVERDUE: {core.number()} retrospective",
                                  f"The retrospective was due {s.retrospective_due:%Y-%m-%d %H:%M} UTC.")
            else:
                core.system(Step.REVIEW, "closed without a retrospective: nobody recorded one "
                            f"within {cfg.give_up_after_hours} hours")
                break
        if done():
            s.retrospective_path = await self._write_retrospective(final=True)
            core.system(Step.REVIEW, "retrospective written", {"path": s.retrospective_path})
            if markers.patched(markers.ACTION_ITEMS):
                await self._track_action_items()
        if self._closing is not None and not self._closing.done():
            # Bounded by its gates' timeouts; a closed incident would refuse the approvals it waits for.
            core.system(Step.REVIEW, "closing once the final brief is sent or expires")
            await self._closing
        s.closed_at = workflow.now()
        core.set(status=IncidentStatus.CLOSED)
        await core.ticket_update("closed", "Closed" + ("" if done() else " without a retrospective"))
        return True

    async def retrospective_done(self, notes: RetrospectiveNotes) -> None:
        """The `retrospective_done` signal: the incident commander records the retrospective."""
        core, what = self.core, "record the retrospective"
        if not await core.admit(notes, what, IC_ONLY):
            return
        if not core.resolved():
            core.refuse(notes, what, "the retrospective is held after the incident is resolved")
            return
        if core.state.retrospective is not None:
            core.refuse(notes, what, "the retrospective is already recorded")
            return
        core.state.retrospective = notes
        core.accept(notes, Step.REVIEW, "retrospective held",
                    {"action_items": len(notes.action_items), "root_cause": notes.root_cause})

    async def _track_action_items(self) -> None:
        """One ActionItemWorkflow per action item, independent of this incident, reminding its owner until done."""
        core, s = self.core, self.core.state
        assert s.retrospective is not None and s.playbook is not None
        if not s.retrospective.action_items:
            return
        items = [ActionItemInput(incident_number=core.number(), incident_workflow_id=s.workflow_id, seq=seq,
                                 item=item, assigned_at=workflow.now(), playbook=s.playbook,
                                 escalate_to=core.primary(Role.INCIDENT_COMMANDER), incident_ticket=s.ticket)
                 for seq, item in enumerate(s.retrospective.action_items, 1)]
        try:
            started = await workflow.execute_activity("track_action_items", items, result_type=list[str],
                                                      summary=f"Review: track {len(items)} action item(s)", **QUICK)
        except ActivityError as err:
            core.system(Step.REVIEW, "could not start tracking the action items", {"error": cause(err)})
            return
        core.system(Step.REVIEW, f"{len(started)} action item(s) tracked until done", {"workflows": started})

    async def _write_retrospective(self, final: bool) -> str:
        return await workflow.execute_activity(
            "write_retrospective", RetrospectiveInput(state=self.core.state.for_activity(), final=final),
            result_type=str, summary=f"Review: {'final' if final else 'draft'} retrospective", **QUICK)

    def _owners(self) -> list[str]:
        core = self.core
        return list(dict.fromkeys([core.primary(Role.INCIDENT_COMMANDER), core.primary(Role.DOMAIN_SME)]))
