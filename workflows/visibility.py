"""What an incident shows outside itself: the UI's Current Details, and its pending requests for listings.

Workflow code, deterministic, called from IncidentWorkflow._publish. PendingApprovals (search attribute) and the
`pending` memo (playbook/pending.py) are new commands, so they are behind PENDING_LISTING: histories recorded
before it replay unchanged, and a run started before it never publishes them (the listings ask such an incident
with a query instead, workflows/pending.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from playbook.models import Role
    from playbook.pending import MEMO_KEY, pending_entries
    from playbook.state import IncidentState
    from workflows import search_attributes as sa

PENDING_LISTING = "pending-listing-v1"


def pending_values(state: IncidentState, published: dict[str, Any]) -> dict[str, Any]:
    """The PendingApprovals search attribute's value (upserted by the caller with the others); the memo is
    upserted here when the list changed. `published` is the caller's record of what it last published."""
    if not workflow.patched(PENDING_LISTING):
        return {}
    pending = state.pending_approvals()
    entries = pending_entries(pending)
    if published.get(MEMO_KEY) != entries:
        workflow.upsert_memo({MEMO_KEY: entries})
        published[MEMO_KEY] = entries
    return {sa.PENDING_APPROVALS.name: len(pending)}


def current_details(s: IncidentState, primary: Callable[[Role], str]) -> str:
    """The UI's Current Details (markdown): where the incident stands and what waits for whom."""
    pending = s.pending_approvals()
    if s.acknowledged_by:
        ack = f"acknowledged by {s.acknowledged_by} at {_at(s.acknowledged_at)}"
    else:
        ack = "not acknowledged yet" + (f"; escalated to {', '.join(s.ack_escalated_to)}"
                                        if s.ack_escalated_to else "")
    lines = [f"**{s.number or s.workflow_id}** · {s.severity.value} · {s.status.value} · step {s.step.value}",
             "", f"- {s.detection.kind.value} on {', '.join(s.detection.services)}; {s.alert_count} alert(s)",
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
            who = _approvers(s, a.role, primary)
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


def _approvers(s: IncidentState, role: Role, primary: Callable[[Role], str]) -> list[str]:
    """Who may decide a request for `role`: everyone holding it, the one paged first."""
    if s.playbook is None:
        return []
    holders = [p for p in s.playbook.roster.people if role in s.roles_of(p)]
    first = primary(role)
    return [f"{p} (paged)" if p == first else p for p in sorted(holders, key=lambda p: p != first)]


def _at(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "-"
