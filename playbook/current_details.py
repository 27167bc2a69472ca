"""The Temporal UI's Current Details of an incident (markdown): where it stands and what waits for whom.

A pure function of the state, called by the incident workflow each time it publishes (`workflow.set_current_details`
is not recorded as a command, so what it says may change without a patch).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from playbook.alert_labels import seen_text
from playbook.models import Role
from playbook.state import IncidentState
from playbook.times import utc_text


def _at(moment: datetime | None) -> str:
    return f"{utc_text(moment)} UTC" if moment else "-"


def approvers(state: IncidentState, role: Role, primary: Callable[[Role], str]) -> list[str]:
    """Who may decide a request for `role`: everyone holding it, the one paged (`primary`) first."""
    if state.playbook is None:
        return []
    holders = [p for p in state.playbook.roster.people if role in state.roles_of(p)]
    first = primary(role)
    return [f"{p} (paged)" if p == first else p for p in sorted(holders, key=lambda p: p != first)]


def current_details(s: IncidentState, primary: Callable[[Role], str]) -> str:
    """The markdown; `primary(role)` names who is paged for a role (assignments first, then the roster)."""
    pending = s.pending_approvals()
    if s.acknowledged_by:
        ack = f"acknowledged by {s.acknowledged_by} at {_at(s.acknowledged_at)}"
    else:
        ack = "not acknowledged yet" + (f"; escalated to {', '.join(s.ack_escalated_to)}"
                                        if s.ack_escalated_to else "")
    seen = seen_text(s.labels_seen)
    lines = [f"**{s.number or s.workflow_id}** · {s.severity.value} · {s.status.value} · step {s.step.value}",
             "", f"- {s.detection.kind.value} on {', '.join(s.detection.services)}; {s.alert_count} alert(s)",
             *([f"- named in alerts: {seen}"] if seen else []),
             f"- {ack}",
             f"- next brief due: {_at(s.next_brief_due)}" if s.next_brief_due
             else "- next brief due: none scheduled",
             f"- ticket: {s.ticket.key if s.ticket else 'not yet'}"]
    if s.resolved_at is not None:
        lines.append(f"- resolved by {s.resolved_by} at {_at(s.resolved_at)}"
                     + (f"; retrospective due {_at(s.retrospective_due)}" if s.retrospective_due else ""))
    if pending:
        lines += ["", "**Waiting for approval**", ""]
        for a in pending[:20]:
            who = approvers(s, a.role, primary)
            lines.append(f"- `{a.request_id}` {a.subject[:120]} — {a.role.value}: {', '.join(who) or 'nobody'}"
                         + (f"; escalated to {', '.join(a.escalated_to)}" if a.escalated_to else "")
                         + f"; decide by {_at(a.deadline)}")
    # The undo registry is what is in place: regression runs and failures are not mitigations.
    in_place = [m for m in s.in_place if m.outcome != "undone"]  # kept, undo failed or handed to a person
    undone = sorted(m.name for m in s.in_place if m.outcome == "undone")
    lines += ["", "**Mitigations in place**", ""]
    lines += [f"- {m.step.value}: {m.name} ({_at(m.applied_at)})" for m in in_place[-20:]] or ["- none yet"]
    if undone:
        lines.append("- undone at resolution: " + ", ".join(undone))
    others = [m for m in s.mitigations if m.outcome != "done"]
    if others:
        lines.append("- not in place: " + ", ".join(f"{m.action} ({m.outcome})" for m in others[-10:]))
    return "\n".join(lines)
