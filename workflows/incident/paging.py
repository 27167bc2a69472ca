"""Paging: who is on call when the incident opens (an activity reads the schedules; its answer goes on the
timeline and fills the roles), and the incident's PagerDuty alert triggered on open, acknowledged and resolved as
the incident moves. A PagerDuty failure is written on the timeline and the incident goes on without it.

Runs only under the `paging-v1` marker and only for an incident whose `state.paging` was set by it, so incidents
opened on older code neither read schedules nor send PagerDuty events.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.incident.core import IncidentCore

with workflow.unsafe.imports_passed_through():
    import workflows.incident.markers as markers
    from playbook.models import Role, Step
    from playbook.paging import (
        FROM_PAGERDUTY,
        PD_SEVERITY,
        EventAction,
        OnCallRequest,
        OnCallResult,
        PagerDutyEvent,
        PagesAcknowledged,
        PagingState,
    )
    from workflows.incident.calls import cause, http_call


async def fill_roles(core: IncidentCore) -> None:
    """Before the first page: fill the scheduled roles from who is on call now."""
    s = core.state
    if s.paging is not None or not markers.patched(markers.PAGING):
        return
    s.paging = PagingState()
    if core.playbook().paging.oncall:
        await _on_call_now(core)


async def trigger(core: IncidentCore) -> None:
    """After the first page (which never waits on PagerDuty): trigger the incident's PagerDuty alert, once."""
    s = core.state
    if s.paging is None or s.paging.trigger_sent or not core.playbook().paging.pagerduty.enabled:
        return
    s.paging.trigger_sent = True
    s.paging.triggered = await _send(core, "trigger")


async def _on_call_now(core: IncidentCore) -> None:
    s, pb = core.state, core.playbook()
    assert s.paging is not None
    layers = sum(len(o.ical) + len(o.pagerduty_schedules) + (o.pagerduty_escalation_policy is not None)
                 for o in pb.paging.oncall.values())
    try:  # bounded: the first page waits on this, and a schedule that cannot be read leaves the roster in charge
        found = await workflow.execute_activity(
            "who_is_on_call", OnCallRequest(at=workflow.now(), paging=pb.paging, roster=pb.roster),
            result_type=OnCallResult, summary="Detect: who is on call now",
            start_to_close_timeout=timedelta(seconds=pb.paging.feed_timeout_seconds * layers + 5),
            retry_policy=RetryPolicy(maximum_attempts=2))
    except ActivityError as err:
        core.system(Step.DETECT, "could not read the on-call schedules; paging the roster", {"error": cause(err)})
        return
    for role, holders in found.roles.items():
        chain = holders.chain
        details = {"role": role.value, "chain": chain, "layers": [sh.layer for sh in holders.now],
                   "until": [sh.end.isoformat() for sh in holders.now]}
        unknown = [sh.named for sh in holders.now if sh.person is None]
        if unknown:
            details["not_on_roster"] = unknown
        if holders.errors:
            details["errors"] = holders.errors
        if not chain:
            core.system(Step.DETECT, f"nobody on the schedule for {role.value} now; the roster's "
                                     f"{pb.roster.primary(role)} holds it", details)
            continue
        s.paging.oncall[role] = chain
        roles = s.assignments.setdefault(chain[0], [])
        if role not in roles:
            roles.append(role)
        core.system(Step.DETECT, f"on call for {role.value}: {chain[0]}", details)
    core.publish()


def ack_chain(core: IncidentCore) -> list[str]:
    """Who is paged for acknowledgement, in escalation order: the schedule's incident commander and its next
    layers, then the roster's backups of the last of them; without a schedule, the roster's incident commander and
    their backups (as before)."""
    s = core.state
    scheduled = s.paging.oncall.get(Role.INCIDENT_COMMANDER) if s.paging else None
    return core.escalation_chain(scheduled[0] if scheduled else core.playbook().roster.primary(Role.INCIDENT_COMMANDER))


async def acknowledged(core: IncidentCore) -> None:
    """Replace the Slack pages' Acknowledge buttons; acknowledge the PagerDuty alert, unless the acknowledgement
    came from PagerDuty itself."""
    s = core.state
    if s.paging is None:
        return
    await _replace_slack_pages(core)
    if not s.paging.triggered or s.paging.acknowledged:
        return
    s.paging.acknowledged = True
    if _acknowledged_in_pagerduty(core):
        return
    await _send(core, "acknowledge")


async def resolved(core: IncidentCore) -> None:
    s = core.state
    if s.paging is None or not s.paging.triggered or s.paging.resolved:
        return
    s.paging.resolved = True
    await _send(core, "resolve")


async def _replace_slack_pages(core: IncidentCore) -> None:
    s, pb = core.state, core.playbook()
    channels = {n: pb.channels[n] for n in pb.communicate.notify_channels if pb.channels[n].kind == "slack"}
    if not channels or s.acknowledged_by is None:
        return
    try:
        await workflow.execute_activity(
            "replace_slack_pages", PagesAcknowledged(incident_number=core.number(), acknowledged_by=s.acknowledged_by,
                                                     channels=channels),
            result_type=int, summary=f"Detect: replace the Slack pages' Acknowledge buttons ({s.acknowledged_by})",
            **http_call(sum(c.timeout_seconds for c in channels.values()) * 4))
    except ActivityError as err:
        core.system(Step.DETECT, "could not replace the Slack pages' Acknowledge buttons", {"error": cause(err)})


def _acknowledged_in_pagerduty(core: IncidentCore) -> bool:
    return any(e.what == "acknowledged" and e.details.get("comment") == FROM_PAGERDUTY for e in core.state.timeline)


async def _send(core: IncidentCore, action: EventAction) -> bool:
    s, pd = core.state, core.playbook().paging.pagerduty
    d = s.detection
    event = PagerDutyEvent(
        action=action, dedup_key=s.workflow_id, config=pd, severity=PD_SEVERITY[s.severity],  # type: ignore[arg-type]
        summary=f"{core.number()}: {s.severity.value} {d.kind.value} on {', '.join(d.services) or 'unknown'}: "
                f"{d.summary}"[:1024] if action == "trigger" else "",
        custom_details={"incident": core.number(), "workflow_id": s.workflow_id, "severity": s.severity.value,
                        "kind": d.kind.value, "services": d.services} if action == "trigger" else {})
    try:
        await workflow.execute_activity("pagerduty_event", event, result_type=str,
                                        summary=f"{core.step_label()}: PagerDuty {action}",
                                        **http_call(pd.timeout_seconds))
    except ActivityError as err:
        core.system(s.step, f"PagerDuty {action} failed; the incident goes on without it", {"error": cause(err)})
        return False
    core.system(s.step, f"PagerDuty alert: {action} sent", {"dedup_key": s.workflow_id})
    return True
