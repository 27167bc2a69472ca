"""Who is who in this incident: the roster, the roles given during it, and who may act. Pure functions of the
state (deterministic, no side effects), shared by the rooms."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from playbook.config import Playbook
    from playbook.models import HumanAction, IncidentStatus, Role
    from playbook.state import IncidentState

IC_ONLY = {Role.INCIDENT_COMMANDER}


def playbook_of(state: IncidentState) -> Playbook:
    assert state.playbook is not None, "the playbook is loaded when the incident opens"
    return state.playbook


def primary(state: IncidentState, role: Role) -> str:
    """Who is paged for `role` (IncidentState.paged_for); the roster check guarantees a holder of every role
    the workflow pages."""
    who = state.paged_for(role)
    assert who is not None, f"nobody holds {role.value}"
    return who


def escalation_chain(state: IncidentState, person: str) -> list[str]:
    """`person`, their backup, the backup's backup ... until the chain ends or loops. For the person a schedule put
    on call for a role (workflows/incident/paging.py), the schedule's next layers come first, then the backups."""
    people = playbook_of(state).roster.people
    scheduled = [c for c in (state.paging.oncall.values() if state.paging else ()) if c and c[0] == person]
    chain = list(scheduled[0]) if scheduled else [person]
    while (nxt := people[chain[-1]].backup) is not None and nxt not in chain:
        chain.append(nxt)
    return chain


def refusal(state: IncidentState, action: HumanAction, what: str, roles: set[Role],
            allow_escalated: list[str] | None = None, allow_closed: bool = False) -> str | None:
    """Why this person may not do `what` (not on the roster, not in the role they claim, not a role allowed, the
    incident closed), or None when they may. `roles` empty: any role; `allow_escalated`: people asked anyway."""
    if state.status == IncidentStatus.CLOSED and not allow_closed:
        return f"incident {state.number or state.workflow_id} is closed"
    if action.by not in playbook_of(state).roster.people:
        return f"'{action.by}' is not on the roster"
    if action.role not in state.roles_of(action.by):
        return f"{action.by} does not hold the role {action.role.value}"
    if roles and action.role not in roles and action.by not in (allow_escalated or []):
        needed = " or ".join(sorted(r.value for r in roles))
        return f"only {needed} may {what}; {action.by} acted as {action.role.value}"
    return None
