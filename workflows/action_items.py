"""ActionItemWorkflow: one retrospective action item, chased by durable reminders until its owner marks it done.

Started by the incident when its retrospective is recorded, and left running after the incident closes.
Reminders start at the due date (or `action_item_undated_days` after assignment), repeat every
`action_item_reminder_hours`, and after `action_item_escalate_after` of them the incident commander is told.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import workflows.incident.markers as markers
    from playbook import search_attributes as sa
    from playbook.messages import ItemTicketClose, ItemTicketInput, Notification
    from playbook.models import ActionOutcome, HumanAction, Role, Ticket
    from playbook.state import ActionItemInput, ActionItemState, ClosedInTracker
    from workflows.incident.calls import cause, tracker_call

from workflows.unreadable import read_input

NOTIFY: dict[str, Any] = {"start_to_close_timeout": timedelta(minutes=1),
                          "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)}


@workflow.defn
class ActionItemWorkflow:
    @workflow.init
    def __init__(self, request: Any) -> None:  # an ActionItemInput, read here (workflows/unreadable.py)
        self.request = request = read_input(ActionItemInput, request, "the action item's start input")
        self.state = ActionItemState(incident_number=request.incident_number, seq=request.seq, item=request.item,
                                     ticket=request.item_ticket)

    @workflow.run
    async def run(self, _: Any) -> ActionItemState:
        request = self.request
        review = request.playbook.review
        first = (request.item.due if request.item.due is not None
                 else request.assigned_at + timedelta(days=review.action_item_undated_days))
        next_at = first
        tracked = request.incident_ticket is not None and request.incident_ticket.backend != "local"
        if tracked and self.state.ticket is None and workflow.patched(markers.ITEM_TICKETS):
            await self._open_ticket()
        while self.state.status != "done":
            if await self._until_polling(next_at):
                break
            self.state.reminders_sent += 1
            overdue = "due" if self.state.reminders_sent == 1 else "overdue"
            await self._notify(f"reminder-{self.state.reminders_sent}", [request.item.owner],
                               f"{request.incident_number} action item {overdue}: {request.item.what}",
                               f"Mark it done with: firebreak done {workflow.info().workflow_id} --as "
                               f"{request.item.owner}")
            if self.state.reminders_sent > review.action_item_escalate_after and not self.state.escalated:
                self.state.escalated = True
                await self._notify("escalation", [request.escalate_to],
                                   f"{request.incident_number} action item still open: {request.item.what}",
                                   f"{request.item.owner} has had {self.state.reminders_sent} reminders.")
            # From now, not from the last slot: a worker that was down for days sends one reminder, not a burst.
            next_at = workflow.now() + timedelta(hours=review.action_item_reminder_hours)
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(request.model_copy(update={"item_ticket": self.state.ticket}))
        if self.state.ticket is not None and not self.state.closed_in_tracker:
            await self._close_ticket()
        workflow.upsert_search_attributes([sa.INCIDENT_STATUS.value_set("done")])
        return self.state

    @workflow.query
    def get_item(self) -> ActionItemState:
        return self.state

    @workflow.query
    def action_outcome(self, action_id: str) -> ActionOutcome | None:
        return next((o for o in reversed(self.state.outcomes) if o.action_id == action_id), None)

    @workflow.signal
    def mark_done(self, action: HumanAction) -> None:
        """The owner, or the incident commander, marks the item done."""
        roster = self.request.playbook.roster.people
        person = roster.get(action.by)
        if self.state.status == "done":
            self._answer(action, False, f"already done by {self.state.done_by}")
        elif person is None:
            self._answer(action, False, f"'{action.by}' is not on the roster")
        elif action.role not in person.roles:
            self._answer(action, False, f"{action.by} does not hold the role {action.role.value}")
        elif action.by != self.request.item.owner and action.role != Role.INCIDENT_COMMANDER:
            self._answer(action, False, f"only the owner ({self.request.item.owner}) or an incident commander "
                                        "may mark it done")
        else:
            self.state.status, self.state.done_by, self.state.done_at = "done", action.by, workflow.now()
            self.state.note = action.comment
            self._answer(action, True, f"action item {self.request.seq} of {self.request.incident_number} done")

    @workflow.signal
    def closed_in_tracker(self, closed: ClosedInTracker) -> None:
        """Its issue was closed in the tracker (a verified webhook): the item is done, said as the tracker said it."""
        if self.state.status == "done" or self.state.ticket is None or closed.key != self.state.ticket.key:
            return
        self.state.status, self.state.done_by, self.state.done_at = "done", closed.by, workflow.now()
        self.state.closed_in_tracker = True
        self.state.note = f"closed in {closed.tracker} ({closed.key})"

    async def _until_polling(self, when: datetime) -> bool:
        """`_until`, checking the item's tracker issue every `item_poll_minutes` meanwhile (a webhook may never
        come: the intake unreachable from the tracker). Only items with an issue poll, so older histories replay."""
        every = timedelta(minutes=self.request.playbook.tickets.item_poll_minutes)
        if self.state.ticket is None or every <= timedelta(0):
            return await self._until(when)
        while True:
            step = min(when, workflow.now() + every)
            if await self._until(step):
                return True
            if step >= when:
                return False
            await self._poll_ticket()
            if self.state.status == "done":
                return True

    async def _poll_ticket(self) -> None:
        assert self.state.ticket is not None
        pb, ticket = self.request.playbook, self.state.ticket
        try:
            closed_by = await workflow.execute_activity(
                "item_ticket_closed", ItemTicketClose(ticket=ticket, tickets=pb.tickets, done_by=""),
                result_type=str, summary=f"Review: is {ticket.key} closed?"[:200],
                **tracker_call(pb.tickets.tracker_timeout()))
        except ActivityError as err:
            workflow.logger.warning("could not check %s: %s", ticket.key, cause(err))
            return
        if closed_by and self.state.status != "done":
            self.closed_in_tracker(ClosedInTracker(tracker=ticket.backend, key=ticket.key, by=closed_by,
                                                   url=ticket.url))

    async def _open_ticket(self) -> None:
        """The item's own issue, linked to the incident's ticket; the item is chased here even when this fails."""
        r, pb = self.request, self.request.playbook
        assert r.incident_ticket is not None
        try:
            self.state.ticket = await workflow.execute_activity(
                "open_item_ticket", ItemTicketInput(
                    workflow_id=workflow.info().workflow_id, incident_number=r.incident_number,
                    incident_ticket=r.incident_ticket, tickets=pb.tickets, seq=r.seq, what=r.item.what,
                    owner=r.item.owner, due=r.item.due),
                result_type=Ticket, summary=f"Review: action item {r.seq} in {pb.tickets.backend}"[:200],
                **tracker_call(pb.tickets.tracker_timeout()))
        except ActivityError as err:
            self.state.note = f"no issue in {pb.tickets.backend}: {cause(err)}"
            workflow.logger.warning("action item %s of %s: %s", r.seq, r.incident_number, self.state.note)

    async def _close_ticket(self) -> None:
        assert self.state.ticket is not None
        pb = self.request.playbook
        try:
            await workflow.execute_activity(
                "close_item_ticket", ItemTicketClose(ticket=self.state.ticket, tickets=pb.tickets,
                                                     done_by=self.state.done_by or "", note=self.state.note),
                result_type=bool, summary=f"Review: close {self.state.ticket.key}"[:200],
                **tracker_call(pb.tickets.tracker_timeout()))
        except ActivityError as err:
            workflow.logger.warning("could not close %s: %s", self.state.ticket.key, cause(err))

    def _answer(self, action: HumanAction, accepted: bool, message: str) -> None:
        if action.action_id:
            self.state.outcomes.append(ActionOutcome(action_id=action.action_id, accepted=accepted, message=message))
            del self.state.outcomes[:-50]

    async def _until(self, when: datetime) -> bool:
        """Wait until `when` or until done; True when done."""
        remaining = when - workflow.now()
        if remaining > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.state.status == "done", timeout=remaining,
                                              timeout_summary="action item reminder")
        return self.state.status == "done"

    async def _notify(self, key: str, to: list[str], subject: str, text: str) -> None:
        pb = self.request.playbook
        note = Notification(key=f"{workflow.info().workflow_id}/{key}", incident_number=self.request.incident_number,
                            to=to, contacts={p: pb.roster.people[p].contact for p in to if p in pb.roster.people},
                            subject=subject, text=text,
                            channels={n: pb.channels[n] for n in pb.communicate.notify_channels})
        try:
            await workflow.execute_activity("notify", note, result_type=int,
                                            summary=f"Review: remind {', '.join(to)}: {subject}"[:200], **NOTIFY)
        except ActivityError:
            workflow.logger.warning("could not remind %s about %s", to, self.request.item.what)
