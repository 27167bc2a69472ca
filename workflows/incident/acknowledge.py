"""Step 1, detect and acknowledge: open the incident (severity, number, ticket), page the incident commander,
escalate along the backup chain until someone acknowledges, and take the acknowledgement."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.incident import paging, snapshots
from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    import workflows.incident.markers as markers
    from playbook.messages import OpenedIncident, OpenIncidentInput, TicketInput
    from playbook.models import HumanAction, IncidentStatus, Role, Step, Ticket
    from workflows.incident.calls import QUICK, cause, tracker_call

ACK_ROLES = {Role.INCIDENT_COMMANDER, Role.AI_OPS}


async def open_incident(core: IncidentCore) -> None:
    """Classify the severity, number the incident, open its ticket."""
    info = workflow.info()
    # open-ticket-v1: a local ticket is opened by the same activity (one activity and two workflow tasks fewer),
    # dated when the activity was scheduled; a tracker's ticket is still create_ticket's, below.
    with_ticket, scheduled_at = markers.patched(markers.OPEN_TICKET), workflow.now()
    opened = await core.quick(
        "open_incident", OpenIncidentInput(workflow_id=info.workflow_id, chain_id=info.first_execution_run_id,
                                           detection=core.state.detection, drill=core.state.drill,
                                           ticket_opened_at=scheduled_at if with_ticket else None),
        OpenedIncident, "Detect: classify severity, number the incident" + (", open its ticket" if with_ticket
                                                                            else ""), **QUICK)
    s = core.state
    s.number, s.severity, s.severity_reason = opened.number, opened.severity, opened.severity_reason
    s.playbook, s.playbook_ref = snapshots.shared(opened.playbook), opened.playbook_ref
    s.opened_at = scheduled_at if opened.ticket is not None else workflow.now()  # the ticket's opened_at
    if opened.last_deploy and not s.detection.deploy_id and markers.patched(markers.LAST_DEPLOY):
        s.detection = s.detection.model_copy(update={"deploy_id": opened.last_deploy})  # from the deploy log
    core.system(Step.DETECT, f"incident opened as {s.severity.value}",
                {"reason": s.severity_reason, "kind": s.detection.kind.value, "services": s.detection.services,
                 "metrics": s.detection.metrics, "deploy_id": s.detection.deploy_id})
    request = TicketInput(workflow_id=s.workflow_id, number=opened.number, severity=s.severity,
                          detection=s.detection, opened_at=s.opened_at)
    if opened.ticket is not None:
        s.ticket = opened.ticket
    elif markers.patched(markers.TRACKERS):
        s.ticket = await _tracked_ticket(core, request.model_copy(update={"tickets": s.playbook.tickets}))
    else:
        s.ticket = await workflow.execute_activity("create_ticket", request, result_type=Ticket,
                                                   summary=f"Detect: ticket {opened.number}", **QUICK)
    core.system(Step.DETECT, f"ticket {s.ticket.key} created", {"url": s.ticket.url})
    core.publish()


async def _tracked_ticket(core: IncidentCore, request: TicketInput) -> Ticket:
    """The ticket in the playbook's tracker; when the tracker refuses (an expired credential, a missing permission)
    or stays down through every retry, the timeline says why and the ticket is kept locally: the incident goes on."""
    tickets = core.playbook().tickets
    summary = f"Detect: ticket {request.number}"
    if tickets.backend != "local":
        try:
            return await workflow.execute_activity(
                "create_ticket", request, result_type=Ticket, summary=f"{summary} in {tickets.backend}",
                **tracker_call(tickets.tracker_timeout()))
        except ActivityError as err:
            core.system(Step.DETECT, f"could not open the ticket in {tickets.backend}; keeping it locally",
                        {"error": cause(err)})
            request = request.model_copy(update={"tickets": tickets.model_copy(update={"backend": "local"})})
    return await core.quick("create_ticket", request, Ticket, summary, **QUICK)


async def await_acknowledgement(core: IncidentCore) -> bool:
    """Page the incident commander, escalate along the backup chain. False when it is time to continue as new."""
    s = core.state
    pb = core.playbook()
    if not s.ack_paged:
        await paging.fill_roles(core)  # who the schedules say is on call (paging-v1)
    chain = paging.ack_chain(core)
    if not s.ack_paged:
        await core.notify("ack-0", [chain[0]], f"{s.number} needs acknowledgement",
                          f"{s.severity.value} {s.detection.kind.value} on "
                          f"{', '.join(s.detection.services)}: acknowledge it.")
        s.ack_paged = True
        await paging.trigger(core)  # PagerDuty, after the page that never waits on it

    def settled() -> bool:
        return s.acknowledged_at is not None or core.resolved()

    while not settled():
        level = len(s.ack_escalated_to)
        if s.ack_exhausted:  # every escalation done: wait as long as it takes
            await workflow.wait_condition(lambda: settled() or core.may_continue_as_new())
            if not settled():
                return False
            break
        timeout = timedelta(minutes=pb.severity.levels[s.severity].ack_timeout_minutes)
        if await core.wait(lambda: settled() or core.may_continue_as_new(), timeout,
                           "acknowledgement deadline"):
            if not settled():
                return False
            break
        level += 1
        if level >= len(chain):
            s.ack_exhausted = True
            core.system(Step.DETECT, "nobody acknowledged; every escalation is exhausted, still waiting",
                        {"escalated_to": s.ack_escalated_to})
            core.publish()
            continue
        target = chain[level]
        s.ack_escalated_to.append(target)
        core.system(Step.DETECT, f"not acknowledged in time; escalated to {target}",
                    {"after_minutes": timeout.total_seconds() / 60})
        await core.notify(f"ack-{level}", [target], f"ESCALATION: {s.number} is unacknowledged",
                          f"Nobody acknowledged {s.number} within {timeout}. You are the backup.")
    if s.acknowledged_at is not None:
        core.set(status=IncidentStatus.ACKNOWLEDGED)
        await core.ticket_update("acknowledged", f"Acknowledged by {s.acknowledged_by}")
        await paging.acknowledged(core)
    elif core.resolved():
        core.set(status=IncidentStatus.ACKNOWLEDGED)
    return True


async def on_acknowledge(core: IncidentCore, action: HumanAction) -> None:
    """The `acknowledge` signal: the incident commander or AI Ops (or someone it escalated to)."""
    s = core.state
    if not await core.admit(action, "acknowledge", ACK_ROLES, allow_escalated=s.ack_escalated_to):
        return
    if s.acknowledged_at is not None:
        core.refuse(action, "acknowledge", f"already acknowledged by {s.acknowledged_by}")
        return
    s.acknowledged_at, s.acknowledged_by = workflow.now(), action.by
    core.accept(action, Step.DETECT, "acknowledged", {"comment": action.comment} if action.comment else None)
