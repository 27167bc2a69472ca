"""The incident core every room holds: the state, the one timeline writer, people's actions admitted, accepted or
refused, the search attributes and details kept current, idempotency keys, notifications and ticket updates.

Deterministic like the rest of the workflow: side effects are activities called by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal, NoReturn, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import playbook.search_attributes as sa
    import workflows.incident.markers as markers
    import workflows.incident.people as people
    import workflows.incident.visibility as visibility
    from playbook.config import Playbook
    from playbook.current_details import current_details
    from playbook.messages import Notification, TicketUpdate
    from playbook.models import ActionOutcome, HumanAction, IncidentStatus, Role, Step
    from playbook.state import IncidentInput, IncidentState
    from workflows.incident.calls import ARCHIVE_TIMEOUT, QUICK, cause, http_call, tracker_call

SYSTEM = "firebreak"
LOCAL_RETRY_THRESHOLD = timedelta(seconds=1)
T = TypeVar("T")


class IncidentCore:
    def __init__(self, state: IncidentState) -> None:
        self.state = state
        self.brief_in_progress = False  # a brief between its gates: no continue-as-new until it is done
        self._published: dict[str, Any] = {}
        self._coalesce: bool | None = None  # one-upsert-v1, decided at the first publication
        self._publish_pending = False
        self._publisher: asyncio.Task[None] | None = None  # one-upsert-v1's task, kept so it is not collected
        # light-runs-v1, decided here, in the run's first activation (the workflow's __init__): quick steps as
        # local activities, and every earlier marker's new branch (markers.patched)
        self.light = markers.begin()

    # ------------------------------------------------------------------ the timeline: its one writer

    def system(self, step: Step, what: str, details: dict[str, Any] | None = None) -> None:
        """What Firebreak did or saw: actor `firebreak`, role `system`."""
        self._write(step, SYSTEM, "system", what, details)

    def from_source(self, step: Step, source: str, what: str, details: dict[str, Any] | None = None) -> None:
        """What an alert source said: actor the source's name, role `source` (`system` for one named firebreak)."""
        self._write(step, source, "system" if source == SYSTEM else "source", what, details)

    def by_person(self, step: Step, by: str, role: Role, what: str, details: dict[str, Any] | None = None) -> None:
        """What a person did, in the role they acted in."""
        self._write(step, by, role.value, what, details)

    def _write(self, step: Step, actor: str, role: str, what: str, details: dict[str, Any] | None) -> None:
        self.state.record(workflow.now(), step, actor, role, what, details)

    # ------------------------------------------------------------------ people's actions

    async def admit(self, action: HumanAction, what: str, roles: set[Role],
                    allow_escalated: list[str] | None = None, allow_closed: bool = False) -> bool:
        """Is this person on the roster, in the role they claim, and is the role allowed? Refusals are recorded."""
        await workflow.wait_condition(lambda: self.state.playbook is not None)
        reason = people.refusal(self.state, action, what, roles, allow_escalated, allow_closed)
        if reason is not None:
            self.refuse(action, what, reason, "state" if self.state.status == IncidentStatus.CLOSED else "role")
            return False
        return True

    def refuse(self, action: HumanAction, what: str, reason: str,
               kind: Literal["role", "unknown", "invalid", "state"] = "state") -> None:
        """Recorded on the timeline; `kind` tells the HTTP API which status to answer (ActionOutcome.refusal)."""
        self.by_person(self.state.step, action.by, action.role, f"refused: {what}", {"reason": reason})
        self.state.remember_outcome(ActionOutcome(action_id=action.action_id, accepted=False, message=reason,
                                                  refusal=kind))
        self.publish()

    def accept(self, action: HumanAction, step: Step, what: str, details: dict[str, Any] | None = None) -> None:
        self.by_person(step, action.by, action.role, what, details)
        self.state.remember_outcome(ActionOutcome(action_id=action.action_id, accepted=True, message=what))
        self.publish()

    # ------------------------------------------------------------------ where the incident stands

    def set(self, status: IncidentStatus | None = None, step: Step | None = None) -> None:
        if status is not None:
            self.state.status = status
        if step is not None:
            self.state.step = step
        self.publish()

    def resolved(self) -> bool:
        return self.state.resolved_at is not None

    def may_continue_as_new(self) -> bool:
        return (workflow.info().is_continue_as_new_suggested() and not self.brief_in_progress
                and workflow.all_handlers_finished())

    def continue_as_new(self) -> NoReturn:
        self.system(self.state.step, "history is long; continuing as a new run")
        self.flush()
        workflow.continue_as_new(IncidentInput(detection=self.state.detection, carried=self.state))

    def publish(self) -> None:
        """Keep search attributes, the pending memo and the UI's current details in step with the state.

        one-upsert-v1: by a task waiting on a condition, which the SDK checks only when every ready task of the
        activation has run, so several changes in one workflow task are one upsert command and one event, not
        one each (two where a task woken by another condition changes the state again)."""
        if self._coalesce is None:
            self._coalesce = markers.patched(markers.ONE_UPSERT)
            if self._coalesce:
                self._publisher = asyncio.create_task(self._publish_when_settled())
        if not self._coalesce:
            self._publish_now()
        else:
            self._publish_pending = True

    async def _publish_when_settled(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self._publish_pending)
            self._publish_now()

    def flush(self) -> None:
        """Publish now what is waiting to be published: before the run completes or continues as new, whose
        command must be the activation's last."""
        if self._publish_pending:
            self._publish_now()

    def _publish_now(self) -> None:
        self._publish_pending = False
        values = visibility.search_attributes(self.state, first=not self._published)
        values |= visibility.pending_values(self.state, self._published)
        keys = {k.name: k for k in sa.ALL}
        changed = [keys[k].value_set(v) for k, v in values.items() if self._published.get(k) != v]
        if changed:
            workflow.upsert_search_attributes(changed)  # type: ignore[arg-type]
            self._published.update(values)
        workflow.set_current_details(current_details(self.state, self.primary))

    # ------------------------------------------------------------------ waits and side effects

    async def wait(self, condition: Callable[[], bool], timeout: timedelta, summary: str) -> bool:
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

    async def quick(self, activity: str, arg: Any, result_type: type[T], summary: str, **options: Any) -> T:
        """A quick step of the worker's own (a file or a row written, a message sent): on a light run a local
        activity, whose result is one marker in the history, with no activity task and no workflow task through
        the server; on an older run the activity it recorded. A retry waits longer than a second on a timer (so
        time skipping skips it); an activity with a heartbeat, or one a tracker answers, is never quick."""
        if self.light:
            return await workflow.execute_local_activity(activity, arg, result_type=result_type, summary=summary,
                                                         local_retry_threshold=LOCAL_RETRY_THRESHOLD, **options)
        return await workflow.execute_activity(activity, arg, result_type=result_type, summary=summary, **options)

    async def notify(self, key: str, to: list[str], subject: str, text: str) -> None:
        pb = self.playbook()
        note = Notification(key=self.key("notify", key), incident_number=self.number(), to=to,
                            contacts={p: pb.roster.people[p].contact for p in to if p in pb.roster.people},
                            subject=subject, text=text,
                            channels={n: pb.channels[n] for n in pb.communicate.notify_channels})
        try:
            # The log append plus each paging webhook in turn, so a lost attempt is retried within seconds.
            await self.quick("notify", note, int, f"{self.step_label()}: notify {', '.join(to)}: {subject}"[:200],
                             **http_call(sum(c.timeout_seconds for c in note.channels.values())
                                         + ARCHIVE_TIMEOUT.total_seconds()))
        except ActivityError as err:
            self.system(self.state.step, f"could not notify {', '.join(to)}", {"error": cause(err)})

    async def ticket_update(self, key: str, text: str) -> None:
        ticket = self.state.ticket
        if ticket is None:
            return
        # A tracker's ticket carries the incident's [tickets] and its timeouts; a local one is called as it was.
        tickets = self.playbook().tickets if ticket.backend != "local" else None
        update = TicketUpdate(ticket=ticket, key=self.key("ticket", key), text=text, severity=self.state.severity,
                              status=self.state.status, tickets=tickets)
        summary = f"{self.step_label()}: update ticket {ticket.key}: {text[:80]}"
        try:
            if tickets:  # the tracker's own timeouts and retries, as a regular activity
                await workflow.execute_activity("update_ticket", update, result_type=bool, summary=summary,
                                                **tracker_call(tickets.tracker_timeout()))
            else:
                await self.quick("update_ticket", update, bool, summary, **QUICK)
        except ActivityError as err:
            self.system(self.state.step, "ticket update failed", {"error": cause(err)})

    # ------------------------------------------------------------------ names and lookups

    def key(self, *parts: str) -> str:
        """Idempotency key: the incident chain plus what the side effect is, never the attempt."""
        return "/".join([self.state.workflow_id, self.number(), *parts])

    def number(self) -> str:
        return self.state.number or self.state.workflow_id

    def playbook(self) -> Playbook:
        return people.playbook_of(self.state)

    def primary(self, role: Role) -> str:
        return people.primary(self.state, role)

    def escalation_chain(self, person: str) -> list[str]:
        return people.escalation_chain(self.state, person)

    def step_label(self) -> str:
        """The step an activity summary names, as the UI's timeline shows it ("Stabilise: ...")."""
        return self.state.step.value.capitalize()

    def variables(self, action: str) -> dict[str, str | int | None]:
        """The template variables of an action's texts (playbook.config.TEMPLATE_VARIABLES)."""
        s, d = self.state, self.state.detection
        known = self.playbook().plan_for(s.service).known_good
        return {"incident_id": s.workflow_id, "incident_number": self.number(), "severity": s.severity.value,
                "service": s.service, "kind": d.kind.value, "summary": d.summary, "model": d.model,
                "prompt_name": d.prompt_name, "prompt_version": d.prompt_version, "deploy_id": d.deploy_id,
                "known_good_model": known.model, "known_good_prompt_name": known.prompt_name,
                "known_good_prompt_version": known.prompt_version, "action": action}
