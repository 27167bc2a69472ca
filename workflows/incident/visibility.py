"""What the Temporal UI shows of an incident: its search attribute values and the Current Details markdown.

Pure functions of the state; IncidentCore.publish upserts what changed and sets the details.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from playbook.state import IncidentState
    from workflows.incident.people import approvers


def search_attributes(state: IncidentState, first: bool) -> dict[str, Any]:
    """The search attribute values by name; `first`: the first publication, which also sets DetectedAt."""
    s = state
    values: dict[str, Any] = {
        "IncidentSeverity": s.severity.value, "IncidentStatus": s.status.value, "IncidentStep": s.step.value,
        "AlertCount": s.alert_count, "AffectedService": s.service, "SignalKind": s.detection.kind.value,
    }
    if s.number:
        values["IncidentNumber"] = s.number
    if first:
        values["DetectedAt"] = s.detection.detected_at
    return values


def details(state: IncidentState) -> str:
    """The UI's Current Details (markdown): where the incident stands and what waits for whom."""
    s = state
    pending = s.pending_approvals()
    if s.acknowledged_by:
        ack = f"acknowledged by {s.acknowledged_by} at {at(s.acknowledged_at)}"
    else:
        ack = "not acknowledged yet" + (f"; escalated to {', '.join(s.ack_escalated_to)}"
                                        if s.ack_escalated_to else "")
    lines = [f"**{s.number or s.workflow_id}** · {s.severity.value} · {s.status.value} · step {s.step.value}",
             "", f"- {s.detection.kind.value} on {', '.join(s.detection.services)}; {s.alert_count} alert(s)",
             f"- {ack}",
             f"- next brief due: {at(s.next_brief_due)}" if s.next_brief_due
             else "- next brief due: none scheduled",
             f"- ticket: {s.ticket.key if s.ticket else 'not yet'}"]
    if s.resolved_at is not None:
        lines.append(f"- resolved by {s.resolved_by} at {at(s.resolved_at)}"
                     + (f"; retrospective due {at(s.retrospective_due)}" if s.retrospective_due else ""))
    if pending:
        lines += ["", "**Waiting for approval**", ""]
        for a in pending[:20]:
            who = approvers(s, a.role)
            lines.append(f"- `{a.request_id}` {a.subject[:120]} — {a.role.value}: {', '.join(who) or 'nobody'}"
                         + (f"; escalated to {', '.join(a.escalated_to)}" if a.escalated_to else "")
                         + f"; decide by {at(a.deadline)}")
    # The undo registry is what is in place: regression runs and failures are not mitigations.
    in_place = [m for m in s.in_place if m.outcome != "undone"]  # kept, undo failed or handed to a person
    undone = sorted(m.name for m in s.in_place if m.outcome == "undone")
    lines += ["", "**Mitigations in place**", ""]
    lines += [f"- {m.step.value}: {m.name} ({at(m.applied_at)})" for m in in_place[-20:]] or ["- none yet"]
    if undone:
        lines.append("- undone at resolution: " + ", ".join(undone))
    others = [m for m in s.mitigations if m.outcome != "done"]
    if others:
        lines.append("- not in place: " + ", ".join(f"{m.action} ({m.outcome})" for m in others[-10:]))
    return "\n".join(lines)


def at(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "-"
